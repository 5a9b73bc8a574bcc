"""The WeChat Official Account (微信公众号) channel, with wechatpy.

``GET /wechat`` answers WeChat's server verification (``echostr`` back only for a valid signature);
``POST /wechat`` receives messages and events, plain or encrypted (safe mode, when ``WECHAT_AES_KEY`` is
set). A request whose signature does not verify gets 403 and is not read further.

A message is answered with the same replies as on every other channel. WeChat waits five seconds for a
passive reply: when the turn is ready within ``PASSIVE_SECONDS`` the reply goes back in the response;
otherwise the request is acknowledged (``success``) and the reply goes out through the customer-service
message API when the turn finishes. WeChat retries an unanswered request three times: every ``MsgId`` is
claimed once in the database, so it is processed and answered once, also across workers and restarts.

WeChat has no buttons: a reply's choices become numbered options ("回复数字：1 已经转了　2 还没有"), and a
bare number in the next message means that choice. The access token is cached in the database (shared by
every worker), refreshed before it expires, and a call refused for an expired or invalid token (40001,
40014, 42001) fetches a new one and is retried once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from dataclasses import dataclass

from wechatpy import WeChatClient, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException, WeChatClientException
from wechatpy.replies import TextReply
from wechatpy.session import SessionStorage
from wechatpy.utils import check_signature

from bot.channels.web import BaseHandler
from bot.dialogue.engine import Engine, TurnResult
from bot.dialogue.responses import Reply
from bot.images.reader import Reading
from bot.messenger import DeliveryError, RateLimited, Unreachable
from bot.redact import loggable, mask
from bot.store import Store, ago, now

log = logging.getLogger(__name__)
CHANNEL = "wechat"
PATH = "/wechat"
DEFAULT_BASE_URL = "https://api.weixin.qq.com"
PASSIVE_SECONDS = 4.0  # WeChat gives up after 5 s and retries; leave room for the network
MAX_PIECE = 600  # characters per message (WeChat's text limit is 2,048 bytes; Chinese takes 3 bytes a character)
TOKEN_ERRORS = {40001, 40014, 42001}  # invalid credential, invalid token, expired token
CHOICES_HOURS = 24  # how long a numbered choice stays valid
DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
BUSY_RETRY_SECONDS = 60  # a MsgId still "processing" after this (a worker died) is processed again


@dataclass
class WeChatConfig:
    token: str
    app_id: str
    app_secret: str
    aes_key: str
    base_url: str

    @classmethod
    def from_env(cls) -> "WeChatConfig | None":
        token = os.environ.get("WECHAT_TOKEN", "").strip()
        if not token:
            return None
        return cls(token=token, app_id=os.environ.get("WECHAT_APP_ID", "").strip(),
                   app_secret=os.environ.get("WECHAT_APP_SECRET", "").strip(),
                   aes_key=os.environ.get("WECHAT_AES_KEY", "").strip(),
                   base_url=(os.environ.get("WECHAT_API_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"))


class StoreSession(SessionStorage):
    """wechatpy's token storage in the bot's database, so every worker shares one access token."""

    def __init__(self, store: Store):
        self.store = store

    def get(self, key, default=None):
        rows = self.store.query("select value, expires_at from kv where key = :k", {"k": key})
        if not rows or (rows[0]["expires_at"] and rows[0]["expires_at"] < time.time()):
            return default
        return json.loads(rows[0]["value"])

    def expires_at(self, key) -> float | None:
        rows = self.store.query("select expires_at from kv where key = :k", {"k": key})
        return rows[0]["expires_at"] if rows else None

    def set(self, key, value, ttl=None):
        with self.store.transaction() as db:
            db["kv"].upsert({"key": key, "value": json.dumps(value), "expires_at": time.time() + ttl if ttl else None,
                             "updated_at": now()}, pk="key")

    def delete(self, key):
        with self.store.transaction() as db:
            db.execute("delete from kv where key = ?", [key])


class CentreClient(WeChatClient):
    """wechatpy's client against a configurable API base, with the token kept in the database."""

    def __init__(self, config: WeChatConfig, store: Store):
        self.session_store = StoreSession(store)
        super().__init__(config.app_id, config.app_secret, session=self.session_store, timeout=10, auto_retry=False)
        self.base = config.base_url
        self.API_BASE_URL = f"{self.base}/cgi-bin/"

    def fetch_access_token(self):
        return self._fetch_access_token(url=f"{self.base}/cgi-bin/token",
                                        params={"grant_type": "client_credential", "appid": self.appid,
                                                "secret": self.secret})

    @property
    def access_token(self):
        """The shared token; fetched when missing or within five minutes of expiry (any worker may refresh it)."""
        token = self.session_store.get(self.access_token_key)
        expires = self.session_store.expires_at(self.access_token_key)
        if token and (expires is None or expires - time.time() > 300):
            return token
        self.fetch_access_token()
        return self.session_store.get(self.access_token_key)

    def call(self, method, *args, **kwargs):
        """Call an API method; an expired or invalid token is refreshed and the call retried once."""
        try:
            return method(*args, **kwargs)
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            log.info("WeChat access token refused (%s): fetching a new one", exc.errcode)
            self.session_store.delete(self.access_token_key)
            self.fetch_access_token()
            return method(*args, **kwargs)


