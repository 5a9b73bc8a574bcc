"""``python -m bot bench --ocr``: how well and how fast pictures are read.

Character accuracy (1 − edit distance / length, on the text without whitespace) of what a reader keeps — the
bubbles, not the chrome — on the generated screenshots (``bot.measure.screenshots``), by kind; time per
1080×2400 screenshot with the reader on one thread and the process pinned to one core; the resident memory
the OCR engine adds once loaded.
"""

from __future__ import annotations

import gc
import os
import re
import statistics
import time

from rapidfuzz.distance import Levenshtein

from bot import heap
from bot.images.reader import Reader
from bot.measure import screenshots
from bot.measure.memory import peak_rss_mb, reset_peak, rss_mb

SPACE = re.compile(r"\s+")


def accuracy(read: str, truth: str) -> float:
    """1 − edit distance / length of the truth, whitespace ignored (never below 0)."""
    read, truth = SPACE.sub("", read), SPACE.sub("", truth)
    if not truth:
        return 1.0 if not read else 0.0
    return max(0.0, 1.0 - Levenshtein.distance(read, truth) / len(truth))


def run_ocr(rounds: int = 3) -> dict:
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says
    except (AttributeError, OSError):
        pass
    shots = [(shot.kind, shot.png() if not shot.kind.startswith("photo") else shot.jpeg(90), shot.text,
              shot.image.size == (screenshots.WIDTH, screenshots.HEIGHT)) for shot in screenshots.generated_set()]
    gc.collect()
    heap.trim()
    reset_peak()
    before = rss_mb()
    reader = Reader(threads=1)
    started = time.perf_counter()
    reader.load()
    load_s = time.perf_counter() - started
    loaded = rss_mb()
    by_kind: dict[str, list[float]] = {}
    phone_ms: list[int] = []
    for _ in range(rounds):
        for kind, data, truth, phone in shots:
            reading = reader.read(data)
            by_kind.setdefault(kind, []).append(accuracy(reading.page.title + reading.page.body(), truth))
            if phone:
                phone_ms.append(reading.ms)
    clean = [a for k, v in by_kind.items() if not k.startswith("photo") for a in v]
    photos = [a for k, v in by_kind.items() if k.startswith("photo") for a in v]
    figures = {
        "screenshots": len(shots),
        "accuracy_clean": round(statistics.mean(clean), 4),
        "accuracy_photographed": round(statistics.mean(photos), 4),
    }
    figures.update({f"accuracy_{kind}": round(statistics.mean(v), 4) for kind, v in sorted(by_kind.items())})
    figures.update({
        "phone_screenshot_ms_p50": round(statistics.median(phone_ms)),
        "phone_screenshot_ms_max": max(phone_ms),
        "engine_load_s": round(load_s, 2),
        "rss_before_mb": round(before, 1),
        "rss_added_by_engine_mb": round(loaded - before, 1),
        "rss_added_after_readings_mb": round(rss_mb() - before, 1),
        "rss_added_at_peak_mb": round(peak_rss_mb() - before, 1),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
    })
    return figures
