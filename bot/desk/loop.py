"""The loop every desk target runs: deliver what is due as soon as an escalation is recorded, and every two
seconds in any case (retries, follow-ups). Targets (Telegram's staff chat, the WeCom robot) subclass it and
say only how they deliver; the loop never dies of a delivery error."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


class DeliveryLoop:
    idle_seconds = 2.0

    def __init__(self):
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None

    def start_loop(self, escalations) -> None:
        """Wake on every escalation ``escalations`` records (from any thread), then run until stopped."""
        loop = asyncio.get_running_loop()
        escalations.listeners.append(lambda _id: loop.call_soon_threadsafe(self.wake.set))
        self.task = asyncio.create_task(self.deliver_forever())

    async def stop_loop(self) -> None:
        if self.task:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass

    async def deliver_forever(self) -> None:
        while True:
            try:
                await self.deliver_due()
            except Exception:  # never let the loop die: alerts must keep going out
                log.exception("%s: alert delivery loop error", type(self).__name__)
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=self.idle_seconds)
            except asyncio.TimeoutError:
                pass
            self.wake.clear()

    async def deliver_due(self) -> int:
        raise NotImplementedError
