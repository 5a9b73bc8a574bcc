"""The duty desk, independent of any messenger: who is staff, what an alert says,
which alerts are due, and which follow-ups the queue needs.

Alerts live in the ``outbox`` table, written in the same transaction as their
escalation. Each target (Telegram's staff chat in ``bot.channels.telegram_desk``,
the WeCom group robot in ``bot.channels.wecom``) *claims* with ``Desk.claim(target)`` what
it has not delivered yet and records ``delivered`` or ``failed`` per row in
``alert_deliveries``: a failed delivery is retried with exponential backoff, across
restarts, until it succeeds, and one target failing never holds up another. A claim holds
a row for CLAIM_SECONDS, so of several workers (``serve --workers N``) exactly one sends it;
a worker that dies holding a claim lets it lapse and another sends the row. Follow-ups are computed from the
database (not from in-memory timers), so a restart loses none of them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone

from bot.config import Settings
from bot.desk.escalations import ANSWERABLE, STATUS_ZH, queue, queue_flood_alert
from bot.redact import mask
from bot.store import Store, ago, now

#: The duty desk's buttons, in order: status → button title.
BUTTONS = {"claimed": "认领", "contacted": "已联系", "dissuaded": "已劝阻", "lost": "已被骗",
           "unreachable": "联系不上", "closed": "关闭"}
LEVEL_ORDER = {"none": 0, "low": 1, "medium": 2, "high": 3, "urgent": 4}
RISK_ZH = {"urgent": "紧急", "high": "高", "medium": "中", "low": "低", "none": "无"}
#: How long a claimed row is left to the worker that claimed it before another may send it (its holder died).
CLAIM_SECONDS = 20
STAFF_KINDS = ("staff_alert", "staff_update", "realert", "reminder", "report_digest", "staff_flood")


@dataclass
class DeskSettings:
    staff_chat_id: str = ""
    staff_user_ids: set[str] = field(default_factory=set)
    realert_after_minutes: float = 10.0
    max_realerts: int = 3
    remind_after_hours: float = 24.0
    check_in_residents: bool = False
    check_in_after_hours: float = 24.0
    retry_max_seconds: float = 300.0
    report_digest_minutes: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> "DeskSettings":
        raw = settings.raw.get("desk") or {}
        staff_ids = os.environ.get("STAFF_USER_IDS")
        ids = staff_ids.split(",") if staff_ids is not None else [str(i) for i in raw.get("staff_user_ids") or []]
        return cls(
            staff_chat_id=str(os.environ.get("STAFF_CHAT_ID") or raw.get("staff_chat_id") or "").strip(),
            staff_user_ids={i.strip() for i in ids if str(i).strip()},
            realert_after_minutes=float(raw.get("realert_after_minutes", 10)),
            max_realerts=int(raw.get("max_realerts", 3)),
            remind_after_hours=float(raw.get("remind_after_hours", 24)),
            check_in_residents=bool(raw.get("check_in_residents", False)),
            check_in_after_hours=float(raw.get("check_in_after_hours", 24)),
            retry_max_seconds=float(raw.get("retry_max_seconds", 300)),
            report_digest_minutes=float(raw.get("report_digest_minutes", 60)),
        )

    def is_staff(self, user_id: int | str | None) -> bool:
        return user_id is not None and str(user_id) in self.staff_user_ids


def _local(stamp: str | None) -> str:
    """A stored UTC time as local time (the server's zone), minutes only."""
    if not stamp:
        return ""
    moment = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    return moment.astimezone().strftime("%m-%d %H:%M")


def digest_text(reports: list[dict]) -> str:
    """The staff chat's digest of residents' reports (values as reported; summaries redacted)."""
    from bot.checks.riskcheck import KIND_ZH

    lines = [f"📮 群众举报 {len(reports)} 条，请核实："]
    for r in reports:
        lines.append(f"#{r['id']} {KIND_ZH.get(r['kind'], r['kind'])} {r['shown']}（{r['reporters']} 人举报）"
                     f"：{mask(r['summary'] or '')[:80]}")
    return "\n".join(lines)


def alert_text(row: dict, events: list[dict], scam_names: dict[str, str], kind: str = "staff_alert") -> str:
    """The duty desk's message for one escalation (redacted; plain text)."""
    heading = {"staff_alert": "🚨 新预警", "realert": "⏰ 仍未认领", "reminder": "⏰ 超过24小时未办结",
               "staff_update": "⚠️ 情况更新"}.get(kind, "🚨 预警")
    cues = "；".join(json.loads(row.get("cues") or "[]")) or "—"
    amount = f"{row['amount']:,.0f} 元" if row.get("amount") else "未提到"
    lines = [
        f"{heading} #{row['id']} · 风险{RISK_ZH.get(row.get('risk') or '', row.get('risk') or '')}",
        f"类型：{scam_names.get(row.get('scam_type') or '', row.get('scam_type') or '不明')}",
        f"来源：{row['channel']} · {mask(str(row['chat_id']))}" + (f" · 联系人：{mask(row['contact'])}" if row.get("contact") else ""),
        f"金额：{amount}",
        f"危险信号：{cues}",
        f"摘要：{mask(row.get('summary') or '', keep_address=row.get('source') == 'visit')}",
        f"时间：{_local(row['created_at'])}　状态：{STATUS_ZH.get(row['status'], row['status'])}",
    ]
    history = [line for line in map(event_line, events) if line]
    if history:
        lines.append("处理记录：")
        lines += history[-12:]  # the newest; the whole record: python -m bot escalation N
    return "\n".join(lines)


def event_line(event: dict) -> str:
    """One line of an escalation's record for the desk (notes masked), or "" for events not shown."""
    at, note = _local(event["at"]), mask(event.get("note") or "")
    action = event["action"]
    if action == "status":
        return f"· {at} {event['actor']} {STATUS_ZH.get(event['status'], event['status'])}" + (f"（{note}）" if note else "")
    if action == "message":
        return f"· {at} {event['actor']} 给居民留言：{note}"
    if action == "message_undelivered":
        return f"· {at} ❗留言没有送到居民（{note or '无法送达'}），请改为电话联系"
    if action == "reply":
        return f"· {at} 💬 居民回复：{note}"
    if action == "message_sent":
        return f"· {at} 留言已送出" + (f"（{note}）" if note else "，居民能看到")
    return ""


def flood_text(members: list[dict], scam_names: dict[str, str], shown: int = 5, payload: str | None = None) -> str:
    """A flood group's alert: how many, from where, the most dangerous, and the number of every member it
    covers (those that joined since the group's previous alert: ``payload`` {"from", "to"})."""
    if not members:
        return ""
    all_members = members
    leader = min(members, key=lambda r: r["id"])
    span = json.loads(payload or "{}")
    covered = [r for r in members if span.get("from", 0) <= r["id"] <= span.get("to", r["id"])]
    if not covered:
        return ""
    ids = sorted(r["id"] for r in covered)
    where = (f"同一网络地址 {leader['origin']}" if leader.get("group_reason") == "origin" and leader.get("origin")
             else "一分钟内大量")
    members = sorted(covered, key=lambda r: (-LEVEL_ORDER.get(r.get("risk") or "", 0), r["id"]))
    lines = [f"🚨 预警刷屏：{where} 新增 {len(ids)} 条预警（#{ids[0]}–#{ids[-1]}），合并为一组 G{leader['id']}"
             f"（这一组共 {len(all_members)} 条）。",
             "可能是恶意刷屏，也可能夹着真实求助：每一条都已记录在队列里，请逐条查看（/queue，/escalation 编号）。",
             "风险最高的几条："]
    for row in members[:shown]:
        lines.append(f"· #{row['id']} 风险{RISK_ZH.get(row.get('risk') or '', row.get('risk') or '')} · "
                     f"{scam_names.get(row.get('scam_type') or '', row.get('scam_type') or '不明')} · "
                     f"{mask(row.get('summary') or '')[:60]}")
    numbers = " ".join(f"#{i}" for i in ids[:200]) + (f" 等 {len(ids)} 条" if len(ids) > 200 else "")
    lines.append(f"全部编号：{numbers}")
    return "\n".join(lines)


def queue_lines(rows: list[dict], scam_names: dict[str, str]) -> list[str]:
    """The open queue as lines, flood groups folded into one line each (most dangerous member named)."""
    lines, groups = [], {}
    for row in rows:
        if row.get("group_id"):
            groups.setdefault(row["group_id"], []).append(row)
    shown_groups = set()
    for row in rows:
        group = row.get("group_id")
        if group:
            if group in shown_groups:
                continue
            shown_groups.add(group)
            members = groups[group]
            worst = max(members, key=lambda r: LEVEL_ORDER.get(r.get("risk") or "", 0))
            lines.append(f"G{group} 刷屏组 {len(members)} 条 · 最高风险{RISK_ZH.get(worst.get('risk') or '', '')}"
                         f"（#{worst['id']}）· {_local(min(m['created_at'] for m in members))}")
            continue
        lines.append(f"#{row['id']} {STATUS_ZH.get(row['status'], row['status'])} · "
                     f"{scam_names.get(row.get('scam_type') or '', row.get('scam_type') or '不明')} · "
                     f"风险{RISK_ZH.get(row.get('risk') or '', '')} · {_local(row['created_at'])}")
    return lines


class Desk:
    """The queue's side of the duty desk: due alerts, delivery bookkeeping, follow-ups."""

    def __init__(self, store: Store, settings: DeskSettings):
        self.store = store
        self.settings = settings

    def escalation(self, escalation_id: int) -> tuple[dict | None, list[dict]]:
        rows = self.store.query("select * from escalations where id = :id", {"id": escalation_id})
        events = self.store.query("select * from escalation_events where escalation_id = :id order by id",
                                  {"id": escalation_id})
        return (rows[0] if rows else None), events

    # Every target (Telegram's staff chat, the WeCom robot …) reads the same outbox and keeps its own delivery
    # record per row in ``alert_deliveries``: one target failing never holds up another.

    def due(self, target: str = "telegram", limit: int = 20, kinds: tuple[str, ...] | None = None) -> list[dict]:
        """Outbox rows not yet delivered to ``target`` whose next attempt is due, oldest first (with the
        target's ``attempts``)."""
        only = f" and o.kind in ({','.join(repr(k) for k in kinds)})" if kinds else ""
        return self.store.query(
            "select o.id, o.kind, o.escalation_id, o.chat_id, o.payload, o.created_at, coalesce(d.attempts, 0) attempts"
            " from outbox o left join alert_deliveries d on d.outbox_id = o.id and d.target = :t"
            f" where d.delivered_at is null and (d.next_attempt_at is null or d.next_attempt_at <= :now){only}"
            " order by o.id limit :n", {"t": target, "now": now(), "n": limit})

    def claim(self, target: str = "telegram", limit: int = 20, kinds: tuple[str, ...] | None = None,
              hold: float = CLAIM_SECONDS) -> list[dict]:
        """The due rows (as ``due``) this worker may now send, each held for ``hold`` seconds.

        The claim is one conditional upsert per row: it succeeds only while the row is still due, and PostgreSQL
        re-checks that condition on the newest version of a row another worker has just claimed, so two workers
        never both get one. ``FOR UPDATE SKIP LOCKED`` makes a worker pass over rows another is claiming instead
        of queueing behind it. ``release`` gives back what was claimed and not tried.
        """
        only = f" and o.kind in ({','.join(repr(k) for k in kinds)})" if kinds else ""
        skip = " for update of o skip locked" if self.store.backend == "postgresql" else ""
        stamp = now()
        until = datetime.fromtimestamp(datetime.now(timezone.utc).timestamp() + hold, timezone.utc)
        with self.store.transaction() as db:
            rows = list(db.query(
                "select o.id, o.kind, o.escalation_id, o.chat_id, o.payload, o.created_at,"
                " coalesce(d.attempts, 0) attempts"
                " from outbox o left join alert_deliveries d on d.outbox_id = o.id and d.target = :t"
                f" where d.delivered_at is null and (d.next_attempt_at is null or d.next_attempt_at <= :now){only}"
                f" order by o.id limit :n{skip}", {"t": target, "now": stamp, "n": limit}))
            claimed = []
            for row in rows:
                taken = db.execute(
                    "insert into alert_deliveries (outbox_id, target, attempts, next_attempt_at)"
                    " values (:id, :t, 0, :until) on conflict(outbox_id, target) do update"
                    " set next_attempt_at = excluded.next_attempt_at"
                    " where alert_deliveries.delivered_at is null and (alert_deliveries.next_attempt_at is null"
                    " or alert_deliveries.next_attempt_at <= :now)",
                    {"id": row["id"], "t": target, "until": until.strftime("%Y-%m-%d %H:%M:%S"), "now": stamp})
                if taken.rowcount == 1:
                    claimed.append(row)
        return claimed

    def release(self, rows: list[dict], target: str = "telegram") -> None:
        """Give back claimed rows not tried (a robot's minute used up): due again at once, for any worker."""
        if not rows:
            return
        with self.store.transaction() as db:
            db.executemany("update alert_deliveries set next_attempt_at = null"
                           " where outbox_id = ? and target = ? and delivered_at is null",
                           [[row["id"], target] for row in rows])

    def pending(self, target: str = "telegram") -> int:
        return self.store.query(
            "select count(*) n from outbox o left join alert_deliveries d on d.outbox_id = o.id and d.target = :t"
            " where d.delivered_at is null", {"t": target})[0]["n"]

    def delivered(self, outbox_id: int, message_id: int | None, chat_id: str, target: str = "telegram") -> None:
        with self.store.transaction() as db:
            db.execute("insert into alert_deliveries (outbox_id, target, attempts, delivered_at, message_id, chat_id)"
                       " values (?, ?, 1, ?, ?, ?) on conflict(outbox_id, target) do update set"
                       " attempts = alert_deliveries.attempts + 1, delivered_at = excluded.delivered_at, message_id = excluded.message_id,"
                       " chat_id = excluded.chat_id, last_error = null",
                       [outbox_id, target, now(), message_id, chat_id])

    def failed(self, row: dict, error: str, retry_after: float | None = None, target: str = "telegram") -> float:
        """Record a failed delivery to ``target``; returns the seconds until the next attempt."""
        attempts = (row.get("attempts") or 0) + 1
        delay = retry_after if retry_after else min(2 ** attempts, self.settings.retry_max_seconds)
        when = datetime.now(timezone.utc).timestamp() + delay
        stamp = datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        with self.store.transaction() as db:
            db.execute("insert into alert_deliveries (outbox_id, target, attempts, next_attempt_at, last_error)"
                       " values (?, ?, ?, ?, ?) on conflict(outbox_id, target) do update set"
                       " attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at,"
                       " last_error = excluded.last_error", [row["id"], target, attempts, stamp, error[:300]])
        return delay

    def alert_messages(self, escalation_id: int, target: str = "telegram") -> list[dict]:
        """Delivered staff messages of an escalation on ``target`` (to edit when its status changes)."""
        return self.store.query(
            "select d.chat_id, d.message_id from outbox o join alert_deliveries d on d.outbox_id = o.id"
            " where o.escalation_id = :id and d.target = :t and d.delivered_at is not null"
            " and d.message_id is not null and o.kind in ('staff_alert', 'realert', 'reminder')",
            {"id": escalation_id, "t": target})

    def schedule_follow_ups(self) -> int:
        """Queue re-alerts, reminders and (optionally) check-ins that are due; returns how many."""
        queued, stamp, s = 0, now(), self.settings
        with self.store.transaction() as db:
            db.lock("follow-ups")  # every worker calls this: one at a time, each sees what the last one queued
            unclaimed = list(db.query(
                "select id from escalations where status = 'open' and realerts < :max"
                " and coalesce(realerted_at, created_at) <= :due",
                {"max": s.max_realerts, "due": ago(minutes=s.realert_after_minutes)}))
            for row in unclaimed:
                db.execute("update escalations set realerted_at = ?, realerts = realerts + 1 where id = ?",
                           [stamp, row["id"]])
                queue(db, "realert", row["id"])
                queued += 1
            stale = list(db.query(
                "select id from escalations where status in ('claimed', 'contacted') and reminded_at is null"
                " and claimed_at <= :due", {"due": ago(hours=s.remind_after_hours)}))
            for row in stale:
                db.execute("update escalations set reminded_at = ? where id = ?", [stamp, row["id"]])
                queue(db, "reminder", row["id"])
                queued += 1
            for group in db.query("select group_id, max(id) newest from escalations where group_id is not null"
                                  " and created_at >= :since group by group_id", {"since": ago(hours=24)}):
                queued += queue_flood_alert(db, group["group_id"], group["newest"], stragglers=True)
            waiting = list(db.query("select id from reports where status = 'new' and digested_at is null"))
            recent = list(db.query("select 1 from outbox where kind = 'report_digest' and created_at > :since",
                                   {"since": ago(minutes=s.report_digest_minutes)}))
            if waiting and (not recent or len(waiting) >= 10):
                ids = [r["id"] for r in waiting[:10]]
                db.execute(f"update reports set digested_at = ? where id in ({','.join('?' * len(ids))})",
                           [stamp, *ids])
                queue(db, "report_digest", None, json.dumps({"reports": ids}))
                queued += 1
            if s.check_in_residents:
                quiet = list(db.query(
                    "select id, chat_id from escalations where channel in"
                    f" ({', '.join(repr(c) for c in ANSWERABLE)}) and checked_in_at is null"
                    " and created_at <= :due", {"due": ago(hours=s.check_in_after_hours)}))
                for row in quiet:
                    db.execute("update escalations set checked_in_at = ? where id = ?", [stamp, row["id"]])
                    queue(db, "checkin", row["id"], chat_id=row["chat_id"])
                    queued += 1
        return queued
