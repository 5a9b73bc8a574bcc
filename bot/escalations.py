"""The duty desk's queue: escalation records, their status history and their alerts.

A record is written (with its staff alert queued in ``outbox``) in one
transaction before anything else is attempted, so a crash at any point loses no
escalation and no alert. A conversation has at most one unresolved escalation:
later dangerous messages update it instead of opening another.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.nlu.cues import LEVELS
from bot.redact import mask
from bot.store import Store, now

STATUSES = ("open", "claimed", "contacted", "dissuaded", "lost", "unreachable", "closed")
UNRESOLVED = ("open", "claimed", "contacted")
STATUS_ZH = {"open": "待认领", "claimed": "已认领", "contacted": "已联系", "dissuaded": "已劝阻",
             "lost": "已被骗", "unreachable": "联系不上", "closed": "已关闭"}


@dataclass
class Opened:
    id: int
    created: bool  # False when an unresolved escalation of the chat was updated


class Escalations:
    def __init__(self, store: Store):
        self.store = store
        self.listeners: list = []  # called with the escalation id after each commit (wake the alert sender)

    def _notify(self, escalation_id: int) -> None:
        for listener in list(self.listeners):
            try:
                listener(escalation_id)
            except Exception:  # a listener must never break the resident's turn
                pass

    def open_or_update(self, channel: str, chat_id: str, scam_type: str, risk: str, cues: list[str],
                       amount: float | None, summary: str, contact: str = "", source: str = "chat") -> Opened:
        """Record a high-risk chat and queue its staff alert, atomically; then wake the sender."""
        opened = self._record(channel, chat_id, scam_type, risk, cues, amount, summary, contact, source)
        self._notify(opened.id)
        return opened

    def _record(self, channel, chat_id, scam_type, risk, cues, amount, summary, contact, source) -> Opened:
        summary = mask(summary, keep_address=source == "visit")[:500]
        stamp = now()
        with self.store.transaction() as db:
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
                db["escalation_events"].insert({"escalation_id": row["id"], "at": stamp, "actor": "bot",
                                                "action": "updated", "status": row["status"], "note": ""})
                db["outbox"].insert({"kind": "staff_update", "escalation_id": row["id"], "payload": "{}",
                                     "created_at": stamp, "next_attempt_at": stamp})
                return Opened(row["id"], False)
            new_id = db["escalations"].insert({
                "created_at": stamp, "updated_at": stamp, "channel": channel, "chat_id": str(chat_id),
                "scam_type": scam_type, "risk": risk, "cues": json.dumps(cues, ensure_ascii=False),
                "amount": amount, "summary": summary, "status": "open", "assignee": None,
                "contact": contact, "note": "", "source": source,
            }).last_pk
            db["escalation_events"].insert({"escalation_id": new_id, "at": stamp, "actor": "bot",
                                            "action": "created", "status": "open", "note": ""})
            db["outbox"].insert({"kind": "staff_alert", "escalation_id": new_id, "payload": "{}",
                                 "created_at": stamp, "next_attempt_at": stamp})
            return Opened(new_id, True)

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
            db["escalation_events"].insert({"escalation_id": escalation_id, "at": stamp, "actor": actor,
                                            "action": "status", "status": status, "note": note})
            return {**row, **changes}
