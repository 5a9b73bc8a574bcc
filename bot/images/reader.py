"""Read the text in a picture offline with RapidOCR (PP-OCRv4 Chinese models, shipped inside the
rapidocr-onnxruntime wheel and run on onnxruntime's CPU build: nothing is downloaded, nothing leaves the machine).

``Reader`` loads the engine on first use, so a deployment that never receives a picture never pays for it.
``ReadingQueue`` runs readings one at a time in a thread of their own, off the event loop, and answers "busy"
at once when more than ``waiting`` pictures are queued, so a flood of pictures never holds up typed messages.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bot import heap
from bot.images.decode import Limits, Unreadable, open_image
from bot.images.layout import Line, Page, arrange

log = logging.getLogger(__name__)

BUSY = "busy"
READ_SIDE = 1600


@dataclass
class Reading:
    """What was read from one picture, or why nothing was (``error``: an ``Unreadable`` reason or "busy")."""

    page: Page = field(default_factory=Page)
    lines: list[Line] = field(default_factory=list)
    ms: int = 0
    error: str = ""

    @property
    def text(self) -> str:
        return self.page.text()

    def as_json(self, file: str) -> dict:
        """The ``ocr`` command's contract: one object per file."""
        result = {"file": file, "text": self.text, "lines": [l.as_json() for l in self.lines], "ms": self.ms}
        if self.error:
            result["error"] = self.error
        return result


class Reader:
    def __init__(self, threads: int = 1, limits: Limits = Limits()):
        self.threads = max(1, int(threads))
        self.limits = limits
        self._engine = None
        self._guard = threading.Lock()

    @classmethod
    def from_settings(cls, settings) -> "Reader":
        images = settings.raw.get("images") or {}
        return cls(int(images.get("threads", 1)),
                   Limits(int(images.get("max_bytes", Limits.max_bytes)),
                          int(images.get("max_pixels", Limits.max_pixels))))

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def load(self):
        with self._guard:
            if self._engine is None:
                started = time.perf_counter()
                from rapidocr_onnxruntime import RapidOCR

                # The longer side is read at 1,600 px: as accurate as 2,000 on phone screenshots (0.998), a third
                # faster and with half the working memory (bench --ocr).
                self._engine = RapidOCR(intra_op_num_threads=self.threads, inter_op_num_threads=1,
                                        max_side_len=READ_SIDE)
                log.info("OCR engine loaded in %.1f s", time.perf_counter() - started)
        return self._engine

    def read(self, data: bytes) -> Reading:
        started = time.perf_counter()
        try:
            image = open_image(data, self.limits)
        except Unreadable as exc:
            return Reading(error=exc.reason, ms=_ms(started))
        try:
            engine = self.load()
        except (ImportError, OSError) as exc:  # e.g. OpenCV without libGL (Debian: apt-get install libgl1)
            log.error("the OCR engine cannot load (%s): pictures are answered 'please type it'", exc)
            return Reading(error="off", ms=_ms(started))
        try:
            result, _ = engine(image)
        except Exception as exc:  # an engine failure on one odd picture must not take the turn down
            log.error("OCR failed on a %dx%d picture: %s", image.width, image.height, type(exc).__name__)
            return Reading(error="not_image", ms=_ms(started))
        finally:
            heap.trim()  # a reading's working buffers (about 200 MB) go back to the system
        pixels = None
        lines = []
        for box, text, score in result or []:
            corners = [[float(x), float(y)] for x, y in box]
            if pixels is None:
                import numpy as np

                pixels = np.asarray(image)
            lines.append(Line(str(text), corners, float(score), _tint(pixels, corners)))
        return Reading(arrange(lines, image.width, image.height), lines, _ms(started))


class ReadingQueue:
    """Readings one at a time, off the event loop; "busy" at once beyond ``waiting`` queued pictures."""

    def __init__(self, reader: Reader, waiting: int = 4):
        self.reader = reader
        self.waiting = max(0, int(waiting))
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ocr")
        self._queued = 0
        self._guard = threading.Lock()

    def read_now(self, data: bytes) -> Reading:
        """Read in the caller's thread, within the same bound (for a caller that is itself off the loop)."""
        return self._executor.submit(self._counted, data).result() if self._take() else Reading(error=BUSY)

    async def read(self, data: bytes) -> Reading:
        if not self._take():
            return Reading(error=BUSY)
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._counted, data)

    def _take(self) -> bool:
        with self._guard:
            if self._queued > self.waiting:
                return False
            self._queued += 1
            return True

    def _counted(self, data: bytes) -> Reading:
        try:
            return self.reader.read(data)
        finally:
            with self._guard:
                self._queued -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=True)


def _tint(pixels, corners: list[list[float]]) -> float:
    """Saturation (0 grey … 1 pure colour) of the background around a line of text: the bubble it sits in."""
    import numpy as np

    xs, ys = [p[0] for p in corners], [p[1] for p in corners]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    pad = max(2.0, (y1 - y0) * 0.3)
    height, width = pixels.shape[:2]
    points = [(x0 - pad, (y0 + y1) / 2), (x1 + pad, (y0 + y1) / 2), ((x0 + x1) / 2, y0 - pad * 0.5),
              ((x0 + x1) / 2, y1 + pad * 0.5), (x0 - pad, y0), (x1 + pad, y1)]
    samples = [pixels[int(min(max(y, 0), height - 1)), int(min(max(x, 0), width - 1))][:3] for x, y in points]
    r, g, b = np.median(np.array(samples, dtype=np.float32), axis=0)
    top = max(r, g, b)
    return float((top - min(r, g, b)) / top) if top > 20 else 0.0


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
