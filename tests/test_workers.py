"""``serve --workers 3`` on PostgreSQL: a burst of residents in danger, one worker killed in the middle.

Every resident who was told the desk knows has exactly one open escalation, and the fake staff chat
received exactly one alert for each (its own, or its place in a flood group's alert); only one worker
ever polled Telegram, and another took over when it died.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bot.store import Store
from bot.workers import children_of
from tests.harness import OFFICER, STAFF_CHAT
from tests.pgcluster import _free_port

ROOT = Path(__file__).resolve().parent.parent
TELEGRAM_RESIDENTS = 176
WEB_RESIDENTS = 24  # one address: under the web chat's per-address limit even if one worker takes them all
SAYINGS = [
    "自称公安局的人还在电话里，让我把存款转到安全账户，我现在就在银行柜台",
    "检察院的说我涉嫌洗钱，让我马上交五万保证金，不交就抓我，我正在转账",
    "对方说是我孙子，打架把人打伤了，要我马上转三万赔偿，我现在去邮局汇款",
    "客服让我下载了一个会议软件共享屏幕，现在正在操作我的银行卡，还没挂电话",
]


def wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the supervisor (it stops its workers), SIGKILL if it has not ended within a minute."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def alerted_ids(fake) -> list[int]:
    """Escalation numbers named by alerts in the staff chat: a new alert's own, and each member of a flood
    alert ("全部编号：#a #b …"). Updates and re-alerts are not counted."""
    ids = []
    for message in fake.sent(STAFF_CHAT):
        text = message["text"]
        if text.startswith("🚨 新预警 #"):
            ids.append(int(re.match(r"🚨 新预警 #(\d+)", text).group(1)))
        elif text.startswith("🚨 预警刷屏"):
            line = next(l for l in text.splitlines() if l.startswith("全部编号："))
            ids += [int(n) for n in re.findall(r"#(\d+)", line)]
    return ids


def post(url: str, user: str, text: str):
    body = json.dumps({"user": user, "text": text}).encode()
    request = urllib.request.Request(url + "/api/messages", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        return None, str(exc)  # landed on the killed worker: this resident was not told anything


def test_three_workers_one_killed_mid_burst_lose_nothing_and_alert_once(pg_cluster, fake, tmp_path):
    url = pg_cluster.new_database()
    port = _free_port()
    env = dict(os.environ, BOT_DATABASE_URL=url, BOT_DB_PATH=str(tmp_path / "bot.db"), BOT_WEB_PORT=str(port),
               TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_API_BASE_URL=fake.base_url, STAFF_CHAT_ID=str(STAFF_CHAT),
               STAFF_USER_IDS=str(OFFICER), PYTHONIOENCODING="utf-8")
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--workers", "3"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    store = Store(url)
    web = f"http://127.0.0.1:{port}"
    try:
        def poller():
            rows = store.query("select holder from leases where name = 'telegram-poller' and expires_at > :t",
                               {"t": time.time()}) if "leases" in store.table_names() else []
            return rows[0]["holder"] if rows else None

        first = wait(poller, 90, "a worker to poll Telegram")
        wait(lambda: post(web, "warmup", "你好")[0] == 200, 60, "the web chat")
        workers = set(children_of(proc.pid))
        assert len(workers) == 3

        told_web: dict[str, int] = {}

        def web_resident(n: int):
            status, data = post(web, f"w{n}", SAYINGS[n % len(SAYINGS)])
            if status == 200 and data.get("escalation_id"):
                told_web[f"w{n}"] = data["escalation_id"]

        threads = [threading.Thread(target=web_resident, args=(n,)) for n in range(WEB_RESIDENTS)]
        for n in range(TELEGRAM_RESIDENTS):
            fake.push_message(7_000_000 + n, SAYINGS[n % len(SAYINGS)])
            if n == WEB_RESIDENTS:
                for thread in threads:
                    thread.start()
        wait(lambda: len({m["chat_id"] for m in fake.sent() if str(m["chat_id"]).startswith("70")}) >= 30,
             60, "the first residents' replies")
        conflicts_before = fake.conflicts
        victim = int(first.rsplit(":", 1)[1])
        assert victim in workers
        os.kill(victim, signal.SIGKILL)  # the poller itself, in the middle of the burst
        for thread in threads:
            thread.join()

        takeover = wait(lambda: (h := poller()) and h != first and h, 60, "another worker to take over polling")
        assert int(takeover.rsplit(":", 1)[1]) != victim

        def telegram_told():
            return {str(m["chat_id"]) for m in fake.sent() if str(m["chat_id"]).startswith("70")
                    and "110" in m.get("text", "")}

        wait(lambda: len(telegram_told()) == TELEGRAM_RESIDENTS, 120, "every Telegram resident's answer")
        open_rows = store.query("select id, channel, chat_id from escalations where status = 'open'")
        per_resident: dict[tuple, list[int]] = {}
        for row in open_rows:
            per_resident.setdefault((row["channel"], row["chat_id"]), []).append(row["id"])
        told = {("telegram", chat) for chat in telegram_told()} | {("web", user) for user in told_web}
        assert told <= set(per_resident), "a resident was told and has no escalation"
        assert all(len(ids) == 1 for ids in per_resident.values()), "a resident has two open escalations"
        assert len(told_web) >= WEB_RESIDENTS // 2  # most web residents were served despite the kill

        every = {row["id"] for row in open_rows}
        # Flood groups send their stragglers with the next follow-up round (a minute after the group's last).
        wait(lambda: set(alerted_ids(fake)) >= every, 180, "an alert for every escalation")
        time.sleep(3)
        counts: dict[int, int] = {}
        for escalation_id in alerted_ids(fake):
            counts[escalation_id] = counts.get(escalation_id, 0) + 1
        twice = {i: n for i, n in counts.items() if n > 1}
        assert not twice, f"alerted more than once: {twice}"
        assert conflicts_before == 0, "two workers polled Telegram at once"
    finally:
        stop(proc)
        store.close()
        log.close()
    output = (tmp_path / "serve.log").read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in output, output[-3000:]
    assert "died (signal 9): starting a new one" in output
    assert proc.returncode == 0


def test_a_reload_in_one_worker_is_done_by_every_worker(pg_cluster, project_copy, tmp_path):
    _, root = project_copy
    port = _free_port()
    env = dict(os.environ, BOT_DATABASE_URL=pg_cluster.new_database(), BOT_DB_PATH=str(tmp_path / "bot.db"),
               BOT_WEB_PORT=str(port), BOT_CONFIG=str(root / "config.yml"), BOT_ADMIN_TOKEN="t0ken",
               PYTHONIOENCODING="utf-8")
    for name in ("TELEGRAM_BOT_TOKEN", "STAFF_CHAT_ID"):
        env.pop(name, None)
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--workers", "2"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    web = f"http://127.0.0.1:{port}"
    try:
        wait(lambda: post(web, "warmup", "你好")[0] == 200, 90, "the web chat")
        time.sleep(2)  # both workers up
        responses = root / "content" / "responses.yml"
        responses.write_text(responses.read_text(encoding="utf-8").replace(
            "我是{centre}的反诈小助手。", "我是{centre}的反诈小助手（新版）。", 1), encoding="utf-8")
        request = urllib.request.Request(web + "/api/admin/reload", b"{}", {"Authorization": "Bearer t0ken"})
        with urllib.request.urlopen(request, timeout=120) as response:
            assert json.loads(response.read())["ok"] is True

        rounds = iter(range(1000))

        def everyone_new():  # a new connection each: the kernel hands them to both workers
            time.sleep(2.5)  # under the web chat's limit per address (30 in 10 s)
            answers = [post(web, f"after{next(rounds)}", "你好") for _ in range(6)]
            return all(status == 200 and "（新版）" in data["replies"][0]["text"] for status, data in answers)

        wait(everyone_new, 60, "every worker to answer with the reloaded content")
        serving = {pid for pid in children_of(proc.pid)}
        assert len(serving) == 2
    finally:
        stop(proc)
        log.close()
    assert proc.returncode == 0


def test_a_database_that_does_not_answer_and_a_port_in_use_get_a_clear_answer(run_bot):
    import socket

    down = run_bot("serve", "--workers", "2", env={"BOT_DATABASE_URL": "postgresql://bot:s3cret@127.0.0.1:1/fanzha"})
    err = down.stderr.decode()
    assert down.returncode == 3 and "数据库连不上" in err and "Traceback" not in err and "s3cret" not in err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = run_bot("serve", env={"BOT_WEB_PORT": port})
    assert busy.returncode == 2 and "已被占用" in busy.stderr.decode() and "Traceback" not in busy.stderr.decode()
