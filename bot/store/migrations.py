"""The schema, as one ordered list of migrations that run on SQLite and on PostgreSQL alike.

Each migration is a function of Alembic's ``Operations`` (create a table, add a column, create an index,
run portable SQL). They are applied in order, each once, and recorded in ``bot_migrations``; the whole
upgrade is one transaction, taken under the store's write lock (SQLite) or an advisory lock (PostgreSQL),
so two processes starting at once apply it once. Add a migration at the end; never edit an applied one.

A SQLite file written before the store moved to SQLAlchemy recorded the same migrations, by the same
names, in sqlite-utils' ``_sqlite_migrations``: they count as applied.
"""

from __future__ import annotations

from collections.abc import Callable

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import BigInteger, Column, Float, ForeignKey, Integer, MetaData, Table, Text, inspect, text
from sqlalchemy.engine import Connection

from .clock import now

MIGRATIONS: list[Callable[[Operations], None]] = []
VERSION_TABLE = "bot_migrations"
LEGACY_TABLE = "_sqlite_migrations"  # sqlite-utils' record, in files from before
LEGACY_SET = "fanzha-bot"


def migration(fn: Callable[[Operations], None]) -> Callable[[Operations], None]:
    MIGRATIONS.append(fn)
    return fn


def _pk(name: str = "id") -> Column:
    return Column(name, Integer, primary_key=True, autoincrement=True)


def _cols(spec: dict[str, type]) -> list[Column]:
    return [Column(name, kind) for name, kind in spec.items()]


@migration
def m001_core(op: Operations) -> None:
    op.create_table("users", Column("key", Text, primary_key=True),
                    *_cols({"channel": Text, "user_id": Text, "first_seen": Text, "last_seen": Text}))
    op.create_table("conversations", Column("key", Text, primary_key=True),
                    *_cols({"channel": Text, "user_id": Text, "state": Text, "updated_at": Text}))
    op.create_table("messages", _pk(), *_cols({
        "key": Text, "channel": Text, "user_id": Text, "direction": Text, "text": Text, "intent": Text,
        "scam_type": Text, "risk": Text, "escalate": Integer, "created_at": Text}))
    op.create_index("idx_messages_created_at", "messages", ["created_at"])
    op.create_index("idx_messages_key_id", "messages", ["key", "id"])
    op.create_table(
        "escalations", _pk(),
        Column("created_at", Text, nullable=False), Column("channel", Text, nullable=False),
        Column("chat_id", Text, nullable=False),
        *_cols({"scam_type": Text, "risk": Text, "cues": Text, "amount": Float, "summary": Text}),
        Column("status", Text, nullable=False, server_default="open"),
        *_cols({"updated_at": Text, "assignee": Text, "contact": Text, "note": Text, "source": Text,
                "claimed_at": Text, "resolved_at": Text}))
    op.create_index("idx_escalations_status", "escalations", ["status"])
    op.create_index("idx_escalations_channel_chat_id", "escalations", ["channel", "chat_id"])
    op.create_table("escalation_events", _pk(), Column("escalation_id", Integer, ForeignKey("escalations.id")),
                    *_cols({"at": Text, "actor": Text, "action": Text, "status": Text, "note": Text}))
    op.create_table("outbox", _pk(), *_cols({"kind": Text, "escalation_id": Integer, "chat_id": Text,
                                             "payload": Text, "created_at": Text}),
                    Column("attempts", Integer, server_default="0"),
                    *_cols({"next_attempt_at": Text, "delivered_at": Text, "last_error": Text, "message_id": Integer}))
    op.create_index("idx_outbox_delivered_at_next_attempt_at", "outbox", ["delivered_at", "next_attempt_at"])


@migration
def m002_follow_ups(op: Operations) -> None:
    """When the duty desk was re-alerted or reminded, and when the resident was asked if safe."""
    for column in ("realerted_at", "reminded_at", "checked_in_at"):
        op.add_column("escalations", Column(column, Text))
    op.add_column("escalations", Column("realerts", Integer, nullable=False, server_default="0"))
    op.create_index("idx_messages_direction_intent", "messages", ["direction", "intent"])


