"""Everything the bot keeps, in one SQLite file (sqlite-utils, WAL mode).

Tables: ``users``, ``conversations`` (dialogue state), ``messages`` (full text,
purged after the retention period), ``escalations`` with ``escalation_events``
(the duty desk's queue and its history) and ``outbox`` (staff alerts waiting to
be delivered). The schema evolves through sqlite-utils migrations.

Several processes may write to one file (``serve``, a second ``serve``, staff running
``escalation --set`` or ``chat`` from the terminal). Every write therefore takes the
write lock when it begins (``BEGIN IMMEDIATE``), so SQLite's busy timeout applies and a
writer waits its turn instead of failing half-way with "database is locked"; a lock
that is still busy after the timeout is retried with backoff before giving up.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlite_utils import Database, Migrations

log = logging.getLogger(__name__)
migrations = Migrations("fanzha-bot")
BUSY_TIMEOUT_MS = 30_000
LOCK_RETRIES = 4  # BEGIN IMMEDIATE attempts after the busy timeout expired (each waits the timeout again)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def now() -> str:
    """UTC time as SQLite likes it: ``2026-11-29 17:30:00``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def ago(**delta) -> str:
    return (datetime.now(timezone.utc) - timedelta(**delta)).strftime("%Y-%m-%d %H:%M:%S")


@migrations()
def m001_core(db: Database) -> None:
    db["users"].create({"key": str, "channel": str, "user_id": str, "first_seen": str, "last_seen": str},
                       pk="key", if_not_exists=True)
    db["conversations"].create({"key": str, "channel": str, "user_id": str, "state": str, "updated_at": str},
                               pk="key", if_not_exists=True)
    db["messages"].create({"id": int, "key": str, "channel": str, "user_id": str, "direction": str, "text": str,
                           "intent": str, "scam_type": str, "risk": str, "escalate": int, "created_at": str},
                          pk="id", if_not_exists=True)
    db["messages"].create_index(["created_at"], if_not_exists=True)
    db["messages"].create_index(["key", "id"], if_not_exists=True)
    db["escalations"].create({
        "id": int, "created_at": str, "channel": str, "chat_id": str, "scam_type": str, "risk": str,
        "cues": str, "amount": float, "summary": str, "status": str, "updated_at": str, "assignee": str,
        "contact": str, "note": str, "source": str, "claimed_at": str, "resolved_at": str,
    }, pk="id", not_null=["created_at", "channel", "chat_id", "status"], defaults={"status": "open"},
        if_not_exists=True)
    db["escalations"].create_index(["status"], if_not_exists=True)
    db["escalations"].create_index(["channel", "chat_id"], if_not_exists=True)
    db["escalation_events"].create({"id": int, "escalation_id": int, "at": str, "actor": str, "action": str,
                                    "status": str, "note": str}, pk="id", foreign_keys=[("escalation_id", "escalations")],
                                   if_not_exists=True)
    db["outbox"].create({"id": int, "kind": str, "escalation_id": int, "chat_id": str, "payload": str,
                         "created_at": str, "attempts": int, "next_attempt_at": str, "delivered_at": str,
                         "last_error": str, "message_id": int}, pk="id", defaults={"attempts": 0},
                        if_not_exists=True)
    db["outbox"].create_index(["delivered_at", "next_attempt_at"], if_not_exists=True)


@migrations()
def m002_follow_ups(db: Database) -> None:
    """When the duty desk was re-alerted or reminded, and when the resident was asked if safe."""
    for column in ("realerted_at", "reminded_at", "checked_in_at"):
        db["escalations"].add_column(column, str)
    db["escalations"].add_column("realerts", int, not_null_default=0)
    db["messages"].create_index(["direction", "intent"], if_not_exists=True)


@migrations()
def m003_outreach(db: Database) -> None:
    """Daily alerts and their subscribers, deliveries (one row per alert and person), quiz answers."""
    db["subscribers"].create({"channel": str, "chat_id": str, "active": int, "subscribed_at": str,
                              "unsubscribed_at": str, "blocked_at": str}, pk=("channel", "chat_id"),
                             if_not_exists=True)
    db["alerts"].create({"id": int, "day": str, "title": str, "text": str, "scam_type": str, "source": str,
                         "created_by": str, "created_at": str}, pk="id", if_not_exists=True)
    db["alerts"].create_index(["day"], if_not_exists=True)
    db["deliveries"].create({"alert_key": str, "channel": str, "chat_id": str, "status": str, "at": str},
                            pk=("alert_key", "channel", "chat_id"), if_not_exists=True)
    db["quiz_answers"].create({"id": int, "channel": str, "chat_id": str, "question_id": str, "correct": int,
                               "at": str}, pk="id", if_not_exists=True)


