"""Telegram's updates between their arrival and their handling, kept in the database (``telegram_inbox``).

An update is written down before Telegram is told it arrived: the long poller (one worker at a time, the
``telegram-poller`` duty) confirms a batch with the next getUpdates offset only once the batch is stored,
and the webhook answers 200 only once the update is stored (503 otherwise, so Telegram sends it again). A
worker that dies therefore loses none of them.

Every worker then *claims* the oldest unhandled update of each chat that no one is handling and gives it to
its python-telegram-bot ``Application``: updates of different chats are handled side by side by all the
workers, those of one chat one after another, in order. A claim is held for CLAIM_SECONDS and renewed while
the turn runs; a claimer that dies lets it lapse and another worker handles the update (at least once: the
turn is written to the conversation and the escalation is updated rather than opened twice).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application

from bot.store import Store, StoreError, ago, now

log = logging.getLogger(__name__)

CLAIM_SECONDS = 20.0  # renewed every third of it while the update is being handled
MAX_ATTEMPTS = 5  # an update whose handling killed its worker this many times is left aside (and logged)
BATCH = 16  # updates (of as many chats) one worker handles side by side
IDLE_SECONDS = 0.25  # how often a worker with nothing to do looks for updates another worker stored
KEEP_HOURS = 1  # handled updates kept this long (a worker's restart never sees them again either way)


def chat_of(update: Update) -> str:
    """The key that orders updates: the chat, else the user, else the update itself."""
    if update.effective_chat:
        return str(update.effective_chat.id)
    if update.effective_user:
        return f"user:{update.effective_user.id}"
    return f"update:{update.update_id}"


class TelegramInbox:
    def __init__(self, store: Store, app: Application):
        self.store, self.app = store, app
        self.wake = asyncio.Event()
        self.inflight: set[int] = set()
        self._stopping = False
        self._tasks: list[asyncio.Task] = []
        self._poller: asyncio.Task | None = None

    # --- the database side --------------------------------------------------------------------

    def put(self, updates: list[Update]) -> int:
        """Store updates (those already stored are left as they are); returns how many were new."""
        stamp, new = now(), 0
        with self.store.transaction() as db:
            for update in updates:
                new += db.execute(
                    "insert into telegram_inbox (update_id, chat, payload, received_at, attempts)"
                    " values (:u, :c, :p, :t, 0) on conflict(update_id) do nothing",
                    {"u": update.update_id, "c": chat_of(update), "t": stamp,
                     "p": json.dumps(update.to_dict(), ensure_ascii=False)}).rowcount
        return new

    def claim(self, limit: int = BATCH) -> list[dict]:
        skip = " for update of i skip locked" if self.store.backend == "postgresql" else ""
        moment = time.time()
        with self.store.transaction() as db:
            rows = list(db.query(
                "select i.id, i.update_id, i.payload, i.attempts from telegram_inbox i"
                " where i.handled_at is null and (i.claimed_until is null or i.claimed_until < :now)"
                " and i.attempts < :max and not exists (select 1 from telegram_inbox j where j.chat = i.chat"
                " and j.handled_at is null and j.id < i.id and j.attempts < :max)"
                f" order by i.id limit :n{skip}", {"now": moment, "max": MAX_ATTEMPTS, "n": limit}))
            claimed = []
            for row in rows:
                taken = db.execute(
                    "update telegram_inbox set claimed_until = :until, attempts = attempts + 1 where id = :id"
                    " and handled_at is null and (claimed_until is null or claimed_until < :now)",
                    {"id": row["id"], "until": moment + CLAIM_SECONDS, "now": moment})
                if taken.rowcount == 1:
                    claimed.append(row)
                    if row["attempts"] + 1 == MAX_ATTEMPTS:
                        log.error("Telegram update %s: last attempt (%d before it ended their worker)",
                                  row["update_id"], row["attempts"])
        return claimed

    def renew(self, ids: list[int]) -> None:
        with self.store.transaction() as db:
            db.executemany("update telegram_inbox set claimed_until = ? where id = ? and handled_at is null",
                           [[time.time() + CLAIM_SECONDS, row_id] for row_id in ids])

    def done(self, row_id: int) -> None:
        with self.store.transaction() as db:
            db.execute("update telegram_inbox set handled_at = ? where id = ?", [now(), row_id])

    def forget_handled(self) -> int:
        with self.store.transaction() as db:
            return db.execute("delete from telegram_inbox where handled_at < ?", [ago(hours=KEEP_HOURS)]).rowcount

    def waiting(self) -> int:
        return self.store.query("select count(*) n from telegram_inbox where handled_at is null"
                                " and attempts < :max", {"max": MAX_ATTEMPTS})[0]["n"]

    # --- the event loop side -------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work()), asyncio.create_task(self._renew())]

    async def stop(self) -> None:
        """Stop claiming; the updates being handled finish (within 30 s) and are marked handled."""
        self._stopping = True
        self.wake.set()
        await self.stop_polling()
        worker, renewer = self._tasks or (None, None)
        if worker:
            try:
                await asyncio.wait_for(worker, 30)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
        if renewer:
            renewer.cancel()

    async def start_polling(self) -> None:
        await self.app.bot.delete_webhook()
        self._poller = asyncio.create_task(self._poll())

    async def stop_polling(self) -> None:
        if self._poller:
            self._poller.cancel()
            try:
                await self._poller
            except (asyncio.CancelledError, Exception):
                pass
            self._poller = None

    async def _poll(self) -> None:
        offset, backoff, swept = None, 1.0, 0.0
        while True:
            try:
                updates = await self.app.bot.get_updates(offset=offset, timeout=10, allowed_updates=Update.ALL_TYPES)
            except TelegramError as exc:
                log.warning("getUpdates failed (%s): again in %.0f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            if updates:
                try:
                    await asyncio.to_thread(self.put, updates)
                except StoreError as exc:  # not confirmed to Telegram: fetched again with the same offset
                    log.error("Telegram updates not stored (%s): fetched again shortly", exc.__class__.__name__)
                    await asyncio.sleep(1.0)
                    continue
                offset = updates[-1].update_id + 1
                self.wake.set()
            if time.monotonic() - swept > 600:
                swept = time.monotonic()
                try:
                    await asyncio.to_thread(self.forget_handled)
                except StoreError:
                    pass

    async def _work(self) -> None:
        while not self._stopping:
            try:
                rows = await asyncio.to_thread(self.claim)
            except StoreError as exc:
                log.warning("Telegram inbox not read (%s)", exc.__class__.__name__)
                rows = []
            if not rows:
                try:
                    await asyncio.wait_for(self.wake.wait(), IDLE_SECONDS)
                except asyncio.TimeoutError:
                    pass
                self.wake.clear()
                continue
            await asyncio.gather(*(self._handle(row) for row in rows))

    async def _handle(self, row: dict) -> None:
        self.inflight.add(row["id"])
        try:
            update = Update.de_json(json.loads(row["payload"]), self.app.bot)
            await self.app.process_update(update)
        except Exception:  # the handlers' own errors go to the application's error handler; this is the rest
            log.exception("Telegram update %s could not be handled", row["update_id"])
        finally:
            self.inflight.discard(row["id"])
            try:
                await asyncio.to_thread(self.done, row["id"])
            except StoreError as exc:  # its claim lapses and it is handled again: once more, not never
                log.warning("Telegram update %s handled, not marked (%s)", row["update_id"], exc.__class__.__name__)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(CLAIM_SECONDS / 3)
            if self.inflight:
                try:
                    await asyncio.to_thread(self.renew, list(self.inflight))
                except StoreError:
                    pass
