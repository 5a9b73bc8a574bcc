"""Run the real bot service in a thread: Telegram against the fake Bot API, and/or the web chat."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time

from bot.app import build_engine
from bot.service import Service, TelegramConfig
from bot.store import Store


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_REQUIRED = os.environ.get("BOT_REQUIRE_BROWSER") == "1"  # .ci/run: a missing browser fails, not skips
OFFICER = 4242  # a duty-desk officer (STAFF_USER_IDS in tests that use staff_env)
STAFF_CHAT = -1009990001  # the staff chat (STAFF_CHAT_ID)


class RunningBot:
    """The service in a thread with its own event loop; stop() shuts it down cleanly."""

    def __init__(self, settings, fake, db_path, understander, webhook_url=None, secret="s3cret", web=False):
        self.store = Store(db_path)
        self.engine = build_engine(settings, self.store, understander)
        config = None
        if fake is not None:
            config = TelegramConfig(token=fake.token, base_url=fake.base_url, webhook_url=webhook_url,
                                    webhook_secret=secret)
        self.service = Service(settings, self.engine, config, web=web)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:  # surfaced to the test
            self.error = exc
            self.ready.set()

    async def _main(self):
        self.service.stopping = asyncio.Event()
        await self.service.start()
        self.ready.set()
        await self.service.stopping.wait()
        await self.service.stop()
        await self.loop.shutdown_default_executor()  # no store write from a worker thread after stop()

    def start(self) -> "RunningBot":
        self.thread.start()
        self.ready.wait(30)
        if self.error:
            raise self.error
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.service.stopping.set)
        self.thread.join(30)
        self.store.close()

    def wait_rows(self, sql: str, timeout: float = 15.0) -> list[dict]:
        """The rows of ``sql`` once there are any (the service writes from its own threads)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.store.query(sql)
            if rows:
                return rows
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for: {sql}")


def phone_page(playwright):
    """Debian's headless Chromium with a page the size of a phone's screen (the browser closes with
    ``playwright``'s context)."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--disable-quic"])
    return browser.new_page(viewport={"width": 390, "height": 844})

