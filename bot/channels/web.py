"""The local web chat: a JSON API and one simple page residents can use from a phone.

``POST /api/messages {"user": "...", "text": "..."}`` → ``{"replies": [...], "scam_type", "risk",
"escalation_id"}``. A screenshot goes to the same URL as ``multipart/form-data`` with the fields
``user`` and ``image`` (and optionally ``text``, what the resident adds); its reply adds ``"read_text"``,
what was read from the picture. ``GET /`` serves the page (plain JavaScript, with a "发截图" button;
without JavaScript the form posts to ``/chat`` and the page is rendered on the server). Hotline numbers
are ``tel:`` links.

Whatever arrives gets a defined answer: a body over 64 KB (10 MB with a picture) is refused with 413
before it is read into memory, malformed or deeply nested JSON with 400, a bad user id with
400. Turns run in the engine's worker threads (``Engine.handle_async``), so the event
loop never waits on understanding or on a busy database. Over the rate limit (per
user id and per client address) a message is still understood: an urgent one is
answered and escalated as usual, the others get one polite "请慢一点".
"""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import logging
import os
import re
import secrets
import time
from collections import OrderedDict
from pathlib import Path

import tornado.httputil
import tornado.web

from bot.dialogue.engine import Engine, TurnResult
from bot.redact import loggable
from bot.store import now

log = logging.getLogger(__name__)
CHANNEL = "web"
PAGE = (Path(__file__).with_name("web_page.html")).read_text(encoding="utf-8")
USER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # matched with fullmatch: no trailing newline slips through
MAX_TEXT = 10000
MAX_BODY = 64 * 1024  # larger requests get 413 (the server reads at most SERVER_MAX_BODY, and discards it)
MAX_PICTURE = 10 * 1024 * 1024  # a multipart request with a screenshot may be this large (plus MAX_BODY)
SERVER_MAX_BODY = 16 * 1024 * 1024
ADMIN_FAILURES = 5  # wrong admin tokens from one address within ADMIN_WINDOW seconds, then 429
ADMIN_WINDOW = 60.0
REPORT_LINE = "12381"  # 工信部 report line, named in the replies beside the centre's hotlines


def hotline_numbers(settings) -> list[str]:
    """The numbers the page makes ``tel:`` links: the configured hotlines only. A number a resident quoted or a
    screenshot showed (the "officer's" landline) is never made something to tap and call."""
    numbers = {str(v).strip() for v in settings.hotlines.values() if str(v or "").strip()} | {REPORT_LINE}
    return sorted(numbers, key=len, reverse=True)


def hotline_pattern(numbers: list[str]) -> re.Pattern:
    """Those numbers on their own, not inside a longer (or masked) number such as 13911012345."""
    return re.compile(r"(?<![\d*\-])(" + "|".join(re.escape(n) for n in numbers) + r")(?![\d*\-])")