def pieces(text: str, limit: int = MAX_PIECE) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at line ends where possible."""
    out, current = [], ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                out.append(current)
                current = ""
            out.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            out.append(current)
            current = line
        else:
            current = candidate
    if current:
        out.append(current)
    return out or [""]


class WeChatMessenger:
    """WeChat's customer-service message API as a ``bot.messenger.Messenger`` (inside the 48-hour window)."""

    channel = CHANNEL

    def __init__(self, client: CentreClient):
        self.client = client

    def send_now(self, address: str, text: str) -> str | None:
        for piece in pieces(text):
            try:
                self.client.call(self.client.message.send_text, address, piece)
            except WeChatClientException as exc:
                if exc.errcode in (45015, 45047, 43004, 40003):  # outside 48 h, too many, unfollowed, bad openid
                    raise Unreachable(f"{exc.errcode}: {exc.errmsg}") from exc
                if exc.errcode in (45009, 45011, -1):  # API frequency limits, system busy
                    raise RateLimited(60, f"{exc.errcode}: {exc.errmsg}") from exc
                raise DeliveryError(f"{exc.errcode}: {exc.errmsg}") from exc
            except Exception as exc:  # network errors, time-outs, HTTP errors
                raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        return None

    async def send(self, address: str, text: str) -> str | None:
        return await asyncio.to_thread(self.send_now, address, text)


class WeChatInbox:
    """What WeChat sent and what the bot made of it, in the database: the MsgId claim and numbered choices."""

    def __init__(self, store: Store):
        self.store = store

    def claim(self, msg_id: str, openid: str) -> bool:
        """True for the first delivery of ``msg_id`` (or a retry whose first worker died); False for a retry."""
        with self.store.transaction() as db:
            rows = list(db.query("select status, received_at from wechat_inbox where msg_id = :m", {"m": msg_id}))
            if rows and not (rows[0]["status"] == "processing" and rows[0]["received_at"] < ago(seconds=BUSY_RETRY_SECONDS)):
                return False
            db["wechat_inbox"].upsert({"msg_id": msg_id, "openid": openid, "received_at": now(),
                                       "status": "processing"}, pk="msg_id")
            return True

    def done(self, msg_id: str, how: str) -> None:
        with self.store.transaction() as db:
            db.execute("update wechat_inbox set status = ? where msg_id = ?", [how, msg_id])

    def remember_choices(self, openid: str, payloads: list[str]) -> None:
        with self.store.transaction() as db:
            if payloads:
                db["wechat_choices"].upsert({"openid": openid, "payloads": json.dumps(payloads), "at": now()},
                                            pk="openid")
            else:
                db.execute("delete from wechat_choices where openid = ?", [openid])

    def choice(self, openid: str, text: str) -> str | None:
        """The payload a bare number stands for ("1", "２"), if the last reply offered numbered choices."""
        number = text.strip().translate(DIGITS).rstrip("。.、")
        if not number.isdigit():
            return None
        rows = self.store.query("select payloads from wechat_choices where openid = :o and at >= :since",
                                {"o": openid, "since": ago(hours=CHOICES_HOURS)})
        if not rows:
            return None
        payloads = json.loads(rows[0]["payloads"])
        index = int(number) - 1
        return payloads[index] if 0 <= index < len(payloads) else None


