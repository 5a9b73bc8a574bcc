"""Duty-desk alerts in a WeCom (企业微信) group, through the group robot's webhook (``WECOM_WEBHOOK_URL``).

The robot reads the same durable outbox as Telegram's desk, with a delivery record of its own
(``alert_deliveries``, target ``wecom``), so both can be configured at once and neither waits for the
other. A robot accepts 20 messages a minute: the sender keeps under that, and when several alerts are due
at once it merges them into one message (every escalation number in it) rather than dropping any. A
failed post (an HTTP error, a time-out, a non-zero errcode such as a rate limit) leaves the alerts due,
retried with backoff, across restarts. A robot cannot receive button presses, so each alert says how to
act on it from the duty computer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import deque

import httpx

from bot.desk.escalations import ANSWERABLE, STATUS_ZH
from bot.desk.loop import DeliveryLoop
from bot.desk.outbox import RISK_ZH, STAFF_KINDS, Desk, alert_text, digest_text, flood_text
from bot.dialogue.engine import Engine
from bot.messenger import DeliveryError, RateLimited
from bot.redact import loggable, mask

log = logging.getLogger(__name__)
TARGET = "wecom"
PER_MINUTE = 20  # WeCom's limit per group robot
MAX_BYTES = 4000  # a markdown message's content is at most 4,096 bytes
RATE_LIMIT_RETRY_SECONDS = 60.0  # the longest wait after the robot's "over the limit"
FOLLOW_UP_SECONDS = 30  # how often re-alerts, reminders and a flood group's last alert are looked for


def how_to_act(escalation: dict) -> str:
    text = (f"处理：在值班电脑上运行 python -m bot escalation {escalation['id']} --set claimed（认领），"
            f"之后 --set contacted / dissuaded / lost / unreachable / closed --note \"情况\"")
    if escalation["channel"] in ANSWERABLE:
        text += "；给居民留言：--say \"留言内容\""
    return text


class WeComRobot:
    """A WeCom group robot as a ``bot.messenger.Messenger``: its one group is the only address."""

    channel = TARGET

    def __init__(self, webhook_url: str, client: httpx.AsyncClient):
        self.url, self.client = webhook_url, client

    async def send(self, address: str, text: str) -> str | None:
        try:
            response = await self.client.post(self.url, json={"msgtype": "markdown", "markdown": {"content": text}})
            data = response.json() if response.content else {}
        except (httpx.HTTPError, ValueError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise DeliveryError(f"HTTP {response.status_code}")
        errcode = data.get("errcode", 0)
        if errcode == 45009:  # over the robot's 20 a minute
            raise RateLimited(RATE_LIMIT_RETRY_SECONDS, f"errcode 45009: {data.get('errmsg', '')}")
        if errcode != 0:
            raise DeliveryError(f"errcode {errcode}: {data.get('errmsg', '')}")
        return None


class WeComDesk(DeliveryLoop):
    """Delivers due staff alerts to one WeCom group robot."""

    def __init__(self, engine: Engine, desk: Desk, webhook_url: str, per_minute: int = PER_MINUTE,
                 timeout: float = 10.0):
        super().__init__()
        self.engine, self.desk, self.url = engine, desk, webhook_url
        self.per_minute, self.timeout = per_minute, timeout
        self.sent_at: deque[float] = deque()
        self.client: httpx.AsyncClient | None = None
        self.robot: WeComRobot | None = None
        self.last_follow_up = 0.0

    @classmethod
    def from_env(cls, engine: Engine, desk: Desk) -> "WeComDesk | None":
        url = os.environ.get("WECOM_WEBHOOK_URL", "").strip()
        return cls(engine, desk, url) if url else None

    async def start(self) -> None:
        self.client = httpx.AsyncClient(timeout=self.timeout)
        self.robot = WeComRobot(self.url, self.client)
        self.start_loop(self.engine.escalations)

    async def stop(self) -> None:
        await self.stop_loop()
        if self.client:
            await self.client.aclose()

    # --- the outbox, as this target sees it (bookkeeping in the desk, per target) -----------------

    def claim(self, limit: int = 200) -> list[dict]:
        return self.desk.claim(TARGET, limit, kinds=STAFF_KINDS)

    def _mark(self, rows: list[dict], error: DeliveryError | None) -> float:
        delay = 0.0
        for row in rows:
            if error is None:
                self.desk.delivered(row["id"], None, "", TARGET)
                continue
            # Over the robot's limit, its minute is over within 60 s: the backoff never waits longer.
            limit = (min(2.0 ** ((row.get("attempts") or 0) + 1), error.retry_after)
                     if isinstance(error, RateLimited) else None)
            delay = self.desk.failed(row, str(error), limit, TARGET)
        return delay

    # --- texts --------------------------------------------------------------------------------

    def text_of(self, row: dict) -> str:
        names = {k: v.name for k, v in self.engine.content.scams.items()}
        if row["kind"] == "report_digest":
            ids = json.loads(row["payload"] or "{}").get("reports", [])
            reports = [r for r in self.engine.risklist.reports(limit=500) if r["id"] in ids]
            return digest_text(reports) + "\n审核：python -m bot reports" if reports else ""
        if row["kind"] == "staff_flood":
            return flood_text(self.engine.escalations.group(row["escalation_id"]), names, payload=row["payload"])
        escalation, events = self.desk.escalation(row["escalation_id"])
        if escalation is None:
            return ""
        text = alert_text(escalation, events, names, row["kind"])
        if escalation["status"] in ("open", "claimed", "contacted"):
            text += "\n" + how_to_act(escalation)
        else:
            text += f"\n（已{STATUS_ZH.get(escalation['status'], escalation['status'])}，无需处理）"
        return text

    def line_of(self, row: dict) -> str:
        """One escalation in a merged message: number, risk, type, the start of the summary."""
        if row["kind"] in ("staff_flood", "report_digest"):
            return self.text_of(row)
        escalation, _ = self.desk.escalation(row["escalation_id"])
        if escalation is None:
            return ""
        names = {k: v.name for k, v in self.engine.content.scams.items()}
        heading = {"staff_update": "更新", "realert": "仍未认领", "reminder": "未办结"}.get(row["kind"], "新预警")
        return (f"#{escalation['id']} {heading} · 风险{RISK_ZH.get(escalation['risk'] or '', '')} · "
                f"{names.get(escalation['scam_type'] or '', escalation['scam_type'] or '不明')} · "
                f"{mask(escalation['summary'] or '')[:50]}")

    def batches(self, rows: list[dict]) -> list[tuple[list[dict], str]]:
        """Due alerts as messages: one each while the robot has room this minute, merged when they pile up."""
        # Alerts go one by one while less than half the minute's budget is used; beyond that they are merged
        # (one short line each), so a burst keeps room for what comes after it.
        room = self.per_minute // 2 - self._sent_last_minute()
        if len(rows) <= room:
            return [([row], self.text_of(row)) for row in rows]
        texts = [(row, self.line_of(row)) for row in rows]
        merged, current, size = [], [], 0
        heading = f"🚨 {len(texts)} 条预警同时到达，合并发送（详情：python -m bot escalation 编号）："
        for row, text in texts:
            piece = text
            length = len(piece.encode()) + 2
            if current and size + length > MAX_BYTES - len(heading.encode()):
                merged.append(current)
                current, size = [], 0
            current.append((row, piece))
            size += length
        if current:
            merged.append(current)
        return [([r for r, _ in group], (heading + "\n\n" if len(group) > 1 else "") + "\n\n".join(t for _, t in group))
                for group in merged]

    def _sent_last_minute(self) -> int:
        while self.sent_at and time.monotonic() - self.sent_at[0] > 60:
            self.sent_at.popleft()
        return len(self.sent_at)

    # --- sending --------------------------------------------------------------------------------

    async def post(self, text: str) -> DeliveryError | None:
        """Post one text through the robot; None on success, else what went wrong."""
        self.sent_at.append(time.monotonic())
        try:
            await self.robot.send("", text)
        except DeliveryError as exc:
            return exc
        return None

    def pace(self) -> float:
        """Seconds to wait before the next post once half the minute's budget is spent, so that alerts
        arriving one by one pile up and go out merged instead of using up the robot's minute."""
        sent = self._sent_last_minute()
        if sent < self.per_minute // 2 or not self.sent_at:
            return 0.0
        interval = 60.0 / max(1, self.per_minute - sent)
        return max(0.0, self.sent_at[-1] + interval - time.monotonic())

    async def deliver_due(self) -> int:
        if time.monotonic() - self.last_follow_up > FOLLOW_UP_SECONDS:  # re-alerts and reminders, from the database
            self.last_follow_up = time.monotonic()
            await asyncio.to_thread(self.desk.schedule_follow_ups)
        if self.pace() > 0:
            return 0  # woken again within the interval: what is due waits and is merged
        rows = await asyncio.to_thread(self.claim)
        delivered, tried = 0, set()
        try:
            delivered = await self._deliver(rows, tried)
        finally:  # what this round did not try is due again at once, for whichever worker comes first
            await asyncio.to_thread(self.desk.release, [r for r in rows if r["id"] not in tried], TARGET)
        return delivered

    async def _deliver(self, rows: list[dict], tried: set[int]) -> int:
        delivered = 0
        for group, text in self.batches(rows):
            if text and self.pace() > 0:
                break
            if text and self._sent_last_minute() >= self.per_minute:
                break  # the robot's minute is used up: the rest wait for the next round (merged if they pile up)
            tried.update(row["id"] for row in group)
            if not text:
                await asyncio.to_thread(self._mark, group, None)  # nothing left to say (a deleted record)
                continue
            error = await self.post(text)
            if error:
                delay = await asyncio.to_thread(self._mark, group, error)
                log.warning("WeCom robot refused %d alert(s) (%s); retry in %.0fs", len(group), loggable(str(error)), delay)
                if isinstance(error, RateLimited):
                    break  # the robot says its minute is used up: the rest wait, merged, for the next round
                continue
            await asyncio.to_thread(self._mark, group, None)
            delivered += len(group)
        return delivered