class RateLimiter:
    """At most ``burst`` events per ``window`` seconds per key (a user id, or a client address)."""

    def __init__(self, burst: int = 10, window: float = 10.0, users: int = 50_000):
        self.burst, self.window, self.users = burst, window, users
        self.seen: OrderedDict[str, list[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> list[float]:
        return [t for t in self.seen.pop(key, []) if now - t < self.window]

    def _keep(self, key: str, stamps: list[float]) -> None:
        self.seen[key] = stamps
        while len(self.seen) > self.users:  # the least recently seen keys go first
            self.seen.popitem(last=False)

    def allow(self, key: str, count: bool = True) -> bool:
        now = time.monotonic()
        stamps = self._recent(key, now)
        allowed = len(stamps) < self.burst
        if allowed and count:
            stamps.append(now)
        self._keep(key, stamps)
        return allowed

    def fail(self, key: str) -> None:
        """Count one event without asking (a wrong admin token)."""
        now = time.monotonic()
        self._keep(key, self._recent(key, now) + [now])


def turn_json(result: TurnResult) -> dict:
    slots = result.slots
    return {
        "replies": [{"text": r.text, "urgent": r.urgent,
                     "buttons": [{"title": b.title, "payload": b.payload} for b in r.buttons]}
                    for r in result.replies],
        "scam_type": slots.get("scam_type") or result.understanding.scam_type,
        "risk": slots.get("risk") or "none",
        "escalation_id": result.escalation_id,
    } | ({"read_text": result.read_text} if result.read_text is not None else {})


@tornado.web.stream_request_body
class BaseHandler(tornado.web.RequestHandler):
    """Reads the body itself, so that a body over ``MAX_BODY`` is answered 413 and never kept in memory."""

    def initialize(self, web: "WebChannel" = None, **kwargs):
        self.web = web
        self._chunks: list[bytes] = []
        self._size = 0
        self._too_big = False

    def prepare(self):
        length = self.request.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.max_body():
            self._too_big = True
            return self.too_big()

    def max_body(self) -> int:
        return MAX_BODY

    def multipart(self) -> bool:
        return self.request.headers.get("Content-Type", "").lower().startswith("multipart/form-data")

    def data_received(self, chunk: bytes):
        if self._too_big:
            return
        self._size += len(chunk)
        if self._size > self.max_body():
            self._too_big, self._chunks = True, []
        else:
            self._chunks.append(chunk)

    def read_body(self) -> bool:
        """Put the received body where tornado expects it; False (and 413 sent) when it was too big."""
        if self._too_big:
            if not self._finished:
                self.too_big()
            return False
        self.request.body = b"".join(self._chunks)
        self._chunks = []
        if self.request.method == "POST":
            tornado.httputil.parse_body_arguments(self.request.headers.get("Content-Type", ""), self.request.body,
                                                  self.request.body_arguments, self.request.files,
                                                  self.request.headers)
            for name, values in self.request.body_arguments.items():
                self.request.arguments.setdefault(name, []).extend(values)
        return True

    def too_big(self):
        if self.max_body() > MAX_BODY:
            return self.fail(413, f"图片太大了（最多 {MAX_PICTURE // 1024 // 1024} MB），请发一张手机截图。")
        self.fail(413, f"消息太长了（请求最多 {MAX_BODY // 1024} KB），请分几次发送。")

    def address(self) -> str:
        return self.request.remote_ip or "unknown"

    def set_default_headers(self):
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")

    def send_json(self, data: dict, status: int = 200):
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(data, ensure_ascii=False))

    def fail(self, status: int, message: str):
        self.send_json({"error": message}, status)


def parse_json(body: bytes):
    """The request's JSON, or None when it is not JSON (bad bytes, bad syntax, nested too deep)."""
    try:
        return json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


class PictureBody:
    """Handlers that also take a screenshot (multipart/form-data with a file field ``image``)."""

    def max_body(self) -> int:
        return MAX_BODY + MAX_PICTURE if self.multipart() else MAX_BODY

    def picture(self) -> bytes | None:
        files = self.request.files.get("image") or []
        return files[0].body if files and files[0].body else None


class MessagesHandler(PictureBody, BaseHandler):
    async def post(self):
        if not self.read_body():
            return
        if self.multipart():
            return await self.post_picture()
        body = parse_json(self.request.body)
        if body is None:
            return self.fail(400, "请求格式不对：需要 JSON，例如 {\"user\": \"u1\", \"text\": \"你好\"}")
        if not isinstance(body, dict):
            return self.fail(400, "请求格式不对：需要 JSON 对象")
        user, text = body.get("user"), body.get("text")
        if not isinstance(user, str) or not USER_ID.fullmatch(user):
            return self.fail(400, "缺少 user（1 到 64 个字母、数字或 _.:-）")
        if not isinstance(text, str):
            return self.fail(400, "缺少 text（要发送的文字）")
        result, slow = await self.web.turn(user, text[:MAX_TEXT], self.address())
        self.send_json(turn_json(result), 429 if slow else 200)

    async def post_picture(self):
        user, data = self.get_body_argument("user", ""), self.picture()
        if not USER_ID.fullmatch(user):
            return self.fail(400, "缺少 user（1 到 64 个字母、数字或 _.:-）")
        if data is None:
            return self.fail(400, "缺少 image（截图文件）")
        caption = self.get_body_argument("text", "")[:MAX_TEXT]
        result, slow = await self.web.turn(user, caption, self.address(), picture=data)
        self.send_json(turn_json(result), 429 if slow else 200)


class PageHandler(PictureBody, BaseHandler):
    """The page; without JavaScript the form posts here and the conversation is rendered."""

    def get(self):
        self.render_page(self.user_cookie(), [])

    async def post(self):
        if not self.read_body():
            return
        user = self.user_cookie()
        text = self.get_body_argument("text", "")[:MAX_TEXT]
        picture = self.picture()
        result, _ = await self.web.turn(user, text, self.address(), picture=picture)
        said = ("[截图] " + text).strip() if picture is not None else text
        self.render_page(user, [("me", said, False)] + [("bot", r.text, r.urgent) for r in result.replies])

    def user_cookie(self) -> str:
        user = self.get_cookie("fanzha_user")
        if not user or not USER_ID.fullmatch(user):
            user = "c" + secrets.token_hex(6)
            self.set_cookie("fanzha_user", user, httponly=True, samesite="Lax", expires_days=30)
        return user

    def render_page(self, user: str, messages: list[tuple[str, str, bool]]):
        parts = []
        for who, text, urgent in messages:
            body = html.escape(text)
            if who == "bot":
                body = self.web.hotlines.sub(r'<a class="tel" href="tel:\1">\1</a>', body)
            parts.append(f'<div class="msg {who}{" urgent" if urgent else ""}">{body}</div>')
        self.set_header("Content-Type", "text/html; charset=utf-8")
        numbers = html.escape("|".join(hotline_numbers(self.web.engine.settings)), quote=True)
        self.finish(PAGE.replace("<!--HISTORY-->", "\n".join(parts)).replace("<!--HOTLINES-->", numbers))


class AdminReloadHandler(BaseHandler):
    """POST /api/admin/reload with ``Authorization: Bearer $BOT_ADMIN_TOKEN``."""

    async def post(self):
        if not self.read_body():
            return
        token = os.environ.get("BOT_ADMIN_TOKEN", "")
        if not token or self.web.reloader is None:
            return self.fail(403, "admin API disabled: set BOT_ADMIN_TOKEN")
        address = self.address()
        if not self.web.admin_failures.allow(address, count=False):
            log.warning("admin reload refused: %s is throttled after repeated wrong tokens", loggable(address))
            self.set_header("Retry-After", str(int(ADMIN_WINDOW)))
            return self.fail(429, "too many wrong admin tokens: try again later")
        header = self.request.headers.get("Authorization", "")
        given = header[len("Bearer "):] if header.startswith("Bearer ") else ""
        if not given or not hmac.compare_digest(given.encode(), token.encode()):
            self.web.admin_failures.fail(address)
            log.warning("admin reload refused: wrong or missing 'Authorization: Bearer' token from %s",
                        loggable(address))
            return self.fail(403, "wrong admin token: send 'Authorization: Bearer <BOT_ADMIN_TOKEN>'")
        report = await self.web.reloader.reload_async()
        self.send_json({"ok": report.ok, "seconds": round(report.seconds, 2),
                        "problems": [str(p) for p in report.problems], "types_added": report.types_added,
                        "types_removed": report.types_removed, "examples_added": report.examples_added,
                        "examples_removed": report.examples_removed, "heldout_before": report.heldout_before,
                        "heldout_after": report.heldout_after, "text": report.text()}, 200 if report.ok else 422)


class HealthHandler(BaseHandler):
    def get(self):
        self.send_json({"ok": True})


class WebMessenger:
    """The web page as a ``bot.messenger.Messenger``: a message waits in ``web_inbox`` until the resident's page
    fetches it (``GET /api/inbox``), so it is "sent" once stored; the page shows it when it is open."""

    channel = CHANNEL

    def __init__(self, store):
        self.store = store

    async def send(self, address: str, text: str) -> str | None:
        def store() -> int:
            with self.store.transaction() as db:
                return db["web_inbox"].insert({"user": address, "text": text, "created_at": now()}).last_pk

        return str(await asyncio.to_thread(store))

    def since(self, user: str, after: int, limit: int = 20) -> list[dict]:
        return self.store.query('select id, text, created_at from web_inbox where "user" = :u and id > :after'
                                " order by id limit :n", {"u": user, "after": after, "n": limit})


class InboxHandler(BaseHandler):
    """``GET /api/inbox?user=ID&after=N``: the duty desk's messages for this resident after message N."""

    async def get(self):
        user, after = self.get_query_argument("user", ""), self.get_query_argument("after", "0")
        if not USER_ID.fullmatch(user):
            return self.fail(400, "缺少 user（1 到 64 个字母、数字或 _.:-）")
        if not after.isdigit() or len(after) > 18:
            return self.fail(400, "after 应该是数字")
        rows = await asyncio.to_thread(self.web.messenger.since, user, int(after))
        self.send_json({"messages": [{"id": r["id"], "text": r["text"]} for r in rows]})


class WebChannel:
    """Builds the tornado application; more routes (admin, Telegram webhook) can be added."""

    def __init__(self, engine: Engine, limiter: RateLimiter | None = None, reloader=None,
                 address_limiter: RateLimiter | None = None):
        self.engine = engine
        self.limiter = limiter or RateLimiter()
        self.address_limiter = address_limiter or RateLimiter(burst=30, window=10.0)  # many residents share a NAT
        self.admin_failures = RateLimiter(burst=ADMIN_FAILURES, window=ADMIN_WINDOW)
        self.reloader = reloader
        self.hotlines = hotline_pattern(hotline_numbers(engine.settings))
        self.messenger = WebMessenger(engine.store)
        self.routes: list = [
            (r"/", PageHandler, {"web": self}),
            (r"/chat", PageHandler, {"web": self}),
            (r"/api/messages", MessagesHandler, {"web": self}),
            (r"/api/inbox", InboxHandler, {"web": self}),
            (r"/healthz", HealthHandler, {"web": self}),
            (r"/api/admin/reload", AdminReloadHandler, {"web": self}),
        ]

    async def turn(self, user: str, text: str, address: str, picture: bytes | None = None) -> tuple[TurnResult, bool]:
        """One resident's message (or picture with its caption); (result, slowed). Over a limit the message is
        still understood: urgent replies go out as usual, anything else is replaced by one polite "请慢一点"."""
        within = self.limiter.allow(user)
        within = self.address_limiter.allow(address) and within
        origin = f"{CHANNEL}:{address}"
        if picture is not None:
            result = await self.engine.handle_picture_async(CHANNEL, user, picture, text, origin=origin)
        else:
            result = await self.engine.handle_async(CHANNEL, user, text, origin=origin)
        if within or result.escalation_id or any(r.urgent for r in result.replies):
            return result, False
        log.info("web %s (%s) over the rate limit: answered 'slow down'", loggable(user), loggable(address))
        return self.engine.notice(CHANNEL, user, "utter_slow_down"), True

    def application(self, extra_routes: list | None = None) -> tornado.web.Application:
        return tornado.web.Application(self.routes + (extra_routes or []), xsrf_cookies=False,
                                       compress_response=True)
