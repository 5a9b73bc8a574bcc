"""The duty desk's queue: escalation records, their status history and their alerts.

A record is written (with its staff alert queued in ``outbox``) in one
transaction before anything else is attempted, so a crash at any point loses no
escalation and no alert. A conversation has at most one unresolved escalation:
later dangerous messages update it instead of opening another.

If the database cannot be written even after waiting and retrying (a disk full, a
lock held for minutes), the escalation is appended to a spool file next to the
database (``bot.db.pending``, fsynced) and replayed into the database as soon as a
write succeeds again, by a background retry and at the next start. The resident's
urgent reply never waits for that.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from bot.nlu.cues import LEVELS
from bot.redact import loggable, mask
from bot.store import Store, StoreError, ago, now

STATUSES = ("open", "claimed", "contacted", "dissuaded", "lost", "unreachable", "closed")
UNRESOLVED = ("open", "claimed", "contacted")
# Channels whose residents the desk can write back to through the bot: Telegram; WeChat's customer-service API
# within 48 hours of the resident's last message; the web page, which shows the desk's messages only while it is
# open (so a resident there is never promised contact). The terminal cannot be written to.
ANSWERABLE = ("telegram", "wechat", "web")
SEEN_WHEN_OPEN = ("web",)
SAY_MAX_CHARS = 600  # one officer's message to a resident
REPLY_WINDOW_HOURS = 48  # a resident's messages reach the desk this long after the desk wrote to them
STATUS_ZH = {"open": "待认领", "claimed": "已认领", "contacted": "已联系", "dissuaded": "已劝阻",
             "lost": "已被骗", "unreachable": "联系不上", "closed": "已关闭"}


log = logging.getLogger(__name__)
SPOOL_RETRY_SECONDS = 5.0
# The desk's flood guard: from the FLOOD_PER_ORIGIN-th new escalation of one address within FLOOD_WINDOW_MINUTES,
# or once more than FLOOD_PER_MINUTE new escalations with an alert of their own arrive in a minute (from many
# addresses: a flood from one address is already grouped and not counted), new escalations join a group.
# A group gets at most one alert per FLOOD_ALERT_SECONDS, each naming the members that joined since the
# previous one (and a last one for the stragglers, from the desk's follow-ups), so every escalation number
# reaches the desk once. Every escalation is still recorded and listed; the first ones of every other
# address keep their own alert.
FLOOD_PER_ORIGIN = 3
FLOOD_WINDOW_MINUTES = 10
FLOOD_PER_MINUTE = 30
FLOOD_ALERT_SECONDS = 60


@dataclass
class Opened:
    id: int | None  # None when the record waits in the spool file
    created: bool  # False when an unresolved escalation of the chat was updated

    @property
    def recorded(self) -> bool:
        return self.id is not None


def queue_flood_alert(db, group_id: int, newest: int, stragglers: bool = False) -> bool:
    """Queue the group's next alert, covering the members after the last alert's up to ``newest``, unless the
    last alert is younger than FLOOD_ALERT_SECONDS (``stragglers``: the follow-ups' call, only if some are left)."""
    last = list(db.query("select payload, created_at from outbox where kind = 'staff_flood' and escalation_id = :g"
                         " order by id desc limit 1", {"g": group_id}))
    covered = json.loads(last[0]["payload"]).get("to", group_id - 1) if last else group_id - 1
    if newest <= covered or (last and last[0]["created_at"] > ago(seconds=FLOOD_ALERT_SECONDS)):
        return False
    if stragglers and not last:
        return False
    queue(db, "staff_flood", group_id, json.dumps({"group": group_id, "from": covered + 1, "to": newest}))
    return True


def event(db, escalation_id: int, actor: str, action: str, status: str | None = None, note: str = "") -> None:
    """One line of an escalation's record (``escalation_events``), inside the caller's transaction."""
    db["escalation_events"].insert({"escalation_id": escalation_id, "at": now(), "actor": actor, "action": action,
                                    "status": status, "note": note})


def queue(db, kind: str, escalation_id: int | None, payload: str = "{}", **extra) -> int:
    """Queue one outbox row (an alert, an update, a message to a resident), due now, inside the caller's
    transaction; returns its id."""
    stamp = now()
    return db["outbox"].insert({"kind": kind, "escalation_id": escalation_id, "payload": payload,
                                "created_at": stamp, "next_attempt_at": stamp, **extra}).last_pk


class Escalations:
    def __init__(self, store: Store):
        self.store = store
        self.listeners: list = []  # called with the escalation id after each commit (wake the alert sender)
        self.spool_path: Path | None = store.spool_path
        self._spooled: list[dict] = []  # the in-memory database's spool
        self._spool_lock = threading.Lock()
        self._retry_timer: threading.Timer | None = None
        if self.spool_path and self.spool_path.exists():
            self.flush_spool()  # escalations that could not be written before a restart

    def _notify(self, escalation_id: int) -> None:
        for listener in list(self.listeners):
            try:
                listener(escalation_id)
            except Exception:  # a listener must never break the resident's turn
                pass

    def open_or_update(self, channel: str, chat_id: str, scam_type: str, risk: str, cues: list[str],
                       amount: float | None, summary: str, contact: str = "", source: str = "chat",
                       origin: str = "") -> Opened:
        """Record a high-risk chat and queue its staff alert, atomically; then wake the sender.

        When the database cannot be written, the escalation is spooled (see the module docstring) and
        ``Opened.id`` is None: the caller still answers the resident.
        """
        record = {"channel": channel, "chat_id": str(chat_id), "scam_type": scam_type, "risk": risk,
                  "cues": list(cues), "amount": amount, "summary": summary, "contact": contact, "source": source,
                  "origin": origin}
        try:
            opened = self._record(**record)
        except StoreError as exc:
            log.error("escalation for %s:%s not written (%s): spooled for retry", channel, loggable(mask(str(chat_id))), exc)
            self._spool(record)
            return Opened(None, True)
        self._notify(opened.id)
        if self.has_spooled():
            self.flush_spool()
        return opened

    # --- the spool: escalations waiting for the database --------------------------------------

    def has_spooled(self) -> bool:
        return bool(self._spooled) or bool(self.spool_path and self.spool_path.exists())

    def _spool(self, record: dict) -> None:
        with self._spool_lock:
            if self.spool_path is None:
                self._spooled.append(record)
            else:
                line = json.dumps(record, ensure_ascii=False) + "\n"
                self.spool_path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.spool_path, "a", encoding="utf-8") as handle:
                    fcntl.flock(handle, fcntl.LOCK_EX)
                    handle.write(line)
                    handle.flush()
                    os.fsync(handle.fileno())
            self._schedule_retry()

    def _schedule_retry(self) -> None:
        if self._retry_timer is None or not self._retry_timer.is_alive():
            self._retry_timer = threading.Timer(SPOOL_RETRY_SECONDS, self.flush_spool)
            self._retry_timer.daemon = True
            self._retry_timer.start()

    def flush_spool(self) -> int:
        """Write spooled escalations into the database; returns how many were written."""
        with self._spool_lock:
            if self.spool_path is None:
                records, self._spooled = self._spooled, []
                handle = None
            else:
                if not self.spool_path.exists():
                    return 0
                handle = open(self.spool_path, "r+", encoding="utf-8")
                fcntl.flock(handle, fcntl.LOCK_EX)  # another process may be flushing the same file
                records = [json.loads(line) for line in handle.read().splitlines() if line.strip()]
            written, left = [], []
            for record in records:
                if left:
                    left.append(record)
                    continue
                try:
                    written.append(self._record(**record).id)
                except StoreError:
                    left.append(record)
            if handle is None:
                self._spooled = left + self._spooled
            else:
                if left:
                    handle.seek(0)
                    handle.truncate()
                    handle.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in left))
                    handle.flush()
                    os.fsync(handle.fileno())
                else:
                    self.spool_path.unlink(missing_ok=True)
                handle.close()
            if left:
                self._schedule_retry()
        for escalation_id in written:
            self._notify(escalation_id)
        if written:
            log.warning("%d spooled escalation(s) written to the database", len(written))
        return len(written)

    def _record(self, channel, chat_id, scam_type, risk, cues, amount, summary, contact, source, origin="") -> Opened:
        summary = mask(summary, keep_address=source == "visit")[:500]
        stamp = now()
        with self.store.transaction() as db:
            # One writer of escalations at a time in every process: the open-or-update choice and the flood
            # guard's counts are read and acted on in the same breath (SQLite's write lock does this already).
            db.lock("escalations")
            rows = list(db.query(
                "select * from escalations where channel = :c and chat_id = :u and status in ('open','claimed','contacted')"
                " order by id desc limit 1", {"c": channel, "u": str(chat_id)}))
            if rows:
                row = rows[0]
                old_cues = json.loads(row["cues"] or "[]")
                merged = old_cues + [c for c in cues if c not in old_cues]
                worse = LEVELS.index(risk) > LEVELS.index(row["risk"]) if row["risk"] in LEVELS else True
                db["escalations"].update(row["id"], {
                    "risk": risk if worse else row["risk"],
                    "cues": json.dumps(merged, ensure_ascii=False),
                    "amount": max(a for a in (amount, row["amount"]) if a is not None) if (amount or row["amount"]) else None,
                    "scam_type": scam_type if scam_type not in ("unknown", "not_scam") else row["scam_type"],
                    "summary": summary, "updated_at": stamp, "contact": contact or row["contact"],
                })
                event(db, row["id"], "bot", "updated", status=row["status"])
                waiting = list(db.query(  # a chat sending danger after danger gets one update a minute, not one each
                    "select 1 from outbox where escalation_id = :id and kind = 'staff_update'"
                    " and created_at >= :since limit 1",
                    {"id": row["id"], "since": ago(minutes=1)}))
                if not waiting and not row.get("group_id"):
                    queue(db, "staff_update", row["id"])
                return Opened(row["id"], False)
            group_id, reason, size = self._flood_group(db, origin)
            new_id = db["escalations"].insert({
                "created_at": stamp, "updated_at": stamp, "channel": channel, "chat_id": str(chat_id),
                "scam_type": scam_type, "risk": risk, "cues": json.dumps(cues, ensure_ascii=False),
                "amount": amount, "summary": summary, "status": "open", "assignee": None,
                "contact": contact, "note": "", "source": source, "origin": origin or None,
                "group_id": group_id, "group_reason": reason,
            }).last_pk
            event(db, new_id, "bot", "created", status="open")
            if reason is None:
                queue(db, "staff_alert", new_id)
            else:
                if group_id is None:  # this escalation leads a new group
                    group_id = new_id
                    db["escalations"].update(new_id, {"group_id": new_id})
                queue_flood_alert(db, group_id, new_id)
            return Opened(new_id, True)

    @staticmethod
    def _flood_group(db, origin: str) -> tuple[int | None, str | None, int]:
        """(group to join or None for a new one, reason or None when no flood, the group's size with this one)."""
        if origin:
            recent = list(db.query(  # the latest few are enough: once grouped, every later one is grouped too
                "select id, group_id from escalations where origin = :o and created_at >= :since"
                " order by id desc limit :n",
                {"o": origin, "since": ago(minutes=FLOOD_WINDOW_MINUTES), "n": FLOOD_PER_ORIGIN}))
            if len(recent) + 1 >= FLOOD_PER_ORIGIN:
                group = next((r["group_id"] for r in recent if r["group_id"]), None)
                if group:
                    size = list(db.query("select count(*) n from escalations where group_id = :g", {"g": group}))
                    return group, "origin", size[0]["n"] + 1
                return None, "origin", 1
        minute = list(db.query(  # alerts sent one by one in the last minute (a flood already grouped is not counted)
            "select count(*) n from escalations where created_at >= :since and group_id is null",
            {"since": ago(minutes=1)}))[0]["n"]
        if minute + 1 > FLOOD_PER_MINUTE:
            burst = list(db.query(
                "select group_id from escalations where group_reason = 'burst' and created_at >= :since"
                " order by id desc limit 1", {"since": ago(minutes=1)}))
            if burst:
                group = burst[0]["group_id"]
                size = list(db.query("select count(*) n from escalations where group_id = :g", {"g": group}))[0]["n"]
                return group, "burst", size + 1
            return None, "burst", 1
        return None, None, 0

    def group(self, group_id: int) -> list[dict]:
        """The escalations merged into one flood group, most dangerous first."""
        rows = self.store.query("select * from escalations where group_id = :g order by id", {"g": group_id})
        return sorted(rows, key=lambda r: (-LEVELS.index(r["risk"]) if r["risk"] in LEVELS else 0, r["id"]))

    def get(self, escalation_id: int) -> dict | None:
        rows = self.store.query("select * from escalations where id = :id", {"id": escalation_id})
        return rows[0] if rows else None

    def list(self, status: str | None = None, limit: int = 200) -> list[dict]:
        if status:
            return self.store.query("select * from escalations where status = :s order by id desc limit :n",
                                    {"s": status, "n": limit})
        return self.store.query("select * from escalations order by id desc limit :n", {"n": limit})

    def set_status(self, escalation_id: int, status: str, actor: str, note: str = "") -> dict:
        """Move an escalation to ``status`` (the duty desk's buttons and commands)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
        stamp = now()
        with self.store.transaction() as db:
            rows = list(db.query("select * from escalations where id = :id", {"id": escalation_id}))
            if not rows:
                raise KeyError(escalation_id)
            row = rows[0]
            changes = {"status": status, "updated_at": stamp}
            if status != "open" and not row["assignee"]:
                changes["assignee"] = actor
            if status == "claimed":
                changes["assignee"] = actor
            if status != "open" and not row["claimed_at"]:
                changes["claimed_at"] = stamp
            if status not in UNRESOLVED and not row["resolved_at"]:
                changes["resolved_at"] = stamp
            if note:
                changes["note"] = (row["note"] + "\n" if row["note"] else "") + f"[{stamp} {actor}] {note}"
            db["escalations"].update(escalation_id, changes)
            event(db, escalation_id, actor, "status", status=status, note=note)
            return {**row, **changes}

    # --- the desk writes to the resident, the resident's answers reach the desk --------------------------

    def say(self, escalation_id: int, text: str, actor: str) -> int:
        """Queue an officer's message to the resident of an escalation (delivered by the resident loop of the
        service, ``bot.desk.residents``); returns its outbox id. ValueError with a reason for the officer when
        it cannot go: empty, too long, or a channel the bot cannot write to."""
        text = (text or "").strip()
        if not text:
            raise ValueError("留言是空的 / the message is empty")
        if len(text) > SAY_MAX_CHARS:
            raise ValueError(f"留言太长（{len(text)} 字，最多 {SAY_MAX_CHARS} 字）/ too long")
        with self.store.transaction() as db:
            rows = list(db.query("select channel, chat_id from escalations where id = :id", {"id": escalation_id}))
            if not rows:
                raise KeyError(escalation_id)
            if rows[0]["channel"] not in ANSWERABLE:
                raise ValueError(f"这位居民是从 {rows[0]['channel']} 来的，机器人无法给他回消息，请打电话联系"
                                 f" / residents on {rows[0]['channel']} cannot be written to")
            event(db, escalation_id, actor, "message", note=text)
            outbox_id = queue(db, "resident_message", escalation_id, json.dumps({"text": text}, ensure_ascii=False),
                              chat_id=rows[0]["chat_id"])
        self._notify(escalation_id)
        return outbox_id

    def message_outcome(self, escalation_id: int, delivered: bool, reason: str = "") -> None:
        """Record whether an officer's message reached the resident; when it did not, the desk is told (a
        staff update) so the officer calls instead."""
        with self.store.transaction() as db:
            event(db, escalation_id, "system", "message_sent" if delivered else "message_undelivered",
                  note=reason[:200])
            if not delivered:
                queue(db, "staff_update", escalation_id)
        if not delivered:
            self._notify(escalation_id)

    def resident_wrote(self, channel: str, chat_id: str, text: str) -> int | None:
        """A resident's message after the desk wrote to them (within ``REPLY_WINDOW_HOURS``, escalation still
        unresolved) goes to the desk as an update; returns the escalation id, or None when there is none."""
        if channel not in ANSWERABLE or not (text or "").strip():
            return None
        rows = self.store.query(
            "select e.id from escalations e where e.channel = :c and e.chat_id = :chat and e.status in"
            f" ({', '.join(repr(s) for s in UNRESOLVED)}) and exists (select 1 from escalation_events v"
            " where v.escalation_id = e.id and v.action = 'message' and v.at >= :since) order by e.id desc limit 1",
            {"c": channel, "chat": str(chat_id), "since": ago(hours=REPLY_WINDOW_HOURS)})
        if not rows:
            return None
        escalation_id = rows[0]["id"]
        with self.store.transaction() as db:
            event(db, escalation_id, "resident", "reply", note=text.strip()[:500])
            waiting = list(db.query(  # an update not sent anywhere yet will show this reply too
                "select 1 from outbox o where o.escalation_id = :id and o.kind = 'staff_update' and not exists"
                " (select 1 from alert_deliveries d where d.outbox_id = o.id and d.delivered_at is not null)"
                " limit 1", {"id": escalation_id}))
            if not waiting:
                queue(db, "staff_update", escalation_id)
        self._notify(escalation_id)
        return escalation_id