def render(replies: list[Reply]) -> tuple[str, list[str]]:
    """Plain text for WeChat (choices as numbered options) and the payloads the numbers stand for."""
    texts, payloads = [], []
    for reply in replies:
        text = reply.text.strip()
        if reply.buttons:
            options = []
            for button in reply.buttons:
                payloads.append(button.payload)
                options.append(f"{len(payloads)} {button.title}")
            text += "\n回复数字：" + "　".join(options)
        texts.append(text)
    return "\n\n".join(t for t in texts if t), payloads


class WeChatHandler(BaseHandler):
    """``/wechat``: verification, messages and events."""

    def initialize(self, channel: "WeChatChannel"):
        super().initialize()
        self.channel = channel

    def verified(self) -> bool:
        try:
            check_signature(self.channel.config.token, self.get_query_argument("signature", ""),
                            self.get_query_argument("timestamp", ""), self.get_query_argument("nonce", ""))
            return True
        except InvalidSignatureException:
            log.warning("WeChat request with a bad signature from %s", loggable(self.address()))
            return False

    def get(self):
        if not self.verified():
            return self.fail(403, "bad signature")
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(self.get_query_argument("echostr", ""))

    async def post(self):
        if not self.read_body():
            return
        if not self.verified():
            return self.fail(403, "bad signature")
        crypto = self.channel.crypto
        body = self.request.body.decode("utf-8", "replace")
        timestamp, nonce = self.get_query_argument("timestamp", ""), self.get_query_argument("nonce", "")
        if crypto is not None:
            try:
                body = crypto.decrypt_message(body, self.get_query_argument("msg_signature", ""), timestamp, nonce)
            except (InvalidSignatureException, Exception) as exc:  # a forged or garbled envelope
                log.warning("WeChat message that does not decrypt from %s: %s", loggable(self.address()),
                            type(exc).__name__)
                return self.fail(403, "bad msg_signature")
        try:
            message = parse_message(body)
        except Exception:
            return self.fail(400, "not a WeChat message")
        text = await self.channel.answer(message)
        if text is None:
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            return self.finish("success")  # acknowledged: the reply (if any) goes out by the customer-service API
        xml = TextReply(message=message, content=text).render()
        if crypto is not None:
            xml = crypto.encrypt_message(xml, nonce, timestamp)
        self.set_header("Content-Type", "application/xml; charset=utf-8")
        self.finish(xml)


