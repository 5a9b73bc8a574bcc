"""The local web chat: a JSON API and one simple page residents can use from a phone.

``POST /api/messages {"user": "...", "text": "..."}`` → ``{"replies": [...], "scam_type", "risk",
"escalation_id"}``. ``GET /`` serves the page (plain JavaScript; without JavaScript the
form posts to ``/chat`` and the page is rendered on the server). Hotline numbers are
``tel:`` links.
"""

from __future__ import annotations

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

import tornado.web

from bot.dialogue.engine import Engine, TurnResult

log = logging.getLogger(__name__)
CHANNEL = "web"
PAGE = (Path(__file__).with_name("web_page.html")).read_text(encoding="utf-8")
USER_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_TEXT = 4000
HOTLINE = re.compile(r"(?<![\d*\-])(96110|110|12381|0\d{2,3}-\d{7,8})(?![\d*])")  # not inside a longer number


class RateLimiter:
    """At most ``burst`` messages per ``window`` seconds per user (a flood gets a polite 429)."""

    def __init__(self, burst: int = 10, window: float = 10.0, users: int = 50_000):
        self.burst, self.window, self.users = burst, window, users
        self.seen: OrderedDict[str, list[float]] = OrderedDict()

    def allow(self, user: str) -> bool:
        now = time.monotonic()
        stamps = [t for t in self.seen.pop(user, []) if now - t < self.window]
        allowed = len(stamps) < self.burst
        if allowed:
            stamps.append(now)
        self.seen[user] = stamps
        while len(self.seen) > self.users:
            self.seen.popitem(last=False)
        return allowed


def turn_json(result: TurnResult) -> dict:
    slots = result.slots
    return {
        "replies": [{"text": r.text, "urgent": r.urgent,
                     "buttons": [{"title": b.title, "payload": b.payload} for b in r.buttons]}
                    for r in result.replies],
        "scam_type": slots.get("scam_type") or result.understanding.scam_type,
        "risk": slots.get("risk") or "none",
        "escalation_id": result.escalation_id,
    }


class BaseHandler(tornado.web.RequestHandler):
    def initialize(self, web: "WebChannel"):
        self.web = web

    def set_default_headers(self):
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")

    def send_json(self, data: dict, status: int = 200):
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(data, ensure_ascii=False))

    def fail(self, status: int, message: str):
        self.send_json({"error": message}, status)


class MessagesHandler(BaseHandler):
    def post(self):
        try:
            body = json.loads(self.request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return self.fail(400, "请求格式不对：需要 JSON，例如 {\"user\": \"u1\", \"text\": \"你好\"}")
        if not isinstance(body, dict):
            return self.fail(400, "请求格式不对：需要 JSON 对象")
        user, text = body.get("user"), body.get("text")
        if not isinstance(user, str) or not USER_ID.match(user):
            return self.fail(400, "缺少 user（1 到 64 个字母、数字或 _.:-）")
        if not isinstance(text, str):
            return self.fail(400, "缺少 text（要发送的文字）")
        if not self.web.limiter.allow(user):
            return self.fail(429, "您发得太快了，请稍等几秒再发。紧急情况请直接拨打 110。")
        result = self.web.engine.handle(CHANNEL, user, text[:MAX_TEXT])
        self.send_json(turn_json(result))


class PageHandler(BaseHandler):
    """The page; without JavaScript the form posts here and the conversation is rendered."""

    def get(self):
        self.render_page(self.user_cookie(), [])

    def post(self):
        user = self.user_cookie()
        text = self.get_body_argument("text", "")[:MAX_TEXT]
        if not self.web.limiter.allow(user):
            return self.render_page(user, [("bot", "您发得太快了，请稍等几秒再发。", False)])
        result = self.web.engine.handle(CHANNEL, user, text)
        self.render_page(user, [("me", text, False)] + [("bot", r.text, r.urgent) for r in result.replies])

    def user_cookie(self) -> str:
        user = self.get_cookie("fanzha_user")
        if not user or not USER_ID.match(user):
            user = "c" + secrets.token_hex(6)
            self.set_cookie("fanzha_user", user, httponly=True, samesite="Lax", expires_days=30)
        return user

    def render_page(self, user: str, messages: list[tuple[str, str, bool]]):
        parts = []
        for who, text, urgent in messages:
            body = html.escape(text)
            if who == "bot":
                body = HOTLINE.sub(r'<a class="tel" href="tel:\1">\1</a>', body)
            parts.append(f'<div class="msg {who}{" urgent" if urgent else ""}">{body}</div>')
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(PAGE.replace("<!--HISTORY-->", "\n".join(parts)))


class AdminReloadHandler(BaseHandler):
    """POST /api/admin/reload with ``Authorization: Bearer $BOT_ADMIN_TOKEN``."""

    async def post(self):
        token = os.environ.get("BOT_ADMIN_TOKEN", "")
        if not token or self.web.reloader is None:
            return self.fail(403, "admin API disabled: set BOT_ADMIN_TOKEN")
        given = self.request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            log.warning("admin reload refused: wrong token from %s", self.request.remote_ip)
            return self.fail(403, "wrong admin token")
        report = await self.web.reloader.reload_async()
        self.send_json({"ok": report.ok, "seconds": round(report.seconds, 2),
                        "problems": [str(p) for p in report.problems], "types_added": report.types_added,
                        "types_removed": report.types_removed, "examples_added": report.examples_added,
                        "examples_removed": report.examples_removed, "heldout_before": report.heldout_before,
                        "heldout_after": report.heldout_after, "text": report.text()}, 200 if report.ok else 422)


class HealthHandler(BaseHandler):
    def get(self):
        self.send_json({"ok": True})


class WebChannel:
    """Builds the tornado application; more routes (admin, Telegram webhook) can be added."""

    def __init__(self, engine: Engine, limiter: RateLimiter | None = None, reloader=None):
        self.engine = engine
        self.limiter = limiter or RateLimiter()
        self.reloader = reloader
        self.routes: list = [
            (r"/", PageHandler, {"web": self}),
            (r"/chat", PageHandler, {"web": self}),
            (r"/api/messages", MessagesHandler, {"web": self}),
            (r"/healthz", HealthHandler, {"web": self}),
            (r"/api/admin/reload", AdminReloadHandler, {"web": self}),
        ]

    def application(self, extra_routes: list | None = None) -> tornado.web.Application:
        return tornado.web.Application(self.routes + (extra_routes or []), xsrf_cookies=False,
                                       compress_response=True)
