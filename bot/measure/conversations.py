"""Whole conversations through the real engine (``python -m bot evaluate --conversations FILE``).

Each line of FILE is one conversation written blind (tests/data/conversations.jsonl):
``{"id", "channel", "turns": [...], "escalate_turn": N | null, "facts": {...}, "must_not_say": [...]}``.
Every conversation runs as a new user against a private database, and is judged on:

- escalation: at the expected turn or earlier (missed when later or never; false when none was expected);
- contradictions: "没有发现诈骗" after a scam was established, "挂断" when no call was ever mentioned, and any
  phrase of the conversation's own ``must_not_say``;
- empty promises: a call from the desk promised on a channel where the desk has no way to reach the resident;
- facts: the situation at the end (bot/dialogue/situation.py) against the expected facts.
"""

from __future__ import annotations

import json
import re
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bot.dialogue.actions import REACHABLE_CHANNELS
from bot.dialogue.situation import CALL, Situation

NO_SIGN = re.compile(r"没有发现诈骗|暂时没有发现|不像骗局")
PROMISE = re.compile(r"会尽快联系您|会尽快打给您|民警会联系您|会打给您")


@dataclass
class ConversationResult:
    id: str
    escalate_turn: int | None
    escalated_at: int | None
    contradictions: list[str] = field(default_factory=list)
    promises: list[str] = field(default_factory=list)
    facts_right: int = 0
    facts_total: int = 0
    wrong_facts: list[str] = field(default_factory=list)

    @property
    def escalation_ok(self) -> bool:
        if self.escalate_turn is None:
            return self.escalated_at is None
        return self.escalated_at is not None and self.escalated_at <= self.escalate_turn


def _same(expected, got) -> bool:
    if isinstance(got, bool) and isinstance(expected, str):
        return bool(expected) == got  # contact_given written as the number itself
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        return got is not None and abs(float(got) - float(expected)) < 0.5
    return expected == got


def run_conversation(engine, item: dict) -> ConversationResult:
    channel = str(item.get("channel") or "web")
    user = f"eval-{item.get('id', '')}-{uuid.uuid4().hex[:6]}"
    result = ConversationResult(str(item.get("id", "")), item.get("escalate_turn"), None)
    established, call_seen, contact = False, False, False
    for number, text in enumerate(item.get("turns") or [], 1):
        turn = engine.handle(channel, user, text)
        call_seen = call_seen or bool(CALL.search(text))
        situation = Situation.of(turn.slots)
        contact = contact or bool(situation.contact)
        said = "\n".join(r.text for r in turn.replies)
        if turn.escalation_id is not None and result.escalated_at is None:
            result.escalated_at = number
        if established and NO_SIGN.search(said):
            result.contradictions.append(f"turn {number}: says there is no sign of fraud after a scam was established")
        if "挂断" in said and not call_seen:
            result.contradictions.append(f"turn {number}: says 挂断 though no call was mentioned")
        for phrase in item.get("must_not_say") or []:
            if phrase and phrase in said:
                result.contradictions.append(f"turn {number}: says “{phrase}”")
        if PROMISE.search(said) and channel not in REACHABLE_CHANNELS and not contact:
            result.promises.append(f"turn {number}: promises a call on {channel} without a phone number")
        established = established or turn.escalation_id is not None or (
            situation.scam_type not in ("", "not_scam", "unknown"))
    facts = Situation.of(turn.slots).facts() if item.get("turns") else {}
    for key, expected in (item.get("facts") or {}).items():
        if key not in facts:
            continue
        result.facts_total += 1
        if _same(expected, facts[key]):
            result.facts_right += 1
        else:
            result.wrong_facts.append(f"{key}: expected {expected!r}, got {facts[key]!r}")
    return result


@contextmanager
def private_engine(settings, understander):
    """The real engine on a throw-away database, for measuring."""
    from bot.app import build_engine
    from bot.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "eval.db")
        try:
            yield build_engine(settings, store, understander)
        finally:
            store.close()


def evaluate_conversations(settings, understander, path: Path) -> list[ConversationResult]:
    items = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    with private_engine(settings, understander) as engine:
        return [run_conversation(engine, item) for item in items]


def chat_warnings(settings, understander, cases) -> dict[str, tuple[int, int]]:
    """Each ordinary (not_scam) case as the first message of a new chat through the engine: per register,
    (cases, answered with a scam warning or an urgent reply). What a resident sees, not only the label."""
    counts: dict[str, list[int]] = {}
    with private_engine(settings, understander) as engine:
        for case in cases:
            if case.label != "not_scam":
                continue
            turn = engine.handle("web", uuid.uuid4().hex, case.text)
            warned = any(r.kind == "action_warn" or r.urgent for r in turn.replies)
            for register in (case.register or "-", "all"):
                row = counts.setdefault(register, [0, 0])
                row[0] += 1
                row[1] += warned
    return {register: (n, warned) for register, (n, warned) in counts.items()}


def format_chat_warnings(counts: dict[str, tuple[int, int]]) -> str:
    return "ordinary messages the chat answers with a warning: " + ", ".join(
        f"{register} {warned}/{n} ({warned / n:.3f})" for register, (n, warned) in counts.items() if n)


def summary(results: list[ConversationResult]) -> dict:
    expected = [r for r in results if r.escalate_turn is not None]
    calm = [r for r in results if r.escalate_turn is None]
    total_facts = sum(r.facts_total for r in results)
    return {
        "conversations": len(results),
        "escalated_in_time": sum(r.escalation_ok for r in expected), "must_escalate": len(expected),
        "missed_or_late": sum(not r.escalation_ok for r in expected),
        "false_escalations": sum(r.escalated_at is not None for r in calm), "calm": len(calm),
        "contradictions": sum(len(r.contradictions) for r in results),
        "empty_promises": sum(len(r.promises) for r in results),
        "facts_right": round(sum(r.facts_right for r in results) / total_facts, 4) if total_facts else None,
        "facts_checked": total_facts,
    }


def format_results(results: list[ConversationResult], show_errors: bool = False) -> str:
    figures = summary(results)
    lines = ["== conversations",
             f"escalated at the expected turn or earlier: {figures['escalated_in_time']} of {figures['must_escalate']}"
             f" (missed or late {figures['missed_or_late']})",
             f"false escalations: {figures['false_escalations']} of {figures['calm']} calm conversations",
             f"contradictions: {figures['contradictions']}   empty promises: {figures['empty_promises']}",
             f"state facts right: {figures['facts_right']} of {figures['facts_checked']} facts checked"]
    if show_errors:
        for r in results:
            problems = ([] if r.escalation_ok else [f"escalation expected at {r.escalate_turn}, got {r.escalated_at}"]) \
                + r.contradictions + r.promises + r.wrong_facts
            if problems:
                lines.append(f"  {r.id}: " + "; ".join(problems))
    return "\n".join(lines)