@migration
def m003_outreach(op: Operations) -> None:
    """Daily alerts and their subscribers, deliveries (one row per alert and person), quiz answers."""
    op.create_table("subscribers", Column("channel", Text, primary_key=True), Column("chat_id", Text, primary_key=True),
                    *_cols({"active": Integer, "subscribed_at": Text, "unsubscribed_at": Text, "blocked_at": Text}))
    op.create_table("alerts", _pk(), *_cols({"day": Text, "title": Text, "text": Text, "scam_type": Text,
                                             "source": Text, "created_by": Text, "created_at": Text}))
    op.create_index("idx_alerts_day", "alerts", ["day"])
    op.create_table("deliveries", Column("alert_key", Text, primary_key=True), Column("channel", Text, primary_key=True),
                    Column("chat_id", Text, primary_key=True), *_cols({"status": Text, "at": Text}))
    op.create_table("quiz_answers", _pk(), *_cols({"channel": Text, "chat_id": Text, "question_id": Text,
                                                   "correct": Integer, "at": Text}))


@migration
def m004_visits(op: Operations) -> None:
    """Grid workers (网格员) and their door-to-door visits."""
    op.create_table("workers", Column("channel", Text, primary_key=True), Column("user_id", Text, primary_key=True),
                    *_cols({"name": Text, "grid": Text, "added_by": Text, "added_at": Text}))
    op.create_table("visits", _pk(), *_cols({
        "worker": Text, "worker_channel": Text, "grid": Text, "household": Text, "age_band": Text, "consent": Integer,
        "date": Text, "started_at": Text, "finished_at": Text, "topics": Text, "answers": Text,
        "app_installed": Integer, "hotline_saved": Integer, "risk_found": Integer, "escalation_id": Integer,
        "status": Text}))
    op.create_index("idx_visits_grid", "visits", ["grid"])


@migration
def m005_risk_list(op: Operations) -> None:
    """The staff's risk list (normalised values) and residents' reports of numbers, links and accounts."""
    op.create_table("risk_list", _pk(), *_cols({"kind": Text, "value": Text, "verdict": Text, "source": Text,
                                                "note": Text, "added_by": Text, "added_at": Text, "expires_at": Text}))
    op.create_index("idx_risk_list_kind_value", "risk_list", ["kind", "value"], unique=True)
    op.create_table("reports", _pk(), *_cols({
        "kind": Text, "value": Text, "shown": Text, "channel": Text, "chat_id": Text, "summary": Text,
        "status": Text, "created_at": Text, "reviewed_by": Text, "reviewed_at": Text, "digested_at": Text}))
    op.create_index("idx_reports_kind_value", "reports", ["kind", "value"])
    op.create_index("idx_reports_status", "reports", ["status"])


@migration
def m006_flood_guard(op: Operations) -> None:
    """Where an escalation came from (a web client's address) and the flood group it was merged into."""
    op.add_column("escalations", Column("origin", Text))
    op.add_column("escalations", Column("group_id", Integer))
    op.add_column("escalations", Column("group_reason", Text))  # "origin" (one address) | "burst" (many in a minute)
    op.create_index("idx_escalations_origin_created_at", "escalations", ["origin", "created_at"])
    op.create_index("idx_escalations_created_at", "escalations", ["created_at"])
    op.create_index("idx_escalations_group_id", "escalations", ["group_id"])


@migration
def m007_wechat(op: Operations) -> None:
    """WeChat: each MsgId claimed once (retries, several workers), numbered choices, the shared access token."""
    op.create_table("wechat_inbox", Column("msg_id", Text, primary_key=True),
                    *_cols({"openid": Text, "received_at": Text, "status": Text}))
    op.create_table("wechat_choices", Column("openid", Text, primary_key=True), *_cols({"payloads": Text, "at": Text}))
    op.create_table("kv", Column("key", Text, primary_key=True),
                    *_cols({"value": Text, "expires_at": Float, "updated_at": Text}))


@migration
def m008_alert_deliveries(op: Operations) -> None:
    """Each outbox row's delivery per target (Telegram's staff chat, the WeCom robot …). What Telegram had
    already delivered or tried, kept in ``outbox`` until then, is carried over, so nothing is sent twice."""
    op.create_table("alert_deliveries", Column("outbox_id", Integer, primary_key=True, autoincrement=False),
                    Column("target", Text, primary_key=True), Column("attempts", Integer),
                    *_cols({"next_attempt_at": Text, "delivered_at": Text, "last_error": Text, "message_id": Integer,
                            "chat_id": Text}))
    op.create_index("idx_alert_deliveries_target_delivered_at", "alert_deliveries", ["target", "delivered_at"])
    op.execute("insert into alert_deliveries (outbox_id, target, attempts, next_attempt_at, delivered_at, last_error,"
               " message_id, chat_id) select id, 'telegram', attempts, next_attempt_at, delivered_at, last_error,"
               " message_id, chat_id from outbox where delivered_at is not null or attempts > 0"
               " on conflict do nothing")


