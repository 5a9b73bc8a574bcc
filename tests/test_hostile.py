"""Nothing lost, whatever arrives: the findings of the probe from outside, one test each.

Concurrent writers on one SQLite file, a write that cannot happen, hostile and malformed HTTP, floods of
urgent and of ordinary messages, staff patterns that would backtrack for ever, the admin endpoint's
guard, and log lines a message tries to forge.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from bot.desk.escalations import FLOOD_PER_ORIGIN, Escalations
from bot.store import Store
from tests.harness import RunningBot

URGENT = "自称公安局的人让我把存款转到安全账户，我现在在银行柜台正在转"


@pytest.fixture()
def web(settings, tmp_path, understander, monkeypatch):
    monkeypatch.setenv("BOT_ADMIN_TOKEN", "t0ken-for-tests")
    running = RunningBot(replace(settings, web_port=0), None, tmp_path / "bot.db", understander, web=True).start()
    running.url = f"http://127.0.0.1:{running.service.port}"
    running.db = tmp_path / "bot.db"
    yield running
    running.stop()


def post(url, body: bytes, headers: dict | None = None):
    request = urllib.request.Request(url, body, {"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8")


def message(url, user, text):
    status, body = post(url + "/api/messages", json.dumps({"user": user, "text": text}).encode())
    return status, json.loads(body)


def rows(db: Path, sql: str, params=()) -> list:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


# --- 1. several writers on one file -------------------------------------------------------------

def test_a_writer_waits_for_another_process_instead_of_failing(tmp_path):
    """Another connection holds the write lock for a second: escalations and turns wait, none fails."""
    db = tmp_path / "bot.db"
    store = Store(db)
    blocker = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    blocker.execute("insert into users (key, channel, user_id) values ('x', 'web', 'x')")
    release = threading.Timer(1.0, blocker.execute, ["COMMIT"])
    release.start()
    escalations = Escalations(store)
    errors, opened = [], []

    def write(index):
        try:
            opened.append(escalations.open_or_update("web", f"u{index}", "fake_police", "urgent", ["安全账户"], None,
                                                     "摘要").id)
            store.save_turn(f"web:u{index}", "web", f"u{index}", {}, [{"direction": "in", "text": "x"}])
        except sqlite3.Error as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    release.join()
    assert errors == [] and len(opened) == 8 and None not in opened
    assert rows(db, "select count(*) from escalations")[0][0] == 8
    assert rows(db, "select count(*) from messages")[0][0] == 8


def test_an_escalation_the_database_cannot_take_is_spooled_and_replayed(tmp_path, monkeypatch):
    db = tmp_path / "bot.db"
    monkeypatch.setattr("bot.store.store.LOCK_RETRIES", 0)
    store = Store(db, busy_timeout_ms=100)
    escalations = Escalations(store)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the lock stays taken: every write of the store fails
    opened = escalations.open_or_update("web", "locked-out", "fake_police", "urgent", ["安全账户"], 30000.0, "摘要")
    assert opened.id is None and escalations.spool_path.exists()
    assert "locked-out" in escalations.spool_path.read_text(encoding="utf-8")
    blocker.execute("COMMIT")
    # A restart (a new process on the same file) replays the spool into the database.
    again = Escalations(Store(db))
    assert not again.spool_path.exists()
    assert rows(db, "select chat_id, amount from escalations") == [("locked-out", 30000.0)]
    assert rows(db, "select kind from outbox") == [("staff_alert",)]


def test_the_resident_is_answered_with_110_when_nothing_can_be_written(engine, monkeypatch):
    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(engine.store, "save_turn", broken)
    monkeypatch.setattr(engine.escalations, "_record", broken)
    turn = engine.handle("web", "no-disk", URGENT)
    assert turn.replies and turn.replies[0].urgent and "110" in turn.replies[0].text
    assert "民警" not in turn.replies[0].text.split("110")[-1] or turn.escalation_id is None
    assert engine.escalations.has_spooled()


# --- 2. any text is accepted -------------------------------------------------------------------

def test_surrogates_controls_and_bidi_overrides_are_stored_and_understood(web):
    status, data = message(web.url, "hostile-text", "自称公安\u202e的人让我转到安\u200b全账户\ud800，我现在在银行柜台\x00\x1b")
    assert status == 200 and data["escalation_id"] and data["replies"][0]["urgent"]
    stored = rows(web.db, "select text from messages where key = 'web:hostile-text' and direction = 'in'")[0][0]
    assert "\u202e" not in stored and "\x00" not in stored and "\x1b" not in stored and "\ufffd" in stored


# --- 3. staff patterns run in linear time, and a turn never holds the event loop -----------------

def test_a_backtracking_pattern_cannot_freeze_understanding(project_copy):
    settings, root = project_copy
    path = root / "content" / "risk_cues.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("    patterns:\n", "    patterns:\n      - '(a+)+$'\n", 1),
                    encoding="utf-8")
    from bot.nlu.cues import load_cue_rules

    rules = load_cue_rules(path, root, probe=True)
    started = time.perf_counter()
    rules.find("a" * 5000 + "b")  # Python's re would take longer than the age of the universe
    assert time.perf_counter() - started < 1.0


def test_the_check_refuses_lookarounds_and_slow_patterns_with_file_and_line(project_copy):
    from bot.staff.check import check

    settings, root = project_copy
    path = root / "content" / "risk_cues.yml"
    text = path.read_text(encoding="utf-8")
    first = text.index("    patterns:\n") + len("    patterns:\n")
    line = text[:first].count("\n") + 1
    text = text[:first] + "      - '(?<!号)转过去了'\n      - '(.{0,100}){0,10}x'\n" + text[first:]
    path.write_text(text, encoding="utf-8")
    problems = [p for p in check(settings) if p.file.endswith("risk_cues.yml")]
    assert [(p.line, "lookbehind" in p.message) for p in problems][:1] == [(line, True)], problems
    assert any(p.line == line + 1 and "too slow" in p.message for p in problems), problems


def test_a_slow_turn_gets_a_busy_answer_and_the_loop_stays_free(engine, monkeypatch):
    original = engine.handle

    def slow(*args, **kwargs):
        time.sleep(1.5)
        return original(*args, **kwargs)

    monkeypatch.setattr(engine, "handle", slow)

    async def scenario():
        ticks = 0

        async def tick():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        ticker = asyncio.create_task(tick())
        result = await engine.handle_async("web", "slow", URGENT, bound=0.5)
        ticker.cancel()
        return result, ticks

    result, ticks = asyncio.run(scenario())
    assert "110" in result.replies[0].text and "稍等" in result.replies[0].text
    assert ticks >= 5  # the event loop kept running while the turn was busy
    deadline = time.time() + 10
    while time.time() < deadline and not engine.store.query("select 1 from escalations where chat_id = 'slow'"):
        time.sleep(0.1)
    assert engine.store.query("select 1 from escalations where chat_id = 'slow'")  # the turn finished and escalated


# --- 4. and 5. rate limits never drop danger; the desk cannot be flooded --------------------------

def test_over_the_limit_urgent_messages_escalate_and_ordinary_ones_are_asked_to_slow_down(web):
    for index in range(10):
        assert message(web.url, "fast", f"今天天气怎么样{index}")[0] == 200
    status, data = message(web.url, "fast", "你好")
    assert status == 429 and "慢一点" in data["replies"][0]["text"] and "110" in data["replies"][0]["text"]
    status, data = message(web.url, "fast", URGENT)
    assert status == 200 and data["escalation_id"] and data["replies"][0]["urgent"]


def test_a_flood_from_one_address_is_recorded_whole_and_alerted_once(db_target):
    store = Store(db_target)
    escalations = Escalations(store)
    for index in range(450):
        opened = escalations.open_or_update("web", f"flood{index}", "fake_police", "urgent", ["安全账户"], None,
                                            "同一个地址来的", origin="web:10.0.0.7")
        assert opened.id
    real = escalations.open_or_update("web", "real", "fake_police", "urgent", ["安全账户"], 50000.0, "老人在银行柜台",
                                      origin="web:10.0.0.99")
    kinds = {r["kind"]: r["n"] for r in store.query("select kind, count(*) n from outbox group by kind")}
    assert store.query("select count(*) n from escalations")[0]["n"] == 451
    assert kinds["staff_alert"] <= FLOOD_PER_ORIGIN  # the first ones, and the real case from elsewhere
    assert kinds["staff_flood"] == 1  # the group's alert (the next one at most a minute later)
    assert store.query("select kind from outbox where escalation_id = :id", {"id": real.id})[0]["kind"] == "staff_alert"
    from bot.desk.outbox import flood_text, queue_lines

    group = escalations.group(store.query("select group_id from escalations where chat_id = 'flood5'")[0]["group_id"])
    payload = store.query("select payload from outbox where kind = 'staff_flood'")[0]["payload"]
    text = flood_text(group, {"fake_police": "冒充公检法"}, payload=payload)
    assert "10.0.0.7" in text and f"共 {len(group)} 条" in text and "逐条" in text
    queue = queue_lines(store.query("select * from escalations order by id desc"), {"fake_police": "冒充公检法"})
    assert len(queue) <= FLOOD_PER_ORIGIN + 1 and any("刷屏组" in line for line in queue)


def test_the_web_records_its_clients_address_for_the_flood_guard(web):
    for index in range(FLOOD_PER_ORIGIN + 2):
        assert message(web.url, f"same-address-{index}", URGENT)[1]["escalation_id"]
    grouped = rows(web.db, "select count(*) from escalations where origin = 'web:127.0.0.1' and group_id is not null")
    assert grouped[0][0] == 3
    alerts = rows(web.db, "select kind, count(*) from outbox group by kind")
    assert dict(alerts) == {"staff_alert": FLOOD_PER_ORIGIN - 1, "staff_flood": 1}


# --- 9. the admin endpoint ---------------------------------------------------------------------

def test_admin_requires_the_bearer_scheme_and_throttles_wrong_tokens(web, caplog):
    url = web.url + "/api/admin/reload"
    assert post(url, b"", {"Authorization": "t0ken-for-tests"})[0] == 403  # no "Bearer " prefix
    assert post(url, b"", {"Authorization": "bearer t0ken-for-tests"})[0] == 403
    with caplog.at_level(logging.WARNING, logger="bot.channels.web"):
        codes = [post(url, b"", {"Authorization": f"Bearer wrong{i}"})[0] for i in range(6)]
    assert codes[:3] == [403] * 3 and codes[-1] == 429
    assert sum("wrong or missing" in r.getMessage() for r in caplog.records) >= 3
    assert post(url, b"", {"Authorization": "Bearer t0ken-for-tests"})[0] == 429  # still throttled this minute


# --- 10. defined answers to malformed requests, ids validated, log lines escaped -----------------

def test_malformed_requests_get_defined_answers(web):
    deep = b"[" * 20000 + b"]" * 20000
    assert post(web.url + "/api/messages", deep)[0] == 400
    assert post(web.url + "/api/messages", json.dumps({"user": "u1\n", "text": "你好"}).encode())[0] == 400
    status, body = post(web.url + "/api/messages", b"x" * 200_000)
    assert status == 413 and "太长" in json.loads(body)["error"]
    assert message(web.url, "after", "你好")[0] == 200  # the server is fine afterwards


def test_a_body_over_the_limit_is_refused_before_it_is_read(web):
    """413 straight after the headers: the client is told even while it is still sending."""
    host, port = "127.0.0.1", web.service.port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 10000000\r\n\r\n" + b"x" * 1000)
        answer = sock.recv(4096).decode("utf-8", "replace")
    assert answer.startswith("HTTP/1.1 413")


def test_a_newline_in_a_message_cannot_forge_a_log_line(engine, caplog):
    with caplog.at_level(logging.INFO, logger="bot.dialogue.engine"):
        engine.handle("web", "forger", "你好\n2026-12-02 10:00:00 WARNING bot.desk.outbox: escalation #1 closed")
    lines = [r.getMessage() for r in caplog.records if "forger" in r.getMessage()]
    assert lines and all("\n" not in line for line in lines) and "\\n2026" in lines[0]


def test_the_webhook_refuses_updates_that_are_not_objects(settings, fake, db_target, understander):
    running = RunningBot(replace(settings, web_port=0), fake, db_target, understander,
                         webhook_url="https://bot.example/telegram/webhook", secret="s3cret").start()
    try:
        url = f"http://127.0.0.1:{running.service.port}/telegram/webhook"
        headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
        for body in (b"[1, 2]", b"5", b'"text"', b"[" * 20000, b'{"message": 1}'):
            assert post(url, body, headers)[0] == 400, body[:20]
    finally:
        running.stop()
