"""``python -m bot bench --faults``: are escalations recorded whatever happens to the processes?

Each scenario runs real ``python -m bot serve`` processes on one SQLite file and real clients over HTTP,
and counts, for every escalating message, whether the client was told (an urgent reply) and whether the
escalation is in the database afterwards (after a restart replays any spooled record):

- ``two_servers``: two servers on one file, clients on both, for ``seconds``;
- ``serve_and_staff``: a server, clients, and staff at the terminal at the same time (``escalation --set``
  in a loop, and a ``chat`` process with its own dangerous conversation);
- ``kill_9``: a burst of escalations, the server killed with SIGKILL in the middle, then restarted;
- ``flood``: 500 escalations from one address; the desk's queue is read while it lasts.

Target: recorded / told = 100 % in every scenario and no 5xx answer.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.config import PROJECT_ROOT, Settings

URGENT = [
    "自称公安局的人说我涉嫌洗钱，让我把存款转到安全账户，我现在在银行柜台正在转",
    "对方说是检察院的，让我交保证金，我已经转了两万",
    "我刚把验证码告诉了说是银行客服的人，他还在电话里让我继续操作",
    "网上贷款说我流水不够，要我先交解冻费八千，我正在去银行的路上",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(db: Path, port: int | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "STAFF_"))}
    env.update(BOT_DB_PATH=str(db), PYTHONIOENCODING="utf-8")
    if port:
        env["BOT_WEB_PORT"] = str(port)
    return env


class Server:
    """One ``python -m bot serve`` process."""

    def __init__(self, db: Path, settings: Settings):
        self.db, self.settings, self.port = db, settings, _free_port()
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> "Server":
        env = _env(self.db, self.port)
        env["BOT_CONFIG"] = str(self.settings.root / "config.yml")
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=PROJECT_ROOT, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1).read()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"serve exited with {self.proc.returncode}")
                time.sleep(0.2)
        raise RuntimeError("serve did not start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Tally:
    """What the clients were told, thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.told: set[str] = set()
        self.server_errors = 0
        self.other_errors = 0
        self.latencies: list[float] = []

    def send(self, port: int, user: str, text: str, timeout: float = 60) -> None:
        body = json.dumps({"user": user, "text": text}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/messages", body,
                                         {"Content-Type": "application/json"})
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                data = json.loads(response.read())
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
            data = json.loads(error.read() or b"{}") if error.code < 500 else {}
        except OSError:
            with self.lock:
                self.other_errors += 1  # the server was killed, or refused the connection
            return
        with self.lock:
            self.latencies.append((time.perf_counter() - started) * 1000)
            if status >= 500:
                self.server_errors += 1
            elif any(r.get("urgent") for r in data.get("replies", [])):
                self.told.add(user)


def _recorded(db: Path, users: set[str]) -> int:
    """How many of ``users`` have an escalation in the database (after a fresh Store replays the spool)."""
    from bot.desk.escalations import Escalations
    from bot.store import Store

    store = Store(db)
    Escalations(store)  # replays bot.db.pending, if anything is in it
    store.close()
    with sqlite3.connect(db) as conn:
        chats = {row[0] for row in conn.execute("select chat_id from escalations where channel = 'web'")}
    return len(users & chats)


def _figures(name: str, tally: Tally, recorded: int, **extra) -> dict:
    told = len(tally.told)
    latencies = sorted(tally.latencies)
    return {"scenario": name, "told": told, "recorded": recorded,
            "recorded_pct": round(100.0 * recorded / told, 1) if told else None,
            "server_errors": tally.server_errors, "connection_errors": tally.other_errors,
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 0) if latencies else None, **extra}


def _clients(ports: list[int], tally: Tally, prefix: str, stop: threading.Event, per_port: int = 2) -> list:
    def run(port: int, worker: int):
        index = 0
        while not stop.is_set():
            tally.send(port, f"{prefix}-{port}-{worker}-{index}", URGENT[index % len(URGENT)])
            index += 1

    threads = [threading.Thread(target=run, args=(port, w)) for port in ports for w in range(per_port)]
    for thread in threads:
        thread.start()
    return threads


def two_servers(settings: Settings, workdir: Path, seconds: float) -> dict:
    db = workdir / "two.db"
    servers = [Server(db, settings).start(), Server(db, settings).start()]
    tally, stop = Tally(), threading.Event()
    threads = _clients([s.port for s in servers], tally, "two", stop)
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    for server in servers:
        server.stop()
    return _figures("two_servers", tally, _recorded(db, tally.told), seconds=seconds)


