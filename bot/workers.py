"""Several worker processes on one port (``serve --workers N``), and the duties only one of them may do.

The supervisor reserves the HTTP port and forks N workers, each listening on it with ``SO_REUSEPORT``: the
kernel spreads new connections over them (a shared listening socket would not: whichever worker is first to
accept takes every keep-alive connection), so any worker serves any web chat, WeChat or Telegram webhook
request. Each
worker builds its own engine and its own database pool after the fork (nothing is shared but the socket),
and a worker that dies is started again. Order within a conversation, alerts sent once and follow-ups
queued once are kept by the database (``bot.store``, ``bot.desk``), not by this module.

What must run in one place at a time (Telegram long polling: two pollers on one token conflict; the daily
push) is a ``Duty``: a lease in the database that its holder renews every few seconds. When the holder
dies the lease runs out and the next worker that asks takes the duty over.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from typing import Awaitable, Callable

from bot.store import Store, StoreError

log = logging.getLogger(__name__)

LEASE_SECONDS = 10.0  # a dead holder's duty waits at most this long (and a third more) for another worker
QUICK_DEATH_SECONDS = 10.0  # a worker dying sooner than this after its start counts towards giving up
MAX_QUICK_DEATHS = 5


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a supervisor's workers), from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return sorted(found)


class Duty:
    """A job only one worker does at a time (``held``), with ``on_gain``/``on_loss`` called as it changes hands.

    On SQLite there is one process per database, so the duty is simply held. On PostgreSQL the lease is
    renewed every third of its life; a holder that cannot reach the database keeps the duty only until its
    lease would have run out, so two workers never both believe they hold it.
    """

    def __init__(self, store: Store, name: str, on_gain: Callable[[], Awaitable] | None = None,
                 on_loss: Callable[[], Awaitable] | None = None, seconds: float = LEASE_SECONDS):
        self.store, self.name, self.seconds = store, name, seconds
        self.on_gain, self.on_loss = on_gain, on_loss
        self.holder = holder_name()
        self.held = False
        self._valid_until = 0.0
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self.check()
        if self.store.backend == "postgresql":
            self._task = asyncio.create_task(self._keep())

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.seconds / 3)
            try:
                await self.check()
            except Exception:  # a failing on_gain/on_loss must not end the keeping
                log.exception("duty %s: hand-over failed", self.name)

    async def check(self) -> None:
        if self.store.backend != "postgresql":
            got = True
        else:
            asked = time.monotonic()
            try:
                got = await asyncio.to_thread(self.store.take_lease, self.name, self.holder, self.seconds)
            except StoreError as exc:
                got = self.held and time.monotonic() < self._valid_until
                log.warning("duty %s: lease not renewed (%s)%s", self.name, exc.__class__.__name__,
                            "; kept until it would run out" if got else "")
            else:
                if got:
                    self._valid_until = asked + self.seconds * 0.9
        if got and not self.held:
            self.held = True
            log.info("duty %s taken by %s", self.name, self.holder)
            if self.on_gain:
                await self.on_gain()
        elif not got and self.held:
            self.held = False
            log.warning("duty %s lost by %s", self.name, self.holder)
            if self.on_loss:
                await self.on_loss()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        if self.held and self.store.backend == "postgresql":
            try:  # the next worker need not wait for the lease to run out
                await asyncio.to_thread(self.store.give_up_lease, self.name, self.holder)
            except StoreError:
                pass
        self.held = False


RELOAD_KEY = "content-reloaded"
RELOAD_POLL_SECONDS = 5.0


class ReloadFollower:
    """A reload in one worker (``/reload``, the admin URL, the file watcher) is done by every worker: the
    worker that reloaded writes when and who into ``kv``; the others look every few seconds and reload too."""

    def __init__(self, store: Store, reloader):
        self.store, self.reloader = store, reloader
        self.holder = holder_name()
        self.seen = time.time()
        self._task: asyncio.Task | None = None
        reloader.listeners.append(self.announce)

    def announce(self) -> None:
        import json

        stamp = time.time()
        self.seen = stamp
        with self.store.transaction() as db:
            db["kv"].upsert({"key": RELOAD_KEY, "value": json.dumps({"at": stamp, "by": self.holder}),
                             "expires_at": None}, pk="key")

    def latest(self) -> dict | None:
        import json

        rows = self.store.query("select value from kv where key = :k", {"k": RELOAD_KEY})
        return json.loads(rows[0]["value"]) if rows else None

    async def start(self) -> None:
        if self.store.backend == "postgresql":
            self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_POLL_SECONDS)
            try:
                latest = await asyncio.to_thread(self.latest)
            except StoreError:
                continue
            if latest and latest["at"] > self.seen and latest["by"] != self.holder:
                self.seen = latest["at"]
                self.reloader.listeners.remove(self.announce)  # following, not announcing again
                try:
                    report = await self.reloader.reload_async()
                    log.info("reloaded after %s did: %s", latest["by"], "ok" if report.ok else "refused")
                finally:
                    self.reloader.listeners.append(self.announce)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()


def supervise(count: int, host: str, port: int, worker: Callable[[int, list], int]) -> int:
    """Reserve ``host:port``, fork ``count`` workers running ``worker(index, sockets)`` (each with its own
    listening sockets on the port), restart any that dies,
    and stop them all on SIGTERM/SIGINT. Returns the exit status."""
    import tornado.netutil

    # The port is held by a socket that is bound but never listens: it keeps the port for restarted workers
    # and is given no connections.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if port and _answers(host, port):  # SO_REUSEPORT would let us join another service's port silently
        raise OSError(f"port {port} on {host} is already in use by another service")
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((host, port))
    bound = holder.getsockname()[1]
    log.info("supervisor %d: %d workers on http://%s:%s/", os.getpid(), count, host, bound)
    print(f"{count} workers on http://{host}:{bound}/", flush=True)
    children: dict[int, tuple[int, float]] = {}  # pid -> (index, started)
    stopping = [False]
    quick_deaths = [0]

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                holder.close()
                status = worker(index, tornado.netutil.bind_sockets(bound, host, reuse_port=True))
            except BaseException:
                log.exception("worker %d failed", index)
            finally:
                logging.shutdown()
                os._exit(status)
        children[pid] = (index, time.monotonic())

    def stop(signum, _frame) -> None:
        stopping[0] = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for index in range(count):
        spawn(index)
    status = 0
    while children:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            break
        if pid not in children:
            continue
        index, started = children.pop(pid)
        if stopping[0]:
            continue
        how = (f"signal {os.WTERMSIG(code)}" if os.WIFSIGNALED(code) else f"exit {os.WEXITSTATUS(code)}")
        if os.WIFEXITED(code) and os.WEXITSTATUS(code) == 0:
            log.info("worker %d (pid %d) stopped", index, pid)
            continue
        quick_deaths[0] = quick_deaths[0] + 1 if time.monotonic() - started < QUICK_DEATH_SECONDS else 0
        if quick_deaths[0] >= MAX_QUICK_DEATHS:
            log.error("workers keep dying at start (%s): stopping", how)
            status = 1
            stop(signal.SIGTERM, None)
            continue
        log.warning("worker %d (pid %d) died (%s): starting a new one", index, pid, how)
        spawn(index)
    holder.close()
    return status
