"""The duty desk: staff alerts with buttons, staff-only actions, durable delivery, follow-ups, reports."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


from bot.desk.outbox import Desk, DeskSettings, alert_text
from bot.desk.escalations import Escalations
from bot.store import Store, ago
from tests.harness import OFFICER, STAFF_CHAT, RunningBot

ROOT = Path(__file__).resolve().parent.parent
RESIDENT, STRANGER = 5550001, 9999
URGENT = "自称公安局的人还在电话里，让我把存款转到安全账户，我现在就在银行柜台，我的电话13812345678"




def staff_alerts(fake):
    return [m for m in fake.sent(STAFF_CHAT) if "预警 #" in m["text"] or "新预警" in m["text"]]


def test_urgent_message_alerts_the_desk_and_staff_update_it(settings, fake, db_target, understander, staff_env):
    bot = RunningBot(settings, fake, db_target, understander).start()
    try:
        fake.push_message(RESIDENT, URGENT)
        reply = fake.wait_for(lambda: fake.sent(RESIDENT))[0]
        assert "110" in reply["text"] and "值班民警" in reply["text"]
        alert = fake.wait_for(lambda: staff_alerts(fake))[0]
        assert "#1" in alert["text"] and "安全账户" in alert["text"]
        assert "13812345678" not in alert["text"] and "138****5678" in alert["text"]  # redacted
        buttons = [b["text"] for row in json.loads(alert["reply_markup"])["inline_keyboard"] for b in row]
        assert buttons == ["认领", "已联系", "已劝阻", "已被骗", "联系不上", "关闭"]

        fake.push_callback(STAFF_CHAT, "esc:1:claimed", user_id=STRANGER)  # not staff
        refusal = fake.wait_for(lambda: fake.sent(method="answerCallbackQuery"))[0]
        assert "只有值班民警" in refusal["text"]
        assert bot.store.query("select status from escalations")[0]["status"] == "open"

        fake.push_callback(STAFF_CHAT, "esc:1:claimed", user_id=OFFICER)
        fake.wait_for(lambda: bot.store.query("select status from escalations")[0]["status"] == "claimed")
        edit = fake.wait_for(lambda: fake.sent(method="editMessageText"))[-1]
        assert "已认领" in edit["text"] and str(OFFICER) in edit["text"]
        fake.push_callback(STAFF_CHAT, "esc:1:dissuaded", user_id=OFFICER)
        fake.wait_for(lambda: bot.store.query("select status from escalations")[0]["status"] == "dissuaded")
        row = bot.store.query("select * from escalations")[0]
        assert row["assignee"].endswith(f"({OFFICER})") and row["resolved_at"]
        assert len(staff_alerts(fake)) == 1
    finally:
        bot.stop()


def test_staff_commands_are_staff_only(settings, fake, db_target, understander, staff_env):
    bot = RunningBot(settings, fake, db_target, understander).start()
    try:
        fake.push_message(STRANGER, "/queue")
        assert "只供值班民警" in fake.wait_for(lambda: fake.sent(STRANGER))[0]["text"]
        fake.push_message(RESIDENT, URGENT)
        fake.wait_for(lambda: staff_alerts(fake))
        fake.push_message(OFFICER, "/queue")
        assert "#1" in fake.wait_for(lambda: fake.sent(OFFICER))[0]["text"]
        fake.push_message(OFFICER, "/escalation 1 contacted 已电话联系本人")
        fake.wait_for(lambda: bot.store.query("select status from escalations")[0]["status"] == "contacted")
    finally:
        bot.stop()


def test_a_failing_staff_chat_keeps_the_alert_queued_even_across_a_restart(settings, fake, tmp_path, understander,
                                                                           staff_env):
    fake.fail_chat(STAFF_CHAT, status=500)
    first = RunningBot(settings, fake, tmp_path / "bot.db", understander).start()
    fake.push_message(RESIDENT, URGENT)
    started = time.monotonic()
    fake.wait_for(lambda: fake.sent(RESIDENT))  # the resident is answered although the desk is down
    assert time.monotonic() - started < 10
    fake.wait_for(lambda: (first.store.query("select attempts from alert_deliveries where target = 'telegram'")
                           or [{"attempts": 0}])[0]["attempts"] >= 1)
    first.stop()
    fake.fail_chat(STAFF_CHAT, status=429, retry_after=1)
    second = RunningBot(settings, fake, tmp_path / "bot.db", understander).start()
    try:
        time.sleep(2)
        assert not staff_alerts(fake)
        fake.recover_chat(STAFF_CHAT)
        fake.wait_for(lambda: staff_alerts(fake), timeout=40)
        time.sleep(3)
        assert len(staff_alerts(fake)) == 1
        assert second.store.query("select delivered_at from alert_deliveries where target = 'telegram'")[0]["delivered_at"]
    finally:
        second.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_process(fake, db, port):
    env = dict(os.environ, BOT_DB_PATH=str(db), TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_API_BASE_URL=fake.base_url,
               STAFF_CHAT_ID=str(STAFF_CHAT), STAFF_USER_IDS=str(OFFICER), BOT_WEB_PORT=str(port))
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("the bot did not start")


def test_sigkill_between_the_record_and_the_alert_loses_nothing(fake, tmp_path):
    db, port = tmp_path / "bot.db", free_port()
    fake.fail_chat(STAFF_CHAT, status=500)  # the alert cannot go out yet …
    proc = start_process(fake, db, port)
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/messages",
                                     json.dumps({"user": "web-1", "text": URGENT}).encode(),
                                     {"Content-Type": "application/json"})
    reply = json.loads(urllib.request.urlopen(request, timeout=30).read())
    assert reply["escalation_id"] == 1
    proc.send_signal(signal.SIGKILL)  # … and the process dies with the record written
    proc.wait(10)
    assert not staff_alerts(fake)
    fake.recover_chat(STAFF_CHAT)
    for _ in range(2):  # restart twice: the alert goes out exactly once
        proc = start_process(fake, db, port)
        fake.wait_for(lambda: staff_alerts(fake), timeout=40)
        time.sleep(3)
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert len(staff_alerts(fake)) == 1
    rows = sqlite3.connect(db).execute("select count(*), count(d.delivered_at) from outbox o left join alert_deliveries d"
                                       " on d.outbox_id = o.id and d.target = 'telegram'").fetchone()
    assert rows == (1, 1)


def test_follow_ups_are_scheduled_once_from_the_database(db_target):
    store = Store(db_target)
    escalations = Escalations(store)
    escalations.open_or_update("web", "u1", "fake_police", "urgent", ["要求转到安全账户"], 30000, "…").id
    second = escalations.open_or_update("telegram", "5550002", "fake_loan", "high", ["先交解冻费"], None, "…").id
    escalations.set_status(second, "claimed", "officer")
    with store.transaction() as db:
        db.execute("update escalations set created_at = ?, claimed_at = ?", [ago(minutes=30), ago(hours=30)])
    desk = Desk(store, DeskSettings(staff_chat_id="1", realert_after_minutes=10, remind_after_hours=24,
                                    check_in_residents=True, check_in_after_hours=0.001))
    assert desk.schedule_follow_ups() == 4  # re-alert #1, remind #2, ask both residents if they are safe
    kinds = sorted(r["kind"] for r in store.query("select kind from outbox"))
    assert kinds.count("realert") == 1 and kinds.count("reminder") == 1 and kinds.count("checkin") == 2
    assert desk.schedule_follow_ups() == 0  # nothing twice
    store.close()


def test_several_workers_claim_each_alert_once_and_a_dead_workers_claim_lapses(db_target):
    """Four workers (a store each, as four processes have) claim the same outbox at once: every row goes to
    exactly one; a claim whose holder never reports back is due again after its hold, and a release at once."""
    import threading

    stores = [Store(db_target) for _ in range(4)]
    escalations = Escalations(stores[0])
    for n in range(60):
        escalations.open_or_update("web", f"u{n}", "fake_police", "urgent", ["要求转到安全账户"], None, "…")
    desks = [Desk(store, DeskSettings(staff_chat_id="1")) for store in stores]
    got: list[list[int]] = [[] for _ in desks]
    start = threading.Barrier(len(desks))

    def work(i):
        start.wait()
        while rows := desks[i].claim("telegram", 7):
            for row in rows:
                got[i].append(row["id"])
                time.sleep(0.002)  # the send: others claim meanwhile
                desks[i].delivered(row["id"], 1, "1")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(desks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [row_id for ids in got for row_id in ids]
    total = stores[0].query("select count(*) n from outbox")[0]["n"]
    assert len(everything) == len(set(everything)) == total >= 31  # 30 alerts, then the flood group's own

    escalations.open_or_update("web", "late", "fake_police", "urgent", ["要求转到安全账户"], None, "…")
    desk = desks[1]
    wecom = desk.claim("wecom", 500)  # a new target sees every row; it claims them and dies
    assert wecom and desks[2].claim("wecom", 500) == []
    desk.release(wecom[:3], "wecom")
    assert [r["id"] for r in desks[3].claim("wecom", 500)] == [r["id"] for r in wecom[:3]]
    with stores[0].transaction() as db:  # the dead worker's hold is over
        db.execute("update alert_deliveries set next_attempt_at = ? where target = 'wecom'", [ago(seconds=1)])
    assert len(desks[2].claim("wecom", 500)) == len(wecom)
    for store in stores:
        store.close()


def test_follow_ups_from_several_workers_at_once_are_queued_once(db_target):
    import threading

    stores = [Store(db_target) for _ in range(3)]
    escalations = Escalations(stores[0])
    for n in range(5):
        escalations.open_or_update("web", f"u{n}", "fake_police", "urgent", ["要求转到安全账户"], None, "…")
    with stores[0].transaction() as db:
        db.execute("update escalations set created_at = ?", [ago(minutes=30)])
    desks = [Desk(store, DeskSettings(staff_chat_id="1", realert_after_minutes=10)) for store in stores]
    start, counts = threading.Barrier(3), []
    threads = [threading.Thread(target=lambda d=d: (start.wait(), counts.append(d.schedule_follow_ups())))
               for d in desks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == [0, 0, 5]
    assert stores[0].query("select count(*) n from outbox where kind = 'realert'")[0]["n"] == 5
    for store in stores:
        store.close()


def test_alert_text_is_redacted_and_explained():
    row = {"id": 7, "risk": "urgent", "scam_type": "fake_police", "channel": "telegram", "chat_id": "5550001",
           "contact": "", "amount": 30000.0, "cues": json.dumps(["钱正在转出或准备转出"]), "status": "open",
           "summary": "他让我转到6222021234567890123，我电话13812345678", "created_at": "2026-11-29 10:00:00"}
    text = alert_text(row, [], {"fake_police": "冒充公检法及政府机关"})
    assert "#7" in text and "紧急" in text and "冒充公检法" in text and "30,000 元" in text
    assert "6222 **** **** 0123" in text and "138****5678" in text and "13812345678" not in text


def test_cli_queue_and_status_updates(run_bot, tmp_path):
    run_bot("chat", "--json", input_text=URGENT + "\n")
    listing = run_bot("escalations", "--status", "open").stdout.decode()
    assert "fake_police" in listing and "138****5678" in listing
    updated = run_bot("escalation", "1", "--set", "dissuaded", "--note", "当面劝阻")
    data = json.loads(updated.stdout)
    assert data["status"] == "dissuaded" and data["events"][-1]["note"] == "当面劝阻"
    assert run_bot("escalation", "1", "--set", "nonsense").returncode == 2


def test_report_writes_csv_and_charts(run_bot, tmp_path):
    run_bot("chat", "--json", input_text=URGENT + "\n客服说我开通了百万保障，不关闭每个月都要扣费\n")
    run_bot("escalation", "1", "--set", "dissuaded")
    out = tmp_path / "report"
    proc = run_bot("report", "--out", str(out))
    text = proc.stdout.decode()
    assert proc.returncode == 0 and "劝阻率" in text and "100.0%" in text
    summary = (out / "summary.csv").read_text(encoding="utf-8-sig")
    assert "dissuasion_rate,劝阻率,1.0" in summary and "escalations,推送值班预警,1" in summary
    assert "fake_customer_service" in (out / "by_scam_type.csv").read_text(encoding="utf-8-sig")
    for chart in ("by_scam_type.png", "escalations_by_status.png"):
        assert (out / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dashboard_serves_the_canned_queries(run_bot, tmp_path):
    run_bot("chat", "--json", input_text=URGENT + "\n")
    port = free_port()
    env = dict(os.environ, BOT_DB_PATH=str(tmp_path / "bot.db"))
    proc = subprocess.Popen([sys.executable, "-m", "bot", "dashboard", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, data = time.monotonic() + 60, None
        while time.monotonic() < deadline and data is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/bot/open_queue.json?_shape=array", timeout=2) as r:
                    data = json.loads(r.read())
            except OSError:
                time.sleep(0.3)
        assert data and data[0]["scam_type"] == "fake_police"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/bot/weekly_report.json?_shape=array", timeout=5) as r:
            assert json.loads(r.read())[0]["escalations"] == 1
    finally:
        proc.terminate()
        proc.wait(10)


def test_alerts_telegram_delivered_before_the_upgrade_are_not_sent_again(db_target):
    """Delivery bookkeeping moved from ``outbox`` to ``alert_deliveries`` (per target): the migration carries over
    what an existing database had already delivered or tried."""
    db = db_target
    store = Store(db)
    with store.transaction() as conn:
        conn.execute("drop table alert_deliveries")
        conn.execute("delete from bot_migrations where name = 'm008_alert_deliveries'")
        conn["outbox"].insert_all([
            {"kind": "staff_alert", "escalation_id": 1, "payload": "{}", "created_at": ago(minutes=5),
             "attempts": 1, "delivered_at": ago(minutes=5), "message_id": 77, "chat_id": "-100"},
            {"kind": "staff_alert", "escalation_id": 2, "payload": "{}", "created_at": ago(minutes=1),
             "attempts": 3, "next_attempt_at": ago(minutes=-5), "last_error": "HTTP 500"},
            {"kind": "staff_alert", "escalation_id": 3, "payload": "{}", "created_at": ago(minutes=1), "attempts": 0}])
    store.close()
    desk = Desk(Store(db), DeskSettings())
    assert [r["escalation_id"] for r in desk.due("telegram")] == [3]  # #1 delivered, #2 waits for its retry
    assert [r["escalation_id"] for r in desk.due("wecom")] == [1, 2, 3]  # a new target starts from scratch
    assert desk.alert_messages(1) == [{"chat_id": "-100", "message_id": 77}]


def test_an_officer_writes_to_the_resident_and_the_answer_reaches_the_desk(settings, fake, db_target, understander,
                                                                           staff_env):
    bot = RunningBot(settings, fake, db_target, understander).start()
    try:
        fake.push_message(RESIDENT, URGENT)
        assert "值班民警" in fake.wait_for(lambda: fake.sent(RESIDENT))[0]["text"]
        fake.wait_for(lambda: staff_alerts(fake))
        fake.push_message(STRANGER, "/say 1 我是民警")
        assert "只供值班民警" in fake.wait_for(lambda: fake.sent(STRANGER))[0]["text"]
        fake.push_message(OFFICER, "/say 1")
        assert "用法" in fake.wait_for(lambda: fake.sent(OFFICER))[0]["text"]

        fake.push_message(OFFICER, "/say 1 阿姨您好，我是县反诈中心民警小王。千万别转账，我五分钟后给您打电话。")
        said = fake.wait_for(lambda: [m for m in fake.sent(RESIDENT) if "小王" in m["text"]])[0]["text"]
        assert said.startswith("【") and "值班民警】阿姨您好" in said and "回复" in said
        fake.wait_for(lambda: bot.store.query("select 1 from escalation_events where action = 'message_sent'"))
        assert len(fake.wait_for(lambda: [m for m in fake.sent(OFFICER) if "已排队" in m["text"]])) == 1
        assert not [m for m in fake.sent(STRANGER) if "小王" in m["text"]]

        fake.push_message(RESIDENT, "好的好的，我没转，在家等你电话，我的手机13812345678")
        update = fake.wait_for(lambda: [m for m in fake.sent(STAFF_CHAT) if "居民回复" in m["text"]])[-1]["text"]
        assert "我没转" in update and "13812345678" not in update and "138****5678" in update  # masked
        assert "给居民留言：阿姨您好" in update  # the thread, in order, in the record

        with bot.store.transaction() as db:  # the day-after check-in goes out the same way
            db["outbox"].insert({"kind": "checkin", "escalation_id": 1, "chat_id": str(RESIDENT), "payload": "{}",
                                 "created_at": ago(minutes=0), "next_attempt_at": ago(minutes=0)})
        checkin = fake.wait_for(lambda: [m for m in fake.sent(RESIDENT) if "现在都还好吗" in m["text"]])
        assert len(checkin) == 1 and "96110" in checkin[0]["text"]
    finally:
        bot.stop()


def test_a_message_that_cannot_reach_the_resident_tells_the_desk_to_call(settings, fake, db_target, understander,
                                                                         staff_env):
    bot = RunningBot(settings, fake, db_target, understander).start()
    try:
        fake.push_message(RESIDENT, URGENT)
        fake.wait_for(lambda: staff_alerts(fake))
        fake.fail_chat(RESIDENT, 403)  # the resident blocked the bot
        fake.push_message(OFFICER, "/say 1 您好，我是反诈中心民警，请接一下电话")
        update = fake.wait_for(lambda: [m for m in fake.sent(STAFF_CHAT) if "没有送到" in m["text"]])[-1]["text"]
        assert "#1" in update and "电话联系" in update
        time.sleep(3)  # not retried: a blocked resident is not written to again
        rows = bot.store.query("select d.attempts, d.delivered_at from alert_deliveries d join outbox o"
                               " on o.id = d.outbox_id where o.kind = 'resident_message'")
        assert len(rows) == 1 and rows[0]["attempts"] == 1 and rows[0]["delivered_at"]
        events = [r["action"] for r in bot.store.query("select action from escalation_events order by id")]
        assert "message_undelivered" in events and "message_sent" not in events
    finally:
        bot.stop()


def test_cli_say_refuses_what_cannot_be_sent_and_queues_the_rest(run_bot, tmp_path):
    store = Store(tmp_path / "bot.db")
    escalations = Escalations(store)
    web = escalations.open_or_update("terminal", "local", "fake_police", "urgent", ["安全账户"], 30000, "…").id
    page = escalations.open_or_update("web", "w1", "fake_police", "urgent", ["安全账户"], 30000, "…").id
    wechat = escalations.open_or_update("wechat", "oResident0001", "fake_police", "urgent", ["安全账户"], None, "…").id
    store.close()
    refused = run_bot("escalation", str(web), "--say", "您好")
    assert refused.returncode == 2 and "打电话" in refused.stderr.decode()
    shown = run_bot("escalation", str(page), "--say", "您好，请打110")  # the page shows it only while open
    assert shown.returncode == 0 and "打开聊天页面" in shown.stderr.decode()
    assert run_bot("escalation", str(wechat), "--say", "   ").returncode == 2
    assert run_bot("escalation", str(wechat), "--say", "很" * 601).returncode == 2
    queued = run_bot("escalation", str(wechat), "--say", "您好，我是县反诈中心民警，请不要转账")
    assert queued.returncode == 0, queued.stderr.decode()
    record = json.loads(queued.stdout)
    assert [e["action"] for e in record["events"]][-1] == "message"
    store = Store(tmp_path / "bot.db")
    rows = store.query("select kind, chat_id, payload from outbox where kind = 'resident_message' order by id")
    assert len(rows) == 2 and rows[1]["chat_id"] == "oResident0001" and "请不要转账" in rows[1]["payload"]
    store.close()
