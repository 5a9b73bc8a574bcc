"""What the core needs from a messenger to reach someone, whatever the messenger is.

Telegram, WeChat and the WeCom robot implement ``Messenger``. The broadcaster, the desk's messages to residents
(``bot.desk.residents``) and the WeCom robot's alerts use only this interface and these errors, so the core never
imports a messenger's library. Telegram's staff chat sends its alerts with buttons and edits them in place, which
plain text cannot say: it keeps that in ``bot.channels.telegram_desk``. The web page cannot be written to.
"""

from __future__ import annotations

from typing import Protocol


class DeliveryError(Exception):
    """A message did not go out and may go out if tried again later."""


class Unreachable(DeliveryError):
    """The address cannot be reached any more (blocked the bot, unfollowed, chat gone): stop sending to it."""


class RateLimited(DeliveryError):
    """The platform asks everyone to wait ``retry_after`` seconds."""

    def __init__(self, retry_after: float, message: str = ""):
        super().__init__(message or f"rate limited: retry after {retry_after:.0f}s")
        self.retry_after = float(retry_after)


class Messenger(Protocol):
    """Sends plain text to one address of one channel."""

    channel: str  # the name stored with addresses: "telegram", "wechat", …

    async def send(self, address: str, text: str) -> str | None:
        """Send ``text``; the platform's message id when it has one. Raises ``DeliveryError`` subclasses."""
        ...
