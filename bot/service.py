"""Run the bot as a service: web chat always, Telegram when ``TELEGRAM_BOT_TOKEN`` is set, WeChat when
``WECHAT_TOKEN`` is set (``/wechat`` on the same HTTP port).

Everything shares one asyncio event loop (tornado for HTTP, python-telegram-bot for
Telegram). Telegram runs by long polling, or by webhook when
``TELEGRAM_WEBHOOK_URL`` is set: Telegram's secret-token header
(``TELEGRAM_WEBHOOK_SECRET``) is checked on every webhook request. Either way its updates go through
the database (``bot.channels.telegram_inbox``). Under ``serve --workers N`` (``bot.workers``) one such
service runs in each worker; polling and the daily push are duties one worker holds at a time.
"""

from __future__ import annotations

import asyncio
import datetime
import hmac
import logging
import os
import secrets
import signal
from dataclasses import dataclass

import tornado.httpserver
import tornado.web
from telegram import Bot, Update
from telegram.ext import Application

from bot.channels.telegram_inbox import TelegramInbox
from bot.channels.telegram import DEFAULT_BASE_URL, ResidentBot, TelegramMessenger, build_application
from bot.channels.telegram_desk import DeskBot
from bot.channels.web import SERVER_MAX_BODY, BaseHandler, WebChannel, WebMessenger, parse_json
from bot.channels.wechat import WeChatChannel, WeChatConfig
from bot.channels.wecom import WeComDesk
from bot.config import Settings
from bot.outreach.broadcast import Broadcaster
from bot.desk.outbox import Desk, DeskSettings
from bot.desk.residents import ResidentLoop
from bot.dialogue.actions import REACHABLE_CHANNELS
from bot.dialogue.engine import Engine
from bot.redact import loggable
from bot.store import StoreError
from bot.staff.reload import Reloader, watch
from bot.workers import Duty, ReloadFollower

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/telegram/webhook"


@dataclass
class TelegramConfig:
    token: str
    base_url: str | None
    webhook_url: str | None
    webhook_secret: str

    @classmethod
    def from_env(cls) -> "TelegramConfig | None":
        token = os.environ.get("TELEGRAM_BOT_TOKEN", "").strip()
        if not token:
            return None
        return cls(token=token, base_url=os.environ.get("TELEGRAM_API_BASE_URL") or None,
                   webhook_url=os.environ.get("TELEGRAM_WEBHOOK_URL") or None,
                   webhook_secret=os.environ.get("TELEGRAM_WEBHOOK_SECRET") or secrets.token_urlsafe(24))


class WebhookHandler(BaseHandler):
    """Telegram's webhook: only requests carrying our secret token are accepted."""

    def initialize(self, app: Application, inbox: TelegramInbox, secret: str):
        super().initialize()
        self.app, self.inbox, self.secret = app, inbox, secret

    async def post(self):
        if not self.read_body():
            return
        given = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            log.warning("webhook request with a wrong secret token from %s", loggable(self.address()))
            return self.fail(403, "forbidden")
        body = parse_json(self.request.body)
        if not isinstance(body, dict) or not isinstance(body.get("update_id"), int):
            return self.fail(400, "not an update")
        try:
            update = Update.de_json(body, self.app.bot)
        except (ValueError, TypeError, KeyError, AttributeError):
            return self.fail(400, "not an update")
        try:  # stored before Telegram hears "ok": a worker that dies now loses nothing
            await asyncio.to_thread(self.inbox.put, [update])
        except StoreError:
            return self.fail(503, "try again")  # Telegram sends it again
        self.inbox.wake.set()
        self.send_json({"ok": True})