def serve_and_staff(settings: Settings, workdir: Path, seconds: float) -> dict:
    db = workdir / "staff.db"
    server = Server(db, settings).start()
    tally, stop = Tally(), threading.Event()
    threads = _clients([server.port], tally, "staff", stop)
    env = _env(db)
    env["BOT_CONFIG"] = str(settings.root / "config.yml")
    chat = subprocess.Popen([sys.executable, "-m", "bot", "chat", "--user", "terminal-resident"], cwd=PROJECT_ROOT,
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    chat_lines = "".join(f"{URGENT[i % len(URGENT)]}\n" for i in range(40)).encode()
    chat_result: dict = {}
    chat_thread = threading.Thread(target=lambda: chat_result.update(out=chat.communicate(chat_lines, timeout=600)[0]))
    chat_thread.start()
    changes = changes_ok = 0
    ends = time.time() + seconds
    while time.time() < ends:
        with sqlite3.connect(db) as conn:
            row = conn.execute("select id from escalations where status = 'open' order by random() limit 1").fetchone()
        if not row:
            time.sleep(0.2)
            continue
        changes += 1
        done = subprocess.run([sys.executable, "-m", "bot", "escalation", str(row[0]), "--set", "claimed",
                               "--note", "bench"], cwd=PROJECT_ROOT, env=env, capture_output=True, timeout=120)
        changes_ok += done.returncode == 0
    stop.set()
    for thread in threads:
        thread.join()
    chat_thread.join()
    server.stop()
    with sqlite3.connect(db) as conn:
        events = conn.execute("select count(*) from escalation_events where action = 'status' and note = 'bench'"
                              ).fetchone()[0]
        terminal = conn.execute("select count(*) from escalations where channel = 'terminal'").fetchone()[0]
    replies = (chat_result.get("out") or b"").decode("utf-8", "replace").count("反诈助手：")
    return _figures("serve_and_staff", tally, _recorded(db, tally.told), seconds=seconds,
                    status_changes=changes, status_changes_ok=changes_ok, status_changes_recorded=events,
                    chat_process_exit=chat.returncode, chat_turns_answered=f"{min(replies, 40)}/40",
                    chat_escalation_recorded=terminal == 1)


def kill_9(settings: Settings, workdir: Path, seconds: float) -> dict:
    db = workdir / "kill.db"
    server = Server(db, settings).start()
    tally, stop = Tally(), threading.Event()
    threads = _clients([server.port], tally, "kill", stop, per_port=4)
    time.sleep(seconds)
    server.proc.send_signal(signal.SIGKILL)  # mid-burst: requests in flight die with it
    server.proc.wait()
    stop.set()
    for thread in threads:
        thread.join()
    restarted = Server(db, settings).start()  # a restart replays what is pending
    restarted.stop()
    return _figures("kill_9", tally, _recorded(db, tally.told), seconds=seconds)


def flood(settings: Settings, workdir: Path, count: int = 500) -> dict:
    db = workdir / "flood.db"
    server = Server(db, settings).start()
    tally = Tally()
    queue_ms: list[float] = []
    done = threading.Event()

    def read_queue():  # the duty officer's view while the flood lasts
        while not done.is_set():
            started = time.perf_counter()
            with sqlite3.connect(db, timeout=30) as conn:
                conn.execute("select id, risk, group_id from escalations where status = 'open'"
                             " order by id desc limit 2000").fetchall()
            queue_ms.append((time.perf_counter() - started) * 1000)
            time.sleep(0.2)

    reader = threading.Thread(target=read_queue)
    reader.start()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: tally.send(server.port, f"flood-{i}", URGENT[i % len(URGENT)]), range(count)))
    done.set()
    reader.join()
    server.stop()
    with sqlite3.connect(db) as conn:
        alerts = dict(conn.execute("select kind, count(*) from outbox group by kind").fetchall())
        groups = conn.execute("select count(distinct group_id) from escalations where group_id is not null").fetchone()[0]
    return _figures("flood", tally, _recorded(db, tally.told), sent=count,
                    staff_alerts=alerts.get("staff_alert", 0), flood_alerts=alerts.get("staff_flood", 0),
                    flood_groups=groups, queue_read_ms_max=round(max(queue_ms or [0]), 1))


def run(settings: Settings, seconds: float = 60, flood_count: int = 500) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        return [two_servers(settings, workdir, seconds), serve_and_staff(settings, workdir, max(seconds / 3, 5)),
                kill_9(settings, workdir, max(seconds / 10, 3)), flood(settings, workdir, flood_count)]
