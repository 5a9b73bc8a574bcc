"""Residents on Telegram (python-telegram-bot 22): one handler per intention.

Text (also forwarded and edited messages) goes to the engine; buttons come back as
callback queries with the button's payload; stickers, photos, voice notes and files
get a polite "please type it" answer. In groups the bot answers only when mentioned
or replied to. Replies are sent as plain text (nothing in a resident's words can be
read as markup), split under Telegram's 4096-character limit, through
``AIORateLimiter`` so floods never hit Telegram's limits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import (AIORateLimiter, Application, ApplicationBuilder, CallbackQueryHandler, CommandHandler,
                          ContextTypes, MessageHandler, filters)

from bot.dialogue.engine import Engine, TurnResult
from bot.dialogue.responses import Reply
from bot.images.decode import MAX_BYTES
from bot.images.reader import Reading
from bot.messenger import DeliveryError, RateLimited, Unreachable
from bot.redact import loggable, mask

os.environ.setdefault("PTB_TIMEDELTA", "1")  # retry_after as a timedelta, as future versions will have it
log = logging.getLogger(__name__)
CHANNEL = "telegram"
LIMIT = 4096
DEFAULT_BASE_URL = "https://api.telegram.org/bot"


def split_text(text: str, limit: int = LIMIT) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at line breaks where possible."""
    pieces, current = [], ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            pieces.append(current)
            current = ""
        current += line
    if current or not pieces:
        pieces.append(current)
    return [p.rstrip("\n") or " " for p in pieces]


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """Big buttons, one per row (easier for elderly residents to hit)."""
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.title, callback_data=b.payload[:64])] for b in reply.buttons])


class FloodGate:
    """Per-chat flood control: beyond ``burst`` messages in ``window`` seconds the engine still
    reads every message (nothing is lost, escalations still fire) but only urgent replies and
    one "slow down" notice are sent."""

    def __init__(self, burst: int = 6, window: float = 10.0, chats: int = 50_000):
        self.burst, self.window, self.chats = burst, window, chats
        self.seen: OrderedDict[str, list[float]] = OrderedDict()
        self.noticed: dict[str, float] = {}

    def check(self, chat: str) -> str:
        """"ok", "notice" (first message over the limit) or "quiet"."""
        now = time.monotonic()
        stamps = [t for t in self.seen.pop(chat, []) if now - t < self.window] + [now]
        self.seen[chat] = stamps
        while len(self.seen) > self.chats:
            old, _ = self.seen.popitem(last=False)
            self.noticed.pop(old, None)
        if len(stamps) <= self.burst:
            return "ok"
        if now - self.noticed.get(chat, -1e9) > self.window:
            self.noticed[chat] = now
            return "notice"
        return "quiet"


def seconds(delay) -> float:
    """A retry_after as seconds (an int or a timedelta, depending on the library version)."""
    return delay.total_seconds() if hasattr(delay, "total_seconds") else float(delay)


class TelegramMessenger:
    """Telegram as a ``bot.messenger.Messenger``: plain text to a chat id, its errors as the core's."""

    channel = CHANNEL

    def __init__(self, bot):
        self.bot = bot

    async def send(self, address: str, text: str) -> str | None:
        try:
            message = await self.bot.send_message(address, text)
        except RetryAfter as exc:
            raise RateLimited(seconds(exc.retry_after)) from exc
        except (Forbidden, BadRequest) as exc:  # blocked the bot, or the chat does not exist
            raise Unreachable(str(exc)) from exc
        except TelegramError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        return str(message.message_id)


async def send_text(bot, chat_id: int | str, text: str, markup=None, attempts: int = 4) -> Message | None:
    """Send plain text with retries on timeouts and network errors (429s: the rate limiter)."""
    message = None
    pieces = split_text(text)
    for index, piece in enumerate(pieces):
        for attempt in range(attempts):
            try:
                message = await bot.send_message(chat_id, piece,
                                                 reply_markup=markup if index == len(pieces) - 1 else None)
                break
            except RetryAfter as exc:
                await asyncio.sleep(seconds(exc.retry_after))
            except (TimedOut, NetworkError) as exc:
                if attempt == attempts - 1:
                    raise
                log.warning("send to %s failed (%s), retrying", chat_id, exc)
                await asyncio.sleep(min(2 ** attempt, 8))
    return message


