"""Hot reload: check, retrain and swap the model and content while conversations go on.

Invalid content is refused and the bot keeps serving the last good version. A
valid change is built beside the running brain (in a worker thread) and swapped in
at once; a turn that started on the old brain finishes on it. The report says what
changed and how the held-out accuracy moved, so staff see when an edit made
things worse.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bot import heap
from bot.app import build_brain
from bot.config import PROJECT_ROOT, Settings
from bot.staff.check import check
from bot.dialogue.brain import Brain
from bot.dialogue.engine import Engine
from bot.problems import Problem

log = logging.getLogger(__name__)


@dataclass
class ReloadReport:
    ok: bool
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    types_added: list[str] = field(default_factory=list)
    types_removed: list[str] = field(default_factory=list)
    examples_added: int = 0
    examples_removed: int = 0
    changed_intents: dict[str, int] = field(default_factory=dict)  # intent → change in example count
    heldout_before: dict | None = None
    heldout_after: dict | None = None
    retrained: bool = False

    def text(self) -> str:
        """The reply staff read (Chinese first; key figures are language-neutral)."""
        if not self.ok:
            lines = [f"❌ 内容有 {len(self.problems)} 个问题，没有重新加载，机器人继续使用原来的版本："]
            lines += [f"· {p}" for p in self.problems[:15]]
            if len(self.problems) > 15:
                lines.append(f"…… 还有 {len(self.problems) - 15} 个，请运行 python -m bot content check 查看")
            return "\n".join(lines)
        lines = [f"✅ 已重新加载（{self.seconds:.1f} 秒{'，重新训练了模型' if self.retrained else ''}）"]
        if self.types_added:
            lines.append("新增诈骗类型：" + "、".join(self.types_added))
        if self.types_removed:
            lines.append("删除诈骗类型：" + "、".join(self.types_removed))
        lines.append(f"例句：新增 {self.examples_added} 条，删除 {self.examples_removed} 条")
        for intent, delta in sorted(self.changed_intents.items(), key=lambda kv: -abs(kv[1]))[:8]:
            lines.append(f"  · {intent}：{delta:+d}")
        if self.heldout_before and self.heldout_after:
            b, a = self.heldout_before, self.heldout_after
            lines.append(f"测试集准确率（macro-F1）：{b['macro_f1']:.3f} → {a['macro_f1']:.3f}")
            lines.append(f"紧急情况识别率：{b['escalation_recall']:.3f} → {a['escalation_recall']:.3f}")
            if a["macro_f1"] < b["macro_f1"] - 0.01 or a["escalation_recall"] < b["escalation_recall"] - 0.01:
                lines.append("⚠️ 这次修改让识别变差了，请检查新加的例句。")
        return "\n".join(lines)


def _heldout_figures(brain: Brain, path: Path) -> dict | None:
    if not path.exists():
        return None
    from bot.measure import evaluation

    report = evaluation.evaluate(brain.understander, evaluation.read_cases(path), path.name)
    return {"macro_f1": report.macro_f1, "escalation_recall": report.escalation_recall or 0.0}


def release_memory() -> None:
    """Collect the swapped-out brain and hand freed heap pages back to the system (glibc's malloc_trim):
    without it the allocator keeps every old model's pages and RSS grows with each reload."""
    gc.collect()
    heap.trim()


class Reloader:
    """Reloads one engine; one reload at a time."""

    def __init__(self, engine: Engine, settings: Settings, heldout: Path | None = None):
        self.engine = engine
        self.settings = settings
        self.heldout = heldout or PROJECT_ROOT / "tests" / "data" / "heldout.jsonl"
        self.lock = threading.Lock()
        self.listeners: list = []  # called after each reload that swapped the brain (tell the other workers)

    def reload(self) -> ReloadReport:
        """Check, build and swap (blocking; call from a worker thread in a server)."""
        with self.lock:
            started = time.perf_counter()
            problems = check(self.settings)
            if problems:
                log.warning("reload refused: %d content problems", len(problems))
                return ReloadReport(ok=False, problems=problems, seconds=time.perf_counter() - started)
            old = self.engine.brain
            try:
                new = build_brain(self.settings, previous=old)
            except Exception as exc:  # the check passed but building failed: keep serving the old brain
                log.exception("reload failed")
                return ReloadReport(ok=False, problems=[Problem("(build)", 0, f"build failed: {exc}")],
                                    seconds=time.perf_counter() - started)
            report = self._compare(old, new)
            self.engine.swap(new)
            del old, new
            release_memory()  # the old brain's model goes back to the system, so reloads do not add up
            report.seconds = time.perf_counter() - started
            log.info("reloaded in %.1fs: %s", report.seconds, report.text().replace("\n", " | "))
        for listener in list(self.listeners):
            try:
                listener()
            except Exception:  # the reload itself succeeded; telling others is best effort
                log.exception("reload listener failed")
        return report

    async def reload_async(self) -> ReloadReport:
        return await asyncio.to_thread(self.reload)

    def _compare(self, old: Brain, new: Brain) -> ReloadReport:
        old_types, new_types = set(old.content.scams), set(new.content.scams)
        before = Counter(e.intent for e in old.understander.nlu_data.examples)
        after = Counter(e.intent for e in new.understander.nlu_data.examples)
        old_texts = Counter((e.intent, e.text) for e in old.understander.nlu_data.examples)
        new_texts = Counter((e.intent, e.text) for e in new.understander.nlu_data.examples)
        changed = {i: after[i] - before[i] for i in set(before) | set(after) if after[i] != before[i]}
        return ReloadReport(
            ok=True, types_added=sorted(new_types - old_types), types_removed=sorted(old_types - new_types),
            examples_added=sum((new_texts - old_texts).values()), examples_removed=sum((old_texts - new_texts).values()),
            changed_intents=changed, retrained=new.understander.info.trained,
            heldout_before=_heldout_figures(old, self.heldout), heldout_after=_heldout_figures(new, self.heldout))


async def watch(reloader: Reloader, paths: list[Path], debounce_ms: int = 1500) -> None:
    """Reload when files under ``paths`` change (config: reload.watch)."""
    from watchfiles import awatch

    async for changes in awatch(*[p for p in paths if p.exists()], debounce=debounce_ms):
        log.info("files changed (%d), reloading", len(changes))
        report = await reloader.reload_async()
        if not report.ok:
            log.warning("automatic reload refused:\n%s", report.text())