@migrations()
def m004_visits(db: Database) -> None:
    """Grid workers (网格员) and their door-to-door visits."""
    db["workers"].create({"channel": str, "user_id": str, "name": str, "grid": str, "added_by": str,
                          "added_at": str}, pk=("channel", "user_id"), if_not_exists=True)
    db["visits"].create({
        "id": int, "worker": str, "worker_channel": str, "grid": str, "household": str, "age_band": str,
        "consent": int, "date": str, "started_at": str, "finished_at": str, "topics": str, "answers": str,
        "app_installed": int, "hotline_saved": int, "risk_found": int, "escalation_id": int, "status": str,
    }, pk="id", if_not_exists=True)
    db["visits"].create_index(["grid"], if_not_exists=True)


@migrations()
def m005_risk_list(db: Database) -> None:
    """The staff's risk list (normalised values) and residents' reports of numbers, links and accounts."""
    db["risk_list"].create({"id": int, "kind": str, "value": str, "verdict": str, "source": str, "note": str,
                            "added_by": str, "added_at": str, "expires_at": str}, pk="id", if_not_exists=True)
    db["risk_list"].create_index(["kind", "value"], unique=True, if_not_exists=True)
    db["reports"].create({"id": int, "kind": str, "value": str, "shown": str, "channel": str, "chat_id": str,
                          "summary": str, "status": str, "created_at": str, "reviewed_by": str, "reviewed_at": str,
                          "digested_at": str}, pk="id", if_not_exists=True)
    db["reports"].create_index(["kind", "value"], if_not_exists=True)
    db["reports"].create_index(["status"], if_not_exists=True)


@migrations()
def m006_flood_guard(db: Database) -> None:
    """Where an escalation came from (a web client's address) and the flood group it was merged into."""
    db["escalations"].add_column("origin", str)
    db["escalations"].add_column("group_id", int)
    db["escalations"].add_column("group_reason", str)  # "origin" (one address) | "burst" (many in one minute)
    db["escalations"].create_index(["origin", "created_at"], if_not_exists=True)
    db["escalations"].create_index(["created_at"], if_not_exists=True)
    db["escalations"].create_index(["group_id"], if_not_exists=True)


@migrations()
def m007_wechat(db: Database) -> None:
    """WeChat: each MsgId claimed once (retries, several workers), numbered choices, the shared access token."""
    db["wechat_inbox"].create({"msg_id": str, "openid": str, "received_at": str, "status": str}, pk="msg_id",
                              if_not_exists=True)
    db["wechat_choices"].create({"openid": str, "payloads": str, "at": str}, pk="openid", if_not_exists=True)
    db["kv"].create({"key": str, "value": str, "expires_at": float, "updated_at": str}, pk="key", if_not_exists=True)


@migrations()
def m008_alert_deliveries(db: Database) -> None:
    """Each outbox row's delivery per target (Telegram's staff chat, the WeCom robot …). What Telegram had
    already delivered or tried, kept in ``outbox`` until now, is carried over, so nothing is sent twice."""
    db["alert_deliveries"].create({"outbox_id": int, "target": str, "attempts": int, "next_attempt_at": str,
                                   "delivered_at": str, "last_error": str, "message_id": int, "chat_id": str},
                                  pk=("outbox_id", "target"), if_not_exists=True)
    db["alert_deliveries"].create_index(["target", "delivered_at"], if_not_exists=True)
    db.execute("insert or ignore into alert_deliveries (outbox_id, target, attempts, next_attempt_at, delivered_at,"
               " last_error, message_id, chat_id) select id, 'telegram', attempts, next_attempt_at, delivered_at,"
               " last_error, message_id, chat_id from outbox where delivered_at is not null or attempts > 0")


@migrations()
def m009_pictures(db: Database) -> None:
    """Pictures kept for the duty desk when config.yml says ``images.keep_days`` > 0 (by default none are)."""
    db["pictures"].create({"id": int, "key": str, "file": str, "bytes": int, "read_text": str, "created_at": str},
                          pk="id", if_not_exists=True)
    db["pictures"].create_index(["key"], if_not_exists=True)
    db["pictures"].create_index(["created_at"], if_not_exists=True)


