"""Who gets the daily warning, the warnings themselves, and who was reached (per channel)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.store import Store, now


@dataclass(frozen=True)
class DailyAlert:
    key: str  # what deliveries are keyed by: "2026-12-01" (a file) or "2026-12-01#7" (a staff alert)
    day: str
    title: str
    text: str
    scam_type: str | None = None

    def message(self, footer: str) -> str:
        return f"【每日反诈预警】{self.title}\n{self.text.strip()}\n\n{footer}\n不想再收到，回复“退订”。"


class Subscriptions:
    def __init__(self, store: Store):
        self.store = store

    def subscribe(self, channel: str, chat_id: str) -> bool:
        """True when newly subscribed (or back after unsubscribing)."""
        with self.store.transaction() as db:
            rows = list(db.query("select active from subscribers where channel = ? and chat_id = ?",
                                 [channel, str(chat_id)]))
            if rows and rows[0]["active"]:
                return False
            db["subscribers"].upsert({"channel": channel, "chat_id": str(chat_id), "active": 1,
                                      "subscribed_at": now(), "unsubscribed_at": None, "blocked_at": None},
                                     pk=("channel", "chat_id"))
            return True

    def unsubscribe(self, channel: str, chat_id: str, blocked: bool = False) -> bool:
        with self.store.transaction() as db:
            cursor = db.execute(
                f"update subscribers set active = 0, {'blocked_at' if blocked else 'unsubscribed_at'} = ?"
                " where channel = ? and chat_id = ? and active = 1", [now(), channel, str(chat_id)])
            return cursor.rowcount > 0

    def count(self) -> int:
        return self.store.query("select count(*) n from subscribers where active = 1")[0]["n"]

    # --- alerts -----------------------------------------------------------------------------

    def add_staff_alert(self, day: str, title: str, text: str, created_by: str, scam_type: str | None = None,
                        source: str = "telegram") -> DailyAlert:
        with self.store.transaction() as db:
            alert_id = db["alerts"].insert({"day": day, "title": title, "text": text, "scam_type": scam_type,
                                            "source": source, "created_by": created_by,
                                            "created_at": now()}).last_pk
        return DailyAlert(f"{day}#{alert_id}", day, title, text, scam_type)

    def alert_for(self, day: str, file_alerts: list[DailyAlert]) -> DailyAlert | None:
        rows = self.store.query("select * from alerts where day = :d order by id desc limit 1", {"d": day})
        if rows:
            r = rows[0]
            return DailyAlert(f"{day}#{r['id']}", day, r["title"], r["text"], r["scam_type"])
        return next((a for a in file_alerts if a.day == day), None)

    # --- deliveries -------------------------------------------------------------------------

    def recipients(self, alert: DailyAlert, channel: str) -> list[str]:
        """Active subscribers of ``channel`` not yet reached by this alert ("failed" ones are tried again)."""
        return [r["chat_id"] for r in self.store.query(
            "select s.chat_id from subscribers s left join deliveries d on d.alert_key = :k and d.channel = s.channel"
            " and d.chat_id = s.chat_id where s.channel = :c and s.active = 1"
            " and (d.chat_id is null or d.status = 'failed')"
            " order by s.subscribed_at, s.chat_id", {"k": alert.key, "c": channel})]

    def mark(self, alert: DailyAlert, channel: str, chat_id: str, status: str) -> None:
        with self.store.transaction() as db:
            db["deliveries"].upsert({"alert_key": alert.key, "channel": channel, "chat_id": str(chat_id),
                                     "status": status, "at": now()}, pk=("alert_key", "channel", "chat_id"))

    def tally(self, alert: DailyAlert) -> dict[str, int]:
        return {r["status"]: r["n"] for r in self.store.query(
            "select status, count(*) n from deliveries where alert_key = :k group by status", {"k": alert.key})}
