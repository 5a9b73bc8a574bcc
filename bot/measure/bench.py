"""Benchmarks (``python -m bot bench``): speed and memory are product features.

Figures: full retrain time, model load time in a fresh process, classify latency
p50/p99 per message, messages per second (one by one and batched), peak RSS, and
bare jieba segmentation of the same messages as the floor.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bot.config import PROJECT_ROOT, Settings
from bot.measure.memory import peak_rss_mb, rss_mb


def _messages(settings: Settings, count: int) -> list[str]:
    """Realistic messages (the held-out set), cycled to ``count``."""
    texts: list[str] = []
    for name in ("heldout.jsonl",):
        path = PROJECT_ROOT / "tests" / "data" / name
        if path.exists():
            texts.extend(json.loads(line)["text"] for line in path.open(encoding="utf-8") if line.strip())
    if not texts:
        texts = ["刚才有个自称公安局的人让我把钱转到安全账户", "今天天气不错"]
    return [texts[i % len(texts)] for i in range(count)]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _load_in_fresh_process(settings: Settings) -> dict:
    """Time imports and model load in a new interpreter (the cache is warm)."""
    probe = (
        "import time,json;t0=time.perf_counter();"
        "from bot.config import load_settings;from bot.nlu.understand import Understander;"
        "t1=time.perf_counter();u=Understander(load_settings());u.understand('你好');t2=time.perf_counter();"
        "hwm=[l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1];"
        "print(json.dumps({'import_s':t1-t0,'load_s':t2-t1,'trained':u.info.trained,'rss_mb':int(hwm)/1024}))"
    )
    env = dict(os.environ)
    if settings.root:
        env.setdefault("BOT_CONFIG", str(settings.root / "config.yml"))
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(settings: Settings, count: int) -> dict:
    from bot.nlu.understand import Understander

    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    except (AttributeError, OSError):
        pass
    started = time.perf_counter()
    understander = Understander(settings, retrain=True)
    train_s = time.perf_counter() - started
    fresh = _load_in_fresh_process(settings)
    messages = _messages(settings, count)
    for text in messages[:200]:  # warm-up
        understander.understand(text)
    latencies = []
    started = time.perf_counter()
    for text in messages:
        t0 = time.perf_counter()
        understander.understand(text)
        latencies.append((time.perf_counter() - t0) * 1000)
    single_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in understander.understand_many(messages, batch_size=256):
        pass
    batch_s = time.perf_counter() - started
    segment = understander.nlp.tokenizer.jieba_seg.cut
    started = time.perf_counter()
    for text in messages:
        list(segment(text))
    jieba_s = time.perf_counter() - started
    parts = _parts(understander, messages[:2000])
    return {
        "messages": count,
        "examples": understander.info.examples,
        "intents": understander.info.intents,
        "train_s": round(train_s, 3),
        "import_s_fresh_process": round(fresh["import_s"], 3),
        "load_s_fresh_process": round(fresh["load_s"], 3),
        "peak_rss_mb_fresh_process": round(fresh["rss_mb"], 1),
        "latency_ms_p50": round(statistics.median(latencies), 3),
        "latency_ms_p99": round(_percentile(latencies, 0.99), 3),
        "latency_ms_max": round(max(latencies), 3),
        "messages_per_s_one_by_one": round(count / single_s, 1),
        "messages_per_s_batched": round(count / batch_s, 1),
        "jieba_only_messages_per_s": round(count / jieba_s, 1),
        "cost_vs_bare_jieba_batched": round(batch_s / jieba_s, 2),
        **{f"part_ms_{name}": value for name, value in parts.items()},
        "peak_rss_mb_bench_incl_training": round(peak_rss_mb(), 1),
    }


def _parts(understander, messages: list[str]) -> dict[str, float]:
    """Milliseconds per message spent in each stage: normalising, segmenting (jieba inside spaCy's
    tokenizer), and each pipeline component; the stages that cost most are the ones to make faster."""
    def timed(run):
        started = time.perf_counter()
        result = run()
        return result, (time.perf_counter() - started) * 1000 / max(len(messages), 1)

    out = {}
    norms, out["normalise"] = timed(lambda: [understander.prepare(t) for t in messages])
    docs, out["tokenize"] = timed(lambda: [understander.nlp.make_doc(n.text) for n in norms])
    for name, component in understander.nlp.pipeline:
        docs, out[name] = timed(lambda: [component(d) for d in docs])
    return {k: round(v, 4) for k, v in out.items()}


def stream(settings: Settings, count: int) -> dict:
    """Pipe ``count`` lines through ``python -m bot classify`` and watch its memory."""
    messages = _messages(settings, 2000)
    env = dict(os.environ, BOT_CONFIG=str(settings.root / "config.yml"))
    proc = subprocess.Popen([sys.executable, "-m", "bot", "classify"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)

    import threading

    answered = [0]

    def read():
        for _ in proc.stdout:
            answered[0] += 1

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started = time.perf_counter()
    samples = []
    step = max(count // 10, 1)
    for index in range(count):
        proc.stdin.write((messages[index % len(messages)].replace("\n", " ") + "\n").encode())
        if index % step == step - 1:
            proc.stdin.flush()
            while answered[0] < index - 5000:
                time.sleep(0.01)
            samples.append(round(rss_mb(proc.pid), 1))
    proc.stdin.close()
    reader.join()
    proc.wait()
    elapsed = time.perf_counter() - started
    return {"lines": count, "answered": answered[0], "seconds": round(elapsed, 1),
            "lines_per_s": round(count / elapsed, 1), "rss_mb_every_10_percent": samples}


def reload_under_load(settings: Settings) -> dict:
    """Reload (with 20 new examples, so the model retrains) while messages keep coming."""
    import shutil
    import tempfile
    import threading
    from dataclasses import replace

    from bot.app import build_engine
    from bot.config import load_settings
    from bot.staff.reload import Reloader
    from bot.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in ("nlu", "stories", "content"):
            shutil.copytree(settings.root / name, root / name)
        shutil.copy(settings.root / "config.yml", root / "config.yml")
        local = replace(load_settings(root / "config.yml"), cache_dir=settings.cache_dir)
        store = Store(root / "bench.db")
        engine = build_engine(local, store)
        extra = "".join(f"    - 网上贷款平台说我第{i}次提现失败，要先交{i}百块解冻费\n" for i in range(1, 21))
        path = root / "nlu" / "fake_loan.yml"
        path.write_text(path.read_text(encoding="utf-8").rstrip("\n") + "\n" + extra, encoding="utf-8")
        messages = _messages(settings, 500)
        latencies, failures, stop = [], [], threading.Event()

        def talk():
            index = 0
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    if not engine.handle("bench", f"u{index % 200}", messages[index % len(messages)]).replies:
                        failures.append("no reply")
                except Exception as exc:  # counted, not raised: the figure is the point
                    failures.append(repr(exc))
                latencies.append((time.perf_counter() - t0) * 1000)
                index += 1

        talker = threading.Thread(target=talk)
        talker.start()
        time.sleep(1.0)
        before = len(latencies)
        report = Reloader(engine, local).reload()
        during = latencies[before:]
        time.sleep(0.5)
        stop.set()
        talker.join()
        store.close()
    return {"reload_ok": report.ok, "reload_s": round(report.seconds, 2), "retrained": report.retrained,
            "examples_added": report.examples_added, "messages_during_reload": len(during),
            "failed_or_dropped": len(failures), "latency_ms_max_during_reload": round(max(during or [0]), 1),
            "latency_ms_p50_during_reload": round(statistics.median(during or [0]), 2)}


def risk_list(settings: Settings, rows: int) -> dict:
    """Import ``rows`` values from CSV into a fresh database, then time lookups."""
    import csv
    import random
    import tempfile

    from bot.checks.riskcheck import Checker, load_official, normalise
    from bot.checks.risklist import RiskList
    from bot.store import Store

    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "list.csv"
        values = []
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["kind", "value", "verdict", "source", "note"])
            for i in range(rows):
                if i % 3 == 0:
                    value = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
                    kind = "phone"
                elif i % 3 == 1:
                    value = f"http://scam{i}.{rng.choice(['top', 'xyz', 'com'])}/login"
                    kind = "url"
                else:
                    value = f"62{rng.randrange(10**15):015d}"
                    kind = "bank_card"
                values.append((kind, value))
                writer.writerow([kind, value, "fraud", "bench", ""])
            writer.writerow(["phone", "not a number", "fraud", "bench", ""])  # one bad row
        store = Store(Path(tmp) / "bench.db")
        started = time.perf_counter()
        result = RiskList(store).import_csv(path)
        import_s = time.perf_counter() - started
        sample = [values[rng.randrange(len(values))] for _ in range(5000)]
        misses = [("phone", f"199{rng.randrange(10**8):08d}") for _ in range(5000)]
        timings = []
        for kind, value in sample + misses:
            key = normalise(kind, value)
            t0 = time.perf_counter()
            store.query("select verdict from risk_list where kind = :k and value = :v", {"k": kind, "v": key})
            timings.append((time.perf_counter() - t0) * 1000)
        checker = Checker(store, load_official(settings.content_dir / "official.yml"))
        full = []
        for kind, value in sample[:2000]:
            t0 = time.perf_counter()
            checker.check([(kind, value)])
            full.append((time.perf_counter() - t0) * 1000)
        size_mb = (Path(tmp) / "bench.db").stat().st_size / 2**20
        store.close()
    timings.sort()
    full.sort()
    return {"rows": rows, "imported": result.imported, "bad_rows_reported": len(result.skipped),
            "import_s": round(import_s, 1), "rows_per_s": round(rows / import_s),
            "lookup_ms_p50": round(timings[len(timings) // 2], 4), "lookup_ms_p99": round(timings[int(len(timings) * 0.99)], 4),
            "full_check_ms_p50": round(full[len(full) // 2], 3), "full_check_ms_p99": round(full[int(len(full) * 0.99)], 3),
            "database_mb": round(size_mb, 1)}


def reloads(settings: Settings, count: int) -> dict:
    """RSS after one reload and after ``count`` (content unchanged: the models are reused)."""
    from bot.app import build_engine
    from bot.staff.reload import Reloader
    from bot.store import Store

    engine = build_engine(settings, Store(":memory:"))
    reloader = Reloader(engine, settings, heldout=settings.root / "no-heldout-during-bench.jsonl")
    figures = {"rss_mb_before": round(rss_mb(), 1)}
    for index in range(count):
        report = reloader.reload()
        if not report.ok:
            raise RuntimeError(report.text())
        engine.handle("bench", "reloads", "自称公安的人让我把钱转到安全账户")
        if index == 0:
            figures["rss_mb_after_1"] = round(rss_mb(), 1)
            figures["reload_s_first"] = round(report.seconds, 2)
    figures[f"rss_mb_after_{count}"] = round(rss_mb(), 1)
    figures["growth_pct"] = round(100 * (figures[f"rss_mb_after_{count}"] / figures["rss_mb_after_1"] - 1), 1)
    figures["reload_s_last"] = round(report.seconds, 2)
    return figures


def run(settings: Settings, args) -> int:
    if getattr(args, "faults", False):
        from bot.measure import faults

        results = faults.run(settings, args.seconds, args.flood)
        if args.json:
            print(json.dumps(results, indent=2, ensure_ascii=False))
        else:
            for figures in results:
                print("  ".join(f"{k}={v}" for k, v in figures.items()))
        return 0 if all(r["recorded"] == r["told"] and not r["server_errors"] for r in results) else 1
    if getattr(args, "ocr", False):
        from bot.measure.ocr_bench import run_ocr

        figures = run_ocr(args.rounds)
    elif getattr(args, "reloads", 0):
        figures = reloads(settings, args.reloads)
    elif getattr(args, "risklist", 0):
        figures = risk_list(settings, args.risklist)
    elif getattr(args, "reload", False):
        figures = reload_under_load(settings)
    elif getattr(args, "stream", 0):
        figures = stream(settings, args.stream)
    elif getattr(args, "workers", None):
        from bot.measure.workers_bench import run_workers

        if not args.conversations or args.conversations < 0:
            args.conversations = args.users
        runs = run_workers(settings, args)["runs"]
        if args.json:
            print(json.dumps(runs, indent=2, ensure_ascii=False))
        else:
            for figures in runs:
                print("  ".join(f"{k}={v}" for k, v in figures.items()))
        return 0 if all(not r["errors"] for r in runs) else 1
    elif getattr(args, "conversations", None) is not None:
        from bot.measure.conversations_bench import run_conversations

        if args.conversations > 0:
            args.users = args.conversations
        figures = run_conversations(settings, args)
    else:
        figures = measure(settings, args.messages)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        width = max(len(k) for k in figures)
        for key, value in figures.items():
            print(f"{key:<{width}}  {value}")
    return 0
