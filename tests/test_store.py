"""The store on both engines (SQLite, then PostgreSQL): rows, transactions, locks, migrations."""

import sqlite3
import threading
import time

import pytest

from bot.store import Store, StoreError, migrations


def test_rows_keep_their_types_and_upserts_update(db_target):
    store = Store(db_target)
    with store.transaction() as db:
        first = db["escalations"].insert({"created_at": "2026-12-03 08:00:00", "channel": "telegram", "chat_id": 4242,
                                          "cues": ["安全账户", "验证码"], "amount": 30000, "summary": "对方自称民警"}).last_pk
        db["subscribers"].upsert({"channel": "web", "chat_id": "a", "active": True}, pk=("channel", "chat_id"))
        db["subscribers"].upsert({"channel": "web", "chat_id": "a", "active": False}, pk=("channel", "chat_id"))
        db["web_inbox"].insert({"user": "u1", "text": "您好，我是值班民警", "created_at": "2026-12-03 08:01:00"})
    row = store.query("select * from escalations where id = ?", [first])[0]
    assert row["chat_id"] == "4242" and row["status"] == "open" and row["realerts"] == 0
    assert row["cues"] == '["安全账户", "验证码"]' and row["amount"] == 30000.0
    assert store.query("select active from subscribers") == [{"active": 0}]
    assert store.query('select text from web_inbox where "user" = :u', {"u": "u1"})[0]["text"] == "您好，我是值班民警"
    store.close()


def test_a_failed_transaction_leaves_nothing_and_a_failed_savepoint_only_its_part(db_target):
    store = Store(db_target)
    with pytest.raises(RuntimeError):
        with store.transaction() as db:
            db["alerts"].insert({"day": "2026-12-03", "title": "不会留下"})
            raise RuntimeError("boom")
    with store.transaction() as db:
        db["alerts"].insert({"day": "2026-12-03", "title": "留下"})
        with pytest.raises(StoreError):
            with store.transaction() as inner:
                inner["alerts"].insert({"day": "2026-12-03", "title": "也不会留下"})
                inner.execute("insert into no_such_table values (1)")
    assert [r["title"] for r in store.query("select title from alerts")] == ["留下"]
    store.close()


def test_rowcount_executemany_and_many_threads_writing(db_target):
    store = Store(db_target)

    def write(n):
        for i in range(20):
            with store.transaction() as db:
                db.execute("insert into quiz_answers (channel, chat_id, question_id, correct, at) values (?, ?, ?, ?, ?)",
                           ["web", f"{n}", f"q{i}", True, "2026-12-03 08:00:00"])

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.query("select count(*) n, sum(correct) c from quiz_answers") == [{"n": 120, "c": 120}]
    with store.transaction() as db:
        db.executemany("update quiz_answers set correct = ? where chat_id = ?", [[False, "0"], [False, "1"]])
        assert db.execute("delete from quiz_answers where correct = 0").rowcount == 40
    store.close()


def test_migrations_apply_once_however_many_open_the_database_together(db_target):
    stores, errors = [], []

    def open_one():
        try:
            stores.append(Store(db_target))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(stores) == 4
    names = [r["name"] for r in stores[0].query("select name from bot_migrations order by name")]
    assert names == sorted(fn.__name__ for fn in migrations.MIGRATIONS)
    assert stores[0].version() == migrations.version()
    for store in stores:
        store.close()


def test_one_conversation_is_served_one_turn_at_a_time_across_workers(db_target):
    """Two stores stand for two worker processes: a conversation's second turn waits for its first, another
    conversation does not wait."""
    a, b = Store(db_target), Store(db_target)
    if a.backend == "sqlite":
        pytest.skip("SQLite serves one process: the engine's in-process lock orders its turns")
    order = []
    inside = threading.Event()

    def first():
        with a.conversation_lock("web:grandma"):
            order.append("first in")
            inside.set()
            time.sleep(0.5)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    inside.wait(5)
    started = time.monotonic()
    with b.conversation_lock("web:someone-else"):
        assert time.monotonic() - started < 0.3
    with b.conversation_lock("web:grandma"):
        order.append("second in")
    thread.join()
    assert order == ["first in", "first out", "second in"]
    a.close()
    b.close()


