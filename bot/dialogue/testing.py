"""Replay test stories (Rasa test-story format) through the engine and report differences.

A test story gives, for each turn, the resident's message (``user:``), the intent
we expect, and the actions the bot must take, in order; ``slot_was_set`` steps
check slots after the turn. Each story runs as a fresh user.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from bot.dialogue.brain import SCAM_GROUP
from bot.dialogue.engine import Engine
from bot.dialogue.policy import _slot_ok
from bot.dialogue.stories import ActionStep, Flow, IntentStep, SlotStep, load_stories


@dataclass
class Failure:
    story: str
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.story}: {self.message}"


def _turns(flow: Flow):
    """(intent step, [action steps], [slot steps]) per user turn."""
    turns = []
    for step in flow.steps:
        if isinstance(step, IntentStep):
            turns.append((step, [], []))
        elif turns and isinstance(step, ActionStep):
            turns[-1][1].append(step)
        elif turns and isinstance(step, SlotStep):
            turns[-1][2].append(step)
    return turns


def run_story(engine: Engine, flow: Flow) -> list[Failure]:
    user = f"test-{uuid.uuid4().hex[:12]}"
    failures = []
    for intent_step, actions, slot_steps in _turns(flow):
        result = engine.handle("test", user, intent_step.user or "")
        expected_intents = set()
        for name in intent_step.intents:
            expected_intents |= set(engine.content.scams) if name == SCAM_GROUP else {name}
        got = result.understanding.intent
        if got not in expected_intents:
            failures.append(Failure(flow.name, flow.file, intent_step.line,
                                    f"“{intent_step.user}” was understood as {got}, expected {sorted(expected_intents)}"))
        want = [a.name for a in actions]
        if result.actions != want:
            failures.append(Failure(flow.name, flow.file, intent_step.line,
                                    f"after “{intent_step.user}” the bot ran {result.actions}, expected {want}"))
        for step in slot_steps:
            for name, value in step.slots:
                if not _slot_ok(result.slots, name, value):
                    failures.append(Failure(flow.name, flow.file, step.line,
                                            f"slot {name} is {result.slots.get(name)!r}, expected {value!r}"))
    return failures


def run_test_stories(engine: Engine, directory: Path, root: Path | None = None) -> tuple[int, list[Failure]]:
    """Run every test story under ``directory``; return (stories run, failures)."""
    flows = load_stories(directory, root, test=True)
    failures: list[Failure] = []
    for flow in flows.stories:
        failures.extend(run_story(engine, flow))
    return len(flows.stories), failures