@migration
def m009_pictures(op: Operations) -> None:
    """Pictures kept for the duty desk when config.yml says ``images.keep_days`` > 0 (by default none are)."""
    op.create_table("pictures", _pk(), *_cols({"key": Text, "file": Text, "bytes": Integer, "read_text": Text,
                                               "created_at": Text}))
    op.create_index("idx_pictures_key", "pictures", ["key"])
    op.create_index("idx_pictures_created_at", "pictures", ["created_at"])


@migration
def m010_resident_messages(op: Operations) -> None:
    """Check-ins (and officers' messages) go to residents through the resident loop (target ``resident``),
    not through Telegram's staff-chat loop: what that loop had already delivered or tried is carried over."""
    op.execute("insert into alert_deliveries (outbox_id, target, attempts, next_attempt_at, delivered_at,"
               " last_error, message_id, chat_id) select d.outbox_id, 'resident', d.attempts, d.next_attempt_at,"
               " d.delivered_at, d.last_error, d.message_id, d.chat_id from alert_deliveries d"
               " join outbox o on o.id = d.outbox_id where o.kind = 'checkin' and d.target = 'telegram'"
               " on conflict do nothing")


@migration
def m011_web_inbox(op: Operations) -> None:
    """The desk's messages to residents of the web page, kept until the page fetches them (it asks every few
    seconds once the chat has been escalated, and when it opens)."""
    op.create_table("web_inbox", _pk(), *_cols({"user": Text, "text": Text, "created_at": Text}))
    op.create_index("idx_web_inbox_user_id", "web_inbox", ["user", "id"])


@migration
def m012_leases(op: Operations) -> None:
    """Scheduled work (the daily push, re-alerts, digests) and the Telegram poller run in one worker at a time:
    the worker holding a lease renews it; when it dies, the lease expires and another worker takes it over."""
    op.create_table("leases", Column("name", Text, primary_key=True),
                    *_cols({"holder": Text, "expires_at": Float, "taken_at": Text}))


@migration
def m013_telegram_inbox(op: Operations) -> None:
    """Telegram updates kept from their arrival (long poll or webhook) until handled: confirming an update
    to Telegram no longer loses it when the worker dies, and any worker may handle it (one chat in order)."""
    op.create_table("telegram_inbox", _pk(), Column("update_id", BigInteger, nullable=False, unique=True),
                    *_cols({"chat": Text, "payload": Text, "received_at": Text, "claimed_until": Float,
                            "attempts": Integer, "handled_at": Text}))
    op.create_index("idx_telegram_inbox_handled_at_chat_id", "telegram_inbox", ["handled_at", "chat", "id"])

def applied(conn: Connection) -> set[str]:
    tables = set(inspect(conn).get_table_names())
    done: set[str] = set()
    if VERSION_TABLE in tables:
        done |= {r[0] for r in conn.execute(text(f"select name from {VERSION_TABLE}"))}
    if LEGACY_TABLE in tables:
        done |= {r[0] for r in conn.execute(text(f"select name from {LEGACY_TABLE} where migration_set = :s"),
                                            {"s": LEGACY_SET})}
    return done


def pending(conn: Connection) -> list[str]:
    done = applied(conn)
    return [fn.__name__ for fn in MIGRATIONS if fn.__name__ not in done]


def upgrade(conn: Connection) -> list[str]:
    """Apply what is pending, in the caller's transaction; returns the names applied."""
    tables = set(inspect(conn).get_table_names())
    if VERSION_TABLE not in tables:
        meta = MetaData()
        Table(VERSION_TABLE, meta, Column("name", Text, primary_key=True), Column("applied_at", Text))
        meta.create_all(conn)
        for name in sorted(applied(conn)):  # a file from before: sqlite-utils had recorded these
            conn.execute(text(f"insert into {VERSION_TABLE} (name, applied_at) values (:n, :at)"),
                         {"n": name, "at": now()})
    done = applied(conn)
    op = Operations(MigrationContext.configure(conn))
    names = []
    for fn in MIGRATIONS:
        if fn.__name__ in done:
            continue
        fn(op)
        conn.execute(text(f"insert into {VERSION_TABLE} (name, applied_at) values (:n, :at)"),
                     {"n": fn.__name__, "at": now()})
        names.append(fn.__name__)
    return names


def version() -> str:
    return MIGRATIONS[-1].__name__