@migrations()
def m010_resident_messages(db: Database) -> None:
    """Check-ins (and now officers' messages) go to residents through the resident loop (target ``resident``),
    not through Telegram's staff-chat loop: what that loop had already delivered or tried is carried over."""
    db.execute("insert or ignore into alert_deliveries (outbox_id, target, attempts, next_attempt_at, delivered_at,"
               " last_error, message_id, chat_id) select d.outbox_id, 'resident', d.attempts, d.next_attempt_at,"
               " d.delivered_at, d.last_error, d.message_id, d.chat_id from alert_deliveries d"
               " join outbox o on o.id = d.outbox_id where o.kind = 'checkin' and d.target = 'telegram'")


@migrations()
def m011_web_inbox(db: Database) -> None:
    """The desk's messages to residents of the web page, kept until the page fetches them (it asks every few
    seconds once the chat has been escalated, and when it opens)."""
    db["web_inbox"].create({"id": int, "user": str, "text": str, "created_at": str}, pk="id", if_not_exists=True)
    db["web_inbox"].create_index(["user", "id"], if_not_exists=True)


class Store:
    """A thread-safe handle on the bot's SQLite database."""

    def __init__(self, path: Path | str, synchronous: str = "NORMAL", busy_timeout_ms: int = BUSY_TIMEOUT_MS):
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=busy_timeout_ms / 1000,
                               isolation_level=None)
        self.db = Database(conn)
        self.lock = threading.RLock()
        self.busy_timeout_ms = busy_timeout_ms
        self.db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        if str(path) != ":memory:":
            self._retry(self.db.enable_wal)
        self.db.execute(f"PRAGMA synchronous={synchronous}")
        with self.lock:
            self._retry(lambda: migrations.apply(self.db))  # two processes starting at once

    def _retry(self, step):
        for attempt in range(LOCK_RETRIES + 1):
            try:
                return step()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or attempt == LOCK_RETRIES:
                    raise
                log.warning("database busy (%s); retrying", exc)
                time.sleep(0.05 * 2 ** attempt + random.random() * 0.05)

    @contextmanager
    def transaction(self):
        """One atomic write: everything inside commits together or not at all.

        The write lock is taken at BEGIN (IMMEDIATE), so another process's write makes this one wait
        (busy timeout, then retries) rather than fail between its read and its write. Nested calls
        become savepoints of the outer transaction.
        """
        with self.lock:
            conn = self.db.conn
            if conn.in_transaction:
                with self.db.atomic():
                    yield self.db
                return
            self._retry(lambda: conn.execute("BEGIN IMMEDIATE"))
            try:
                yield self.db
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            try:
                self._retry(lambda: conn.execute("COMMIT"))
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def query(self, sql: str, params=None) -> list[dict]:
        with self.lock:
            return list(self.db.query(sql, params or {}))

    def close(self) -> None:
        with self.lock:
            self.db.close()

    # --- conversations -------------------------------------------------------------------

    def record_quiz_answer(self, channel: str, chat_id: str, question_id: str, correct: bool) -> None:
        with self.transaction() as db:
            db["quiz_answers"].insert({"channel": channel, "chat_id": str(chat_id), "question_id": question_id,
                                       "correct": int(correct), "at": now()})

    def load_state(self, key: str) -> dict | None:
        rows = self.query("select state from conversations where key = :key", {"key": key})
        return json.loads(rows[0]["state"]) if rows else None

    def save_turn(self, key: str, channel: str, user_id: str, state: dict, messages: list[dict]) -> None:
        """Save the dialogue state, the turn's messages and the user's last visit in one transaction."""
        stamp = now()
        with self.transaction() as db:
            db.execute("insert into users (key, channel, user_id, first_seen, last_seen) values (?, ?, ?, ?, ?)"
                       " on conflict(key) do update set last_seen = excluded.last_seen",
                       [key, channel, user_id, stamp, stamp])
            db["conversations"].upsert({"key": key, "channel": channel, "user_id": user_id,
                                        "state": json.dumps(state, ensure_ascii=False), "updated_at": stamp},
                                       pk="key")
            for message in messages:
                db["messages"].insert({"key": key, "channel": channel, "user_id": user_id, "created_at": stamp,
                                       **message})