class WeChatChannel:
    """The WeChat channel: its route, its client and the turn logic between WeChat and the engine."""

    def __init__(self, engine: Engine, config: WeChatConfig, passive_seconds: float = PASSIVE_SECONDS):
        self.engine, self.config, self.passive_seconds = engine, config, passive_seconds
        self.crypto = WeChatCrypto(config.token, config.aes_key, config.app_id) if config.aes_key else None
        self.client = CentreClient(config, engine.store)
        self.messenger = WeChatMessenger(self.client)
        self.inbox = WeChatInbox(engine.store)
        self.pending: set[asyncio.Task] = set()

    def routes(self) -> list:
        return [(PATH, WeChatHandler, {"channel": self})]

    async def answer(self, message) -> str | None:
        """The passive reply's text, or None when the request is only acknowledged."""
        openid = str(message.source)
        # Events have no MsgId: WeChat's own rule is to deduplicate them by sender, time and event.
        key = str(message.id) if getattr(message, "id", 0) else \
            f"{openid}:{message.create_time}:{message.type}:{getattr(message, 'event', '')}"
        if not self.inbox.claim(key, openid):
            log.info("WeChat retry of %s: already handled", key)
            return None
        turn = asyncio.ensure_future(self.turn(message, openid))
        try:
            result = await asyncio.wait_for(asyncio.shield(turn), self.passive_seconds)
        except asyncio.TimeoutError:
            task = asyncio.ensure_future(self.reply_later(turn, key, openid))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)
            return None
        if result is None:
            self.inbox.done(key, "ignored")
            return None
        text, payloads = render(result.replies)
        self.inbox.remember_choices(openid, payloads)
        first, *rest = pieces(text)
        if rest:  # the rest of a long reply through the customer-service API
            task = asyncio.ensure_future(self.send_rest(openid, "\n".join(rest)))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)
        self.inbox.done(key, "passive")
        return first

    async def reply_later(self, turn: asyncio.Future, key: str, openid: str) -> None:
        result = await turn
        if result is None:
            return self.inbox.done(key, "ignored")
        text, payloads = render(result.replies)
        self.inbox.remember_choices(openid, payloads)
        try:
            await self.messenger.send(openid, text)
            self.inbox.done(key, "custom")
        except DeliveryError as exc:
            log.error("WeChat reply to %s not delivered: %s", loggable(mask(openid)), exc)
            self.inbox.done(key, "failed")

    async def send_rest(self, openid: str, text: str) -> None:
        try:
            await self.messenger.send(openid, text)
        except DeliveryError as exc:
            log.error("WeChat reply (continued) to %s not delivered: %s", loggable(mask(openid)), exc)

    async def turn(self, message, openid: str) -> TurnResult | None:
        engine, kind = self.engine, message.type
        contact = ""  # the desk's record names the chat (wechat · openid); a phone number is asked for
        if kind == "text":
            text = message.content or ""
            payload = self.inbox.choice(openid, text)
            return await engine.handle_async(CHANNEL, openid, payload or text, contact=contact)
        if kind == "voice":
            said = (getattr(message, "recognition", None) or "").strip()
            if said:
                return await engine.handle_async(CHANNEL, openid, said, contact=contact)
            return await asyncio.to_thread(engine.unreadable, CHANNEL, openid, "voice", "utter_unreadable_voice")
        if kind == "image":  # fetched through the media API (temporary material, kept by WeChat for 3 days)
            data = await asyncio.to_thread(self.download, str(getattr(message, "media_id", "") or ""))
            if data is None:
                return await asyncio.to_thread(engine.handle_picture, CHANNEL, openid, Reading(error="download"))
            return await engine.handle_picture_async(CHANNEL, openid, data, contact=contact)
        if kind == "event":
            event = getattr(message, "event", "")
            if event == "subscribe":
                await asyncio.to_thread(engine.subscriptions.subscribe, CHANNEL, openid)
                return await engine.handle_async(CHANNEL, openid, "/start", contact=contact)
            if event == "unsubscribe":
                await asyncio.to_thread(engine.subscriptions.unsubscribe, CHANNEL, openid)
                return None  # nobody to answer: they left
            if event == "click":
                key = str(getattr(message, "key", "") or "")
                if re.fullmatch(r"/[a-z_]+", key):
                    return await engine.handle_async(CHANNEL, openid, key, contact=contact)
            return None  # views, scans and the like need no answer
        return await asyncio.to_thread(engine.unreadable, CHANNEL, openid, kind, "utter_unreadable")

    def download(self, media_id: str) -> bytes | None:
        """A picture a resident sent, from WeChat's media API; None when it cannot be had."""
        if not media_id:
            return None
        try:
            response = self.client.call(self.client.media.download, media_id)
            data = getattr(response, "content", None)
        except Exception as exc:  # WeChat's error codes, network errors, time-outs
            log.warning("WeChat picture %s not downloaded: %s", loggable(media_id[:16]), exc)
            return None
        return data if isinstance(data, bytes) and data else None

    async def close(self) -> None:
        if self.pending:
            await asyncio.gather(*self.pending, return_exceptions=True)


# --- the menu and the daily warning ---------------------------------------------------------------

MENU_LIMITS = {"top": (3, 4), "sub": (5, 8)}  # (items, characters of a name)


