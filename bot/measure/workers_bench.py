"""``python -m bot bench --conversations N --workers 1,2,4 --db sqlite|postgresql``: the whole service over HTTP.

For each worker count a real ``serve`` (``--workers N``) is started on a free port with the project's content,
behind what looks like the centre's reverse proxy (every resident has an address of their own, as the rate
limit and the flood guard see them). N residents then hold a conversation of ``--rounds`` turns each through
the web chat's JSON API, ``--concurrency`` requests in flight at a time (a closed loop: the figure is the
most the service answers, with the latency that costs), or paced at ``--rate`` requests a second (an open
loop: the latency at that load). Reported per run: replies per second, p50/p99/max latency, errors, and the
RSS of every worker at the end.

The load comes from this process, on the same machine: on 2 cores its share of the CPU is part of what
bounds the figures, and it is measured (``client_cpu_s``).
"""

from __future__ import annotations

import asyncio
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

from bot.config import PROJECT_ROOT, Settings
from bot.measure.conversations_bench import SCRIPTS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config(settings: Settings, folder: Path) -> Path:
    """The project's config with absolute paths, behind a trusted proxy, without the file watcher."""
    source = PROJECT_ROOT / "config.yml"
    doc = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    paths = doc.setdefault("paths", {})
    for key, value in list(paths.items()):
        if key != "database":
            paths[key] = str((source.parent / str(value)).resolve())
    doc.setdefault("channels", {}).setdefault("web", {})["trust_proxy"] = True
    doc["reload"] = {"watch": False}
    doc.setdefault("broadcast", {})["enabled"] = False
    path = folder / "config.yml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _workers_of(proc: subprocess.Popen, count: int) -> list[int]:
    if count <= 1:
        return [proc.pid]
    from bot.workers import children_of

    return children_of(proc.pid)


async def _load(url: str, users: int, rounds: int, concurrency: int, rate: float, tag: str) -> dict:
    import httpx

    rng = random.Random(0)
    scripts = [rng.choice(SCRIPTS) for _ in range(users)]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        async def turn(user: int, text: str) -> None:
            async with gate:
                started = time.perf_counter()
                try:
                    response = await client.post("/api/messages", json={"user": f"{tag}u{user}", "text": text},
                                                 headers={"X-Real-Ip": f"10.{user // 65536 % 256}.{user // 256 % 256}"
                                                                       f".{user % 256}"})
                    key = None if response.status_code == 200 else f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                latencies.append((time.perf_counter() - started) * 1000)
                if key:
                    errors[key] = errors.get(key, 0) + 1

        started = time.perf_counter()
        for round_index in range(rounds):
            batch = [(u, scripts[u][round_index % len(scripts[u])]) for u in range(users)]
            if rate:
                tasks, t0 = [], time.perf_counter()
                for n, (u, text) in enumerate(batch):
                    delay = t0 + n / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.append(asyncio.create_task(turn(u, text)))
                await asyncio.gather(*tasks)
            else:
                await asyncio.gather(*(turn(u, text) for u, text in batch))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"requests": len(latencies), "seconds": round(elapsed, 1),
            "replies_per_s": round((len(latencies) - sum(errors.values())) / elapsed, 1),
            "latency_ms_p50": round(statistics.median(latencies), 1),
            "latency_ms_p99": round(latencies[int(0.99 * (len(latencies) - 1))], 1),
            "latency_ms_max": round(latencies[-1], 1), "errors": errors}


def run_one(settings: Settings, workers: int, db: str, users: int, rounds: int, concurrency: int,
            rate: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = _free_port()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TELEGRAM_", "WECHAT_", "WECOM_", "STAFF_", "BOT_DATABASE_URL"))}
        env.update(BOT_CONFIG=str(_config(settings, folder)), BOT_WEB_PORT=str(port),
                   BOT_DB_PATH=str(folder / "bench.db"), PYTHONIOENCODING="utf-8")
        if db == "postgresql":
            if not os.environ.get("BOT_DATABASE_URL"):
                raise SystemExit("--db postgresql: set BOT_DATABASE_URL to a database the bench may write to")
            env["BOT_DATABASE_URL"] = os.environ["BOT_DATABASE_URL"]
        command = [sys.executable, "-m", "bot", "serve"] + (["--workers", str(workers)] if workers > 1 else [])
        log = open(folder / "serve.log", "wb")
        proc = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    with urllib.request.urlopen(url + "/healthz", timeout=2):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("the service did not start:\n" + (folder / "serve.log").read_text()[-2000:])
                    time.sleep(0.3)
            time.sleep(2 if workers > 1 else 0)  # every worker up, not only the first
            pids = _workers_of(proc, workers)
            server0 = [_cpu_s(pid) for pid in pids]
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            figures = asyncio.run(_load(url, users, rounds, concurrency, rate, f"b{int(time.time())}w{workers}"))
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            figures["server_cpu_s_per_worker"] = [round(_cpu_s(pid) - before, 1) for pid, before in zip(pids, server0)]
            figures["rss_mb_per_worker"] = [_rss_mb(pid) for pid in pids]
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
    return {"db": db, "workers": workers, "conversations": users, "rounds": rounds,
            "concurrency": concurrency, "rate": rate or None, **figures,
            "client_cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 1)}


def run_workers(settings: Settings, args) -> dict:
    counts = [int(n) for n in str(args.workers).split(",") if n.strip()]
    if args.db == "sqlite" and any(n > 1 for n in counts):
        raise SystemExit("a SQLite file is served by one process: --db sqlite runs with --workers 1")
    runs = [run_one(settings, n, args.db, args.conversations, args.rounds, args.concurrency, args.rate)
            for n in counts]
    return {"runs": runs}
