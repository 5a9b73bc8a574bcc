"""The desk's messages to residents: an officer's words (``Escalations.say``) and the day-after check-in, sent
through whatever messenger the resident wrote from (``bot.messenger.Messenger``: Telegram, WeChat's
customer-service API …), with the outbox's per-target bookkeeping (target ``resident``).

A message that cannot reach the resident (blocked, unfollowed, WeChat's 48-hour window closed) is not retried:
the escalation's record says so and the desk gets an update, so the officer calls instead. Other failures are
retried with the desk's backoff.
"""

from __future__ import annotations

import asyncio
import json
import logging

from bot.desk.escalations import SEEN_WHEN_OPEN
from bot.desk.loop import DeliveryLoop
from bot.desk.outbox import Desk
from bot.messenger import DeliveryError, Messenger, RateLimited, Unreachable

log = logging.getLogger(__name__)
TARGET = "resident"
RESIDENT_KINDS = ("checkin", "resident_message")
NO_MESSENGER_RETRY_SECONDS = 3600.0


class ResidentLoop(DeliveryLoop):
    """Delivers due messages to residents, each through the messenger of the resident's channel."""

    def __init__(self, engine, desk: Desk, messengers: dict[str, Messenger]):
        super().__init__()
        self.engine, self.desk, self.messengers = engine, desk, messengers

    async def start(self) -> None:
        self.start_loop(self.engine.escalations)

    async def stop(self) -> None:
        await self.stop_loop()

    def text_of(self, row: dict) -> str:
        if row["kind"] == "checkin":
            return self.engine.actions.text("utter_check_in")
        return self.engine.actions.text("utter_desk_message", said=json.loads(row["payload"] or "{}").get("text", ""))

    async def deliver_due(self) -> int:
        sent = 0
        for row in await asyncio.to_thread(self.desk.claim, TARGET, 20, RESIDENT_KINDS):
            escalation, _ = await asyncio.to_thread(self.desk.escalation, row["escalation_id"])
            if escalation is None:
                await asyncio.to_thread(self.desk.delivered, row["id"], None, "", TARGET)
                continue
            messenger = self.messengers.get(escalation["channel"])
            if messenger is None:  # this service does not run that messenger (yet): look again later
                await asyncio.to_thread(self.desk.failed, row, f"no messenger for {escalation['channel']}",
                                        NO_MESSENGER_RETRY_SECONDS, TARGET)
                continue
            address = str(escalation["chat_id"])
            if escalation["channel"] == "telegram":
                address = address.split(":")[0]  # "chat:user" in groups
            try:
                await messenger.send(address, self.text_of(row))
            except Unreachable as exc:
                await asyncio.to_thread(self.desk.delivered, row["id"], None, address, TARGET)  # never again
                if row["kind"] == "resident_message":
                    await asyncio.to_thread(self.engine.escalations.message_outcome, escalation["id"], False,
                                            unreachable_reason(str(exc)))
                continue
            except RateLimited as exc:
                await asyncio.to_thread(self.desk.failed, row, str(exc), exc.retry_after, TARGET)
                continue
            except DeliveryError as exc:
                delay = await asyncio.to_thread(self.desk.failed, row, str(exc), None, TARGET)
                log.warning("message %s to a resident not delivered (%s); retry in %.0fs", row["id"], exc, delay)
                continue
            await asyncio.to_thread(self.desk.delivered, row["id"], None, address, TARGET)
            if row["kind"] == "resident_message":
                shown = "居民打开聊天网页时才能看到" if escalation["channel"] in SEEN_WHEN_OPEN else ""
                await asyncio.to_thread(self.engine.escalations.message_outcome, escalation["id"], True, shown)
            sent += 1
        return sent


def unreachable_reason(error: str) -> str:
    """The desk's words for why a message could not reach the resident."""
    if error.startswith("45015"):
        return "居民超过48小时没有发消息，微信不允许再主动回复"
    if error.startswith("43004"):
        return "居民已取消关注"
    if "blocked" in error.lower() or "forbidden" in error.lower():
        return "居民已屏蔽机器人"
    return error[:80]