def load_menu(path, root=None, commands: set[str] | None = None, problems: list | None = None) -> dict | None:
    """``content/wechat_menu.yml`` as WeChat's menu JSON (click buttons whose key is a bot command)."""
    from bot.problems import InvalidFiles, Problem, display_path
    from bot.yamlfile import listed, read_yaml, scalar

    if not path.exists():
        return None
    name = display_path(path, root)
    found: list[Problem] = []
    doc = read_yaml(path, found, root)
    buttons = []

    def button(item, level: str) -> dict | None:
        if not isinstance(item, dict):
            found.append(Problem(name, getattr(item, "line", 1) or 1, "each menu item needs name and key (or sub_button)",
                                 "每个菜单都要写 name 和 key（或 sub_button）"))
            return None
        title = scalar(item, "name", name, found, default="", text=True)
        longest = MENU_LIMITS[level][1]
        if not title or len(title) > longest:
            found.append(Problem(name, item.line_of("name"), f"menu name “{title}” must be 1 to {longest} characters",
                                 f"菜单“{title}”应为 1 到 {longest} 个字"))
        subs = listed(item, "sub_button", name, found)
        if subs and level == "top":
            if len(subs) > MENU_LIMITS["sub"][0]:
                found.append(Problem(name, item.line_of("sub_button"), "at most 5 sub-menus", "子菜单最多 5 个"))
            children = [b for b in (button(s, "sub") for s in subs) if b]
            return {"name": title, "sub_button": children}
        key = scalar(item, "key", name, found, default="", text=True)
        if commands is not None and key not in commands:
            found.append(Problem(name, item.line_of("key") if "key" in item else item.line,
                                 f"key “{key}” is not a bot command — use one of {', '.join(sorted(commands))}",
                                 f"key“{key}”不是机器人的命令"))
        return {"type": "click", "name": title, "key": key}

    items = listed(doc, "button", name, found) if isinstance(doc, dict) else []
    if doc is not None and not items:
        found.append(Problem(name, 1, "expected a 'button:' list", "应包含 button 列表"))
    if len(items) > MENU_LIMITS["top"][0]:
        found.append(Problem(name, doc.line_of("button"), "at most 3 top-level menus", "主菜单最多 3 个"))
    buttons = [b for b in (button(item, "top") for item in items) if b]
    if problems is not None:
        problems.extend(found)
    elif found:
        raise InvalidFiles(found)
    return {"button": buttons}


def install_menu(channel: "WeChatChannel", menu: dict) -> dict:
    return channel.client.call(channel.client.menu.create, menu)


def mass_send(channel: "WeChatChannel", footer: str, day: str | None = None) -> dict | None:
    """The day's warning to every follower, once (the official account's mass send: a 订阅号 may send one a day,
    a 服务号 four a month). Recorded in ``deliveries`` as chat ``*`` so a second run the same day sends nothing."""
    from datetime import date

    from bot.outreach.broadcast import load_file_alerts

    subscriptions = channel.engine.subscriptions
    day = day or str(date.today())
    alert = subscriptions.alert_for(day, load_file_alerts(channel.engine.settings.content_dir / "alerts", problems=[]))
    if alert is None:
        return None
    done = channel.engine.store.query("select status from deliveries where alert_key = :k and channel = :c"
                                      " and chat_id = '*'", {"k": alert.key, "c": CHANNEL})
    if done and done[0]["status"] == "sent":
        return {"alert": alert.key, "status": "already sent"}
    subscriptions.mark(alert, CHANNEL, "*", "sending")
    try:
        result = channel.client.call(channel.client.message.send_mass_text, None, alert.message(footer)[:600],
                                     is_to_all=True)
    except WeChatClientException as exc:
        subscriptions.mark(alert, CHANNEL, "*", "failed")
        return {"alert": alert.key, "status": "failed", "error": f"{exc.errcode}: {exc.errmsg}"}
    subscriptions.mark(alert, CHANNEL, "*", "sent")
    return {"alert": alert.key, "status": "sent", "msg_id": result.get("msg_id")}