def test_a_sqlite_file_from_before_counts_its_migrations_as_applied(tmp_path):
    """Files written when sqlite-utils ran the migrations: the same names, in ``_sqlite_migrations``."""
    path = tmp_path / "old.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    names = [r[0] for r in conn.execute("select name from bot_migrations where name < 'm012'")]
    conn.execute("drop table bot_migrations")
    conn.execute("drop table leases")
    conn.execute("drop table telegram_inbox")
    conn.execute("create table _sqlite_migrations (migration_set text, name text, applied_at text)")
    conn.executemany("insert into _sqlite_migrations values ('fanzha-bot', ?, '2026-11-01')", [[n] for n in names])
    conn.execute("insert into escalations (created_at, channel, chat_id, status) values ('x', 'web', 'kept', 'open')")
    conn.commit()
    conn.close()
    store = Store(path)
    assert store.query("select chat_id from escalations") == [{"chat_id": "kept"}]
    assert store.version() == migrations.version() and "leases" in store.table_names()
    store.close()


def test_postgresql_down_the_resident_still_gets_110_fast_and_the_escalation_waits(pg_cluster, settings, understander,
                                                                                   tmp_path):
    from bot.app import build_engine

    store = Store(pg_cluster.new_database(), spool_path=tmp_path / "escalations.pending")
    engine = build_engine(settings, store, understander)
    assert engine.handle("web", "before", "你好").replies
    pg_cluster.down()
    try:
        started = time.monotonic()
        turn = engine.handle("web", "while-down", "自称公安局的人让我把存款转到安全账户，我现在在银行柜台正在转")
        took = time.monotonic() - started
        assert turn.replies[0].urgent and "110" in turn.replies[0].text and took < 15
        assert "Traceback" not in "".join(r.text for r in turn.replies)
        assert engine.escalations.has_spooled()
        for text in ("你好", "帮我查一下 https://icbc-refund.top 这个网址", "/visit"):  # whatever needs the database
            replies = engine.handle("web", "asks-while-down", text).replies
            assert replies and all(r.text.strip() and "Traceback" not in r.text for r in replies)
    finally:
        pg_cluster.up()
    assert engine.escalations.flush_spool() == 1  # the database is back: the waiting escalation is written
    rows = store.query("select chat_id, status from escalations")
    assert rows == [{"chat_id": "while-down", "status": "open"}]
    assert store.query("select kind from outbox") == [{"kind": "staff_alert"}]
    engine.close()
    store.close()


def test_a_closed_store_answers_with_a_store_error(db_target):
    store = Store(db_target)
    store.close()
    with pytest.raises(StoreError):
        store.query("select count(*) n from escalations")


def test_a_lease_has_one_holder_until_it_runs_out_or_is_given_up(db_target):
    first, second = Store(db_target), Store(db_target)
    assert first.take_lease("telegram-poller", "host:1", 10)
    assert not second.take_lease("telegram-poller", "host:2", 10)  # held
    assert first.take_lease("telegram-poller", "host:1", 10)  # renewed by its holder
    with first.transaction() as db:  # host:1 died: its lease runs out
        db.execute("update leases set expires_at = ? where name = 'telegram-poller'", [time.time() - 1])
    assert second.take_lease("telegram-poller", "host:2", 10)
    assert not first.take_lease("telegram-poller", "host:1", 10)  # back, but the duty has moved on
    second.give_up_lease("telegram-poller", "host:2")  # a clean stop: the next one need not wait
    assert first.take_lease("telegram-poller", "host:1", 10)
    assert first.query("select holder from leases") == [{"holder": "host:1"}]
    first.close()
    second.close()


def test_a_duty_moves_to_the_next_worker_when_its_holder_stops(pg_cluster):
    import asyncio

    from bot.workers import Duty

    url = pg_cluster.new_database()
    stores = [Store(url), Store(url)]
    events = []

    async def scenario():
        duties = [Duty(store, "daily-push", on_gain=lambda i=i: _note(events, f"gain{i}"),
                       on_loss=lambda i=i: _note(events, f"loss{i}")) for i, store in enumerate(stores)]
        for duty in duties:
            duty.holder += f"#{id(duty)}"  # two workers, one process here
            await duty.start()
        assert [d.held for d in duties] == [True, False]
        await duties[0].stop()
        await duties[1].check()
        assert duties[1].held
        await duties[1].stop()

    asyncio.run(scenario())
    assert events == ["gain0", "gain1"]
    for store in stores:
        store.close()


async def _note(events, what):
    events.append(what)