class Service:
    """The running bot: channels around one engine."""

    def __init__(self, settings: Settings, engine: Engine, telegram: TelegramConfig | None, web: bool = True,
                 sockets: list | None = None):
        self.settings, self.engine, self.telegram_config, self.web_enabled = settings, engine, telegram, web
        self.sockets = sockets  # a worker of ``serve --workers N``: the port its supervisor bound
        # Only one worker at a time polls Telegram (two pollers on one token conflict) or sends the daily push.
        self.poller = Duty(engine.store, "telegram-poller", self.start_polling, self.stop_polling)
        self.pusher = Duty(engine.store, "daily-push")
        self.telegram: Application | None = None
        self.inbox: TelegramInbox | None = None
        self.desk_bot: DeskBot | None = None
        self.sender = None
        self.server = None
        self.stopping = asyncio.Event()
        self.port: int | None = None
        self.reloader = Reloader(engine, settings)
        self.reloads = ReloadFollower(engine.store, self.reloader)  # a reload in one worker is done by all
        self.broadcaster: Broadcaster | None = None
        self.watcher: asyncio.Task | None = None
        self.wechat_config = WeChatConfig.from_env()
        self.wechat: WeChatChannel | None = None
        self.wecom: WeComDesk | None = None
        self.wechat_push: asyncio.Task | None = None
        self.residents: ResidentLoop | None = None

    def routes(self) -> list:
        """Extra HTTP routes (the Telegram webhook) besides the web chat."""
        routes = self.wechat.routes() if self.wechat else []
        if self.telegram and self.telegram_config.webhook_url:
            routes.append((WEBHOOK_PATH, WebhookHandler, {"app": self.telegram, "inbox": self.inbox,
                                                          "secret": self.telegram_config.webhook_secret}))
        return routes

    async def start(self) -> None:
        if self.telegram_config:
            self.telegram = build_application(self.telegram_config.token, self.telegram_config.base_url)
            # Alerts and broadcasts go out through a bot of their own: a failing staff chat or a big
            # broadcast never pauses residents' replies.
            self.sender = Bot(self.telegram_config.token, base_url=self.telegram_config.base_url or DEFAULT_BASE_URL)
            self.broadcaster = Broadcaster(self.engine.subscriptions, TelegramMessenger(self.sender), self.settings.content_dir,
                                           self.engine.actions.hotline_line(),
                                           float(self.broadcast_config.get("rate_per_second", 30)))
            self.desk_bot = DeskBot(self.engine, Desk(self.engine.store, DeskSettings.from_settings(self.settings)),
                                    self.reloader, self.broadcaster)
            self.desk_bot.register(self.telegram)  # staff handlers first: they win over the residents' catch-all
            ResidentBot(self.engine).register(self.telegram)
            await self.telegram.initialize()
            await self.telegram.start()
            self.inbox = TelegramInbox(self.engine.store, self.telegram)
            await self.inbox.start()
            await self.sender.initialize()
            await self.desk_bot.start(self.telegram, self.sender)
            self.schedule_broadcast()
            if self.telegram_config.webhook_url:
                await self.telegram.bot.set_webhook(self.telegram_config.webhook_url,
                                                    secret_token=self.telegram_config.webhook_secret,
                                                    allowed_updates=Update.ALL_TYPES)
            else:
                await self.poller.start()
        await self.pusher.start()
        await self.reloads.start()
        self.wecom = WeComDesk.from_env(self.engine, Desk(self.engine.store, DeskSettings.from_settings(self.settings)))
        if self.wecom:
            await self.wecom.start()
            log.info("duty-desk alerts to the WeCom group robot")
        if self.wechat_config:
            self.wechat = WeChatChannel(self.engine, self.wechat_config)
            if self.broadcast_config.get("enabled", True) and self.wechat_config.app_secret:
                self.wechat_push = asyncio.create_task(self.wechat_daily())
            log.info("WeChat official account on %s (%s mode)", "/wechat", "safe" if self.wechat.crypto else "plain")
        # The desk writes back to residents through the messengers this service runs (WeChat: the
        # customer-service API, which needs the app secret); only there is a resident told to expect contact.
        messengers = {}
        if self.sender:
            messengers["telegram"] = TelegramMessenger(self.sender)
        if self.wechat and self.wechat_config.app_secret:
            messengers["wechat"] = self.wechat.messenger
        if self.web_enabled:
            messengers["web"] = WebMessenger(self.engine.store)
        self.engine.reachable = set(messengers) & REACHABLE_CHANNELS
        if messengers:
            self.residents = ResidentLoop(self.engine, Desk(self.engine.store,
                                                            DeskSettings.from_settings(self.settings)), messengers)
            await self.residents.start()
        if self.web_enabled or self.wechat or (self.telegram_config and self.telegram_config.webhook_url):
            web = WebChannel(self.engine, reloader=self.reloader)
            app = web.application(self.routes()) if self.web_enabled else tornado.web.Application(self.routes())
            web_config = (self.settings.raw.get("channels") or {}).get("web") or {}
            proxied = bool(web_config.get("trust_proxy", False))
            if self.sockets:
                self.server = tornado.httpserver.HTTPServer(app, max_body_size=SERVER_MAX_BODY, xheaders=proxied)
                self.server.add_sockets(self.sockets)
            else:
                self.server = app.listen(self.settings.web_port, self.settings.web_host,
                                         max_body_size=SERVER_MAX_BODY, xheaders=proxied)
            self.port = next(iter(self.server._sockets.values())).getsockname()[1]
            log.info("web chat on http://%s:%s/", self.settings.web_host, self.port)
        if (self.settings.raw.get("reload") or {}).get("watch"):
            paths = [self.settings.nlu_dir, self.settings.stories_dir, self.settings.content_dir]
            self.watcher = asyncio.create_task(watch(self.reloader, paths))

    async def start_polling(self) -> None:
        await self.inbox.start_polling()

    async def stop_polling(self) -> None:
        await self.inbox.stop_polling()

    async def wechat_daily(self) -> None:
        """The daily warning to WeChat followers by mass send, at the configured local time."""
        from bot.channels.wechat import mass_send

        hour, minute = (int(x) for x in str(self.broadcast_config.get("time", "09:00")).split(":"))
        while True:
            now_local = datetime.datetime.now().astimezone()
            due = now_local.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if due <= now_local:
                due += datetime.timedelta(days=1)
            await asyncio.sleep((due - now_local).total_seconds())
            if not self.pusher.held:
                continue  # another worker sends it
            try:
                result = await asyncio.to_thread(mass_send, self.wechat, self.engine.actions.hotline_line())
                log.info("WeChat daily warning: %s", result or "no alert for today")
            except Exception:
                log.exception("WeChat daily warning failed")

    @property
    def broadcast_config(self) -> dict:
        return self.settings.raw.get("broadcast") or {}

    def schedule_broadcast(self) -> None:
        """The daily warning at the configured local time (python-telegram-bot's JobQueue)."""
        if not self.broadcast_config.get("enabled", True) or not self.telegram.job_queue:
            return
        hour, minute = (int(x) for x in str(self.broadcast_config.get("time", "09:00")).split(":"))
        zone = datetime.datetime.now().astimezone().tzinfo

        async def job(context):
            if not self.pusher.held:
                return  # another worker sends it
            result = await self.broadcaster.run_today()
            log.info("daily broadcast: %s", result or "no alert for today")

        self.telegram.job_queue.run_daily(job, time=datetime.time(hour, minute, tzinfo=zone), name="daily-alert")

    async def stop(self) -> None:
        if self.watcher:
            self.watcher.cancel()
        if self.server:
            self.server.stop()
        if self.wechat_push:
            self.wechat_push.cancel()
        if self.wecom:
            await self.wecom.stop()
        if self.residents:
            await self.residents.stop()
        if self.wechat:
            await self.wechat.close()  # replies still on their way through the customer-service API
        await self.pusher.stop()
        await self.reloads.stop()
        if self.inbox:
            await self.inbox.stop()  # the updates being handled finish; the rest wait in the database
            await self.poller.stop()  # after the last poll: the next worker takes over at once
        if self.desk_bot:
            await self.desk_bot.stop()
        if self.sender:
            await self.sender.shutdown()
        if self.telegram:
            await self.telegram.stop()
            await self.telegram.shutdown()
        # Turns still being judged finish and write their records (an escalation among them goes out next start).
        await asyncio.to_thread(self.engine.close)

    async def run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        await self.start()
        try:
            await self.stopping.wait()
        finally:
            await self.stop()


def run(settings: Settings, engine: Engine, web: bool = True, telegram_required: bool = False,
        sockets: list | None = None) -> int:
    telegram = TelegramConfig.from_env()
    if telegram_required and telegram is None:
        log.error("TELEGRAM_BOT_TOKEN is not set")
        print("请设置环境变量 TELEGRAM_BOT_TOKEN / set TELEGRAM_BOT_TOKEN", flush=True)
        return 2
    asyncio.run(Service(settings, engine, telegram, web, sockets).run_forever())
    return 0
