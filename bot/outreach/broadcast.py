"""Daily warnings (每日预警) to residents who subscribed, through any messenger, at its broadcast pace.

The day's alert comes from the staff's ``/alert`` on Telegram (the newest for that
day), else from ``content/alerts/*.yml`` with that ``date``. Every subscriber gets it
once: a ``deliveries`` row is written as "sending" before the message goes out and
"sent" after, so a broadcast that crashed resumes with the people not yet reached
and never sends anyone a second copy (a message cut off mid-send is counted as
"unknown", not resent). Subscribers who blocked the bot are dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import date as Date
from pathlib import Path

from bot.messenger import DeliveryError, Messenger, RateLimited, Unreachable
from bot.outreach.subscriptions import DailyAlert, Subscriptions
from bot.problems import InvalidFiles, Problem, display_path
from bot.yamlfile import load_yaml, scalar

log = logging.getLogger(__name__)


def load_file_alerts(directory: Path, root: Path | None = None, scam_types: set[str] | None = None,
                     problems: list[Problem] | None = None) -> list[DailyAlert]:
    """Alerts written by staff as files (date, title, text, optional scam_type)."""
    alerts, found = [], []
    for path in sorted(directory.glob("*.yml")) if directory.exists() else []:
        name = display_path(path, root)
        try:
            doc = load_yaml(path, root)
        except InvalidFiles as exc:
            found.extend(exc.problems)
            continue
        if not isinstance(doc, dict):
            found.append(Problem(name, 1, "expected date, title and text", "应包含 date、title、text"))
            continue
        day = str(doc.get("date") or "")
        try:
            Date.fromisoformat(day)
        except ValueError:
            found.append(Problem(name, doc.line_of("date"), f"date “{day}” must look like 2026-12-01",
                                 f"日期“{day}”格式应为 2026-12-01"))
            continue
        missing = [k for k in ("title", "text") if not str(doc.get(k) or "").strip()]
        for key in missing:
            found.append(Problem(name, doc.line, f"missing '{key}'", f"缺少 {key}"))
        scam_type = scalar(doc, "scam_type", name, found, text=True)
        if scam_type and scam_types is not None and scam_type not in scam_types:
            found.append(Problem(name, doc.line_of("scam_type"), f"unknown scam type '{scam_type}'",
                                 f"没有诈骗类型 '{scam_type}'"))
        if len(str(doc.get("text") or "")) > 1000:
            found.append(Problem(name, doc.line_of("text"), "text longer than 1000 characters — shorten it",
                                 "正文超过 1000 字 — 请缩短"))
        if not missing:
            alerts.append(DailyAlert(day, day, str(doc["title"]).strip(), str(doc["text"]).strip(), scam_type))
    if problems is not None:
        problems.extend(found)
    elif found:
        raise InvalidFiles(found)
    return alerts


def parse_alert_command(text: str, today: Date | None = None) -> tuple[str, str, str] | None:
    """``/alert [YYYY-MM-DD] 标题`` then the text on the next lines (or after a colon)."""
    body = text.split(maxsplit=1)[1] if len(text.split(maxsplit=1)) > 1 else ""
    first, _, rest = body.partition("\n")
    day = str(today or Date.today())
    words = first.split(maxsplit=1)
    if words and len(words[0]) == 10:
        try:
            day = str(Date.fromisoformat(words[0]))
            first = words[1] if len(words) > 1 else ""
        except ValueError:
            pass
    if not rest.strip():
        for colon in ("：", ":"):
            if colon in first:
                first, _, rest = first.partition(colon)
                break
    title, rest = first.strip(), rest.strip()
    if not title or not rest:
        return None
    return day, title[:60], rest[:1000]


class Broadcaster:
    """Sends the day's alert; used by the daily job, /broadcast and ``python -m bot broadcast``."""

    def __init__(self, subscriptions: Subscriptions, messenger: Messenger, content_dir: Path, footer: str,
                 rate_per_second: float = 30.0, workers: int = 8):
        self.subscriptions, self.messenger, self.content_dir = subscriptions, messenger, content_dir
        self.footer, self.rate, self.workers = footer, rate_per_second, workers
        self.lock = asyncio.Lock()

    async def run(self, day: str) -> dict | None:
        async with self.lock:  # the daily job and a staff command never send in parallel
            alert = self.subscriptions.alert_for(day, load_file_alerts(self.content_dir / "alerts", problems=[]))
            if alert is None:
                return None
            return await broadcast(self.messenger, self.subscriptions, alert, alert.message(self.footer),
                                   self.rate, self.workers)

    async def run_today(self) -> dict | None:
        return await self.run(str(Date.today()))


async def broadcast(messenger: Messenger, subscriptions: Subscriptions, alert: DailyAlert, text: str,
                    rate_per_second: float = 30.0, workers: int = 8) -> dict:
    """Send ``text`` to everyone of the messenger's channel not yet reached, at most ``rate_per_second`` a second."""
    from aiolimiter import AsyncLimiter

    channel = messenger.channel
    # A bucket of a fiftieth of a second: aiolimiter's bucket of a whole second would let a fresh (or restarted)
    # run send a second's worth at once on top of the steady rate, so any one second could see up to 2 × rate.
    # With this bucket the worst second is 1.02 × rate (rate + 1 below 50 a second) and the steady rate is kept.
    period = max(0.02, 1.0 / rate_per_second)
    limiter = AsyncLimiter(rate_per_second * period, period)
    queue: asyncio.Queue = asyncio.Queue()
    for chat_id in subscriptions.recipients(alert, channel):
        queue.put_nowait(chat_id)
    total = queue.qsize()
    paused_until = [0.0]
    started = time.monotonic()

    async def worker():
        while True:
            try:
                chat_id = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            subscriptions.mark(alert, channel, chat_id, "sending")
            for attempt in range(5):
                wait = paused_until[0] - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                async with limiter:
                    try:
                        await messenger.send(chat_id, text)
                        subscriptions.mark(alert, channel, chat_id, "sent")
                        break
                    except RateLimited as exc:  # the platform asks everyone to wait
                        paused_until[0] = time.monotonic() + exc.retry_after
                    except Unreachable as exc:  # blocked the bot, or the chat is gone: drop the subscriber
                        log.info("dropping subscriber %s: %s", chat_id, exc)
                        subscriptions.mark(alert, channel, chat_id, "blocked")
                        subscriptions.unsubscribe(channel, chat_id, blocked=True)
                        break
                    except DeliveryError as exc:
                        log.warning("broadcast to %s failed (%s), attempt %d", chat_id, exc, attempt + 1)
                        await asyncio.sleep(min(2 ** attempt, 10))
            else:
                subscriptions.mark(alert, channel, chat_id, "failed")

    await asyncio.gather(*(worker() for _ in range(max(1, workers))))
    tally = subscriptions.tally(alert)
    return {"alert": alert.key, "title": alert.title, "recipients_this_run": total,
            "seconds": round(time.monotonic() - started, 1), **tally}