class ResidentBot:
    """The residents' side of the Telegram bot."""

    def __init__(self, engine: Engine, flood: FloodGate | None = None):
        self.engine = engine
        self.flood = flood or FloodGate()

    # --- wiring -----------------------------------------------------------------------------

    def register(self, app: Application) -> None:
        app.add_handler(CommandHandler("start", self.on_command))
        app.add_handler(CommandHandler("help", self.on_command))
        app.add_handler(CommandHandler("hotline", self.on_command))
        for command in ("report", "check", "subscribe", "unsubscribe", "quiz", "case", "elder", "visit", "cancel"):
            app.add_handler(CommandHandler(command, self.on_command))
        app.add_handler(CallbackQueryHandler(self.on_button, pattern=r"^/[a-z_]+(:[A-Za-z0-9_-]+)*$"))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self.on_text))
        app.add_handler(MessageHandler(filters.COMMAND, self.on_unknown_command))
        app.add_handler(MessageHandler(filters.PHOTO | filters.Document.IMAGE, self.on_picture))
        app.add_handler(MessageHandler(~filters.TEXT & ~filters.StatusUpdate.ALL, self.on_media))
        app.add_error_handler(self.on_error)

    # --- helpers ----------------------------------------------------------------------------

    @staticmethod
    def user_key(update: Update) -> str:
        chat, user = update.effective_chat, update.effective_user
        if chat.type == ChatType.PRIVATE or user is None:
            return str(chat.id)
        return f"{chat.id}:{user.id}"

    @staticmethod
    def addressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | None:
        """The message's text or caption (without the bot's @mention) when it is for the bot: in private chats
        always, in groups only when mentioned or replied to; None otherwise (or when there is no message)."""
        message = update.effective_message
        if message is None or update.effective_chat is None:
            return None
        text = message.text or message.caption or ""
        if update.effective_chat.type == ChatType.PRIVATE:
            return text
        username = context.bot.username or ""
        mention = f"@{username}"
        if username and mention.lower() in text.lower():
            start = text.lower().index(mention.lower())
            return (text[:start] + text[start + len(mention):]).strip()
        reply = message.reply_to_message
        if reply and reply.from_user and reply.from_user.id == context.bot.id:
            return text
        return None

    async def deliver(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, result: TurnResult,
                      gate: str) -> None:
        replies = result.replies
        if gate != "ok":
            replies = [r for r in replies if r.urgent]
            if gate == "notice":
                replies.append(Reply("您发的消息有点多，我都收到了，请稍等一下再发。紧急情况请直接拨打 110。"))
        for reply in replies:
            await send_text(context.bot, chat_id, reply.text, keyboard(reply))
            if reply.voice:
                await self.speak(context.bot, chat_id, reply.text)

    @staticmethod
    async def speak(bot, chat_id: int, text: str) -> None:
        """The reply as a short voice message (长辈模式); text-only when speech is unavailable."""
        from bot.outreach import voice

        spoken = await asyncio.to_thread(voice.synthesize, text)
        if spoken is None:
            return
        audio, seconds = spoken
        try:
            await bot.send_voice(chat_id, audio, duration=int(round(seconds)))
        except (TimedOut, NetworkError, BadRequest) as exc:  # the text already went out
            log.warning("voice message to %s failed: %s", chat_id, exc)

    async def converse(self, update: Update, context: ContextTypes.DEFAULT_TYPE, text: str,
                       gated: bool = True) -> None:
        chat_id = update.effective_chat.id
        key = self.user_key(update)
        gate = self.flood.check(key) if gated else "ok"  # button presses answer our own questions
        result = await self.engine.handle_async(CHANNEL, key, text)
        await self.deliver(context, chat_id, result, gate)

    # --- handlers ---------------------------------------------------------------------------

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        text = self.addressed(update, context)
        if text is not None:
            await self.converse(update, context, text)

    async def on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        words = (message.text or "/start").split(maxsplit=1)
        if update.effective_chat.type != ChatType.PRIVATE and "@" not in words[0]:
            return  # in groups only commands addressed to us
        command = words[0].split("@")[0]
        await self.converse(update, context, command + (f" {words[1]}" if len(words) > 1 else ""))

    async def on_unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_chat.type == ChatType.PRIVATE:
            await self.converse(update, context, "/help")

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        try:
            await query.answer()
        except (BadRequest, NetworkError) as exc:  # an old button: answering is best effort
            log.info("callback answer failed: %s", exc)
        try:
            await query.edit_message_reply_markup(None)  # one answer per question
        except (BadRequest, NetworkError):
            pass
        if update.effective_chat is None:
            return
        await self.converse(update, context, query.data, gated=False)

    async def on_picture(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A screenshot or photo (also sent as a file): read it, then a turn on what it shows and its caption."""
        caption = self.addressed(update, context)
        if caption is None:
            return
        message = update.effective_message
        key = self.user_key(update)
        gate = self.flood.check(key)
        pictures = self.engine.pictures
        limit = pictures.reader.limits.max_bytes if pictures is not None else MAX_BYTES
        if message.photo:  # sizes from small to large: the largest within the limit
            fitting = [p for p in message.photo if (p.file_size or 0) <= limit] or message.photo[:1]
            file_id, size = fitting[-1].file_id, fitting[-1].file_size or 0
        else:
            file_id, size = message.document.file_id, message.document.file_size or 0
        if size > limit:
            result = await asyncio.to_thread(self.engine.handle_picture, CHANNEL, key, Reading(error="too_big"),
                                             caption)
            return await self.deliver(context, update.effective_chat.id, result, gate)
        try:
            data = bytes(await (await context.bot.get_file(file_id)).download_as_bytearray())
        except TelegramError as exc:  # network, time-out, a file Telegram no longer has
            log.warning("could not download a resident's picture: %s", exc)
            result = await asyncio.to_thread(self.engine.handle_picture, CHANNEL, key, Reading(error="download"),
                                             caption)
            return await self.deliver(context, update.effective_chat.id, result, gate)
        result = await self.engine.handle_picture_async(CHANNEL, key, data, caption)
        await self.deliver(context, update.effective_chat.id, result, gate)

    async def on_media(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        caption = self.addressed(update, context)
        if caption is None:
            return
        message = update.effective_message
        if caption.strip():  # a photo of an SMS with a caption: the caption is the description
            return await self.converse(update, context, caption)
        kind = next((k for k in ("sticker", "photo", "voice", "audio", "video", "document", "location", "contact")
                     if getattr(message, k, None)), "other")
        result = self.engine.unreadable(CHANNEL, self.user_key(update), kind)
        await self.deliver(context, update.effective_chat.id, result, self.flood.check(self.user_key(update)))

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        if isinstance(error, Forbidden):
            log.info("a resident blocked the bot: %s", error)
            return
        text = ""
        if isinstance(update, Update) and update.effective_message:
            text = loggable(mask(update.effective_message.text or "")[:80])
        log.error("error while handling an update (%s): %r", text, error, exc_info=error)


def build_application(token: str, base_url: str | None = None, rate_limiter: bool = True) -> Application:
    """The one place the Telegram application is configured."""
    # No updater: updates come through the database (``bot.channels.telegram_inbox``), from the long poller
    # or the webhook, so none is lost with its worker.
    builder = ApplicationBuilder().token(token).base_url(base_url or DEFAULT_BASE_URL).updater(None)
    if base_url and base_url.rstrip("/").endswith("/bot"):
        builder = builder.base_file_url(base_url.rstrip("/")[:-4] + "/file/bot")
    if rate_limiter:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    return builder.build()
