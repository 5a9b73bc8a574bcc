"""Predict the next action from rules and memoised stories, deterministically.

A flow (story or rule) predicts its action at step *j* when the steps before *j*
match the end of the conversation exactly: the same intents and actions in order,
with every ``slot_was_set`` satisfied by the slots at that point. Rules win over
stories, longer matches over shorter ones, earlier flows over later ones. When no
flow predicts an action the bot listens.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.dialogue.stories import ANY, ActionStep, Flow, Flows, IntentStep, SlotStep
from bot.dialogue.tracker import Event, Tracker


@dataclass(frozen=True)
class _Item:
    kind: str  # "intent" | "action"
    names: frozenset[str]
    conditions: tuple[tuple[str, object], ...]


@dataclass(frozen=True)
class _Candidate:
    priority: tuple  # smaller wins
    prefix: tuple[_Item, ...]
    action: str
    flow: Flow


def _slot_ok(slots: dict, name: str, expected) -> bool:
    value = slots.get(name)
    if expected is ANY:
        return value is not None
    if expected is None:
        return value is None
    if isinstance(expected, bool):
        return bool(value) == expected
    return value == expected


def _compile(flow: Flow, groups: dict[str, set[str]]) -> list[_Item]:
    items: list[_Item] = []
    for step in flow.steps:
        if isinstance(step, SlotStep):
            if items:
                last = items[-1]
                items[-1] = _Item(last.kind, last.names, last.conditions + step.slots)
            continue
        if isinstance(step, IntentStep):
            names = set()
            for name in step.intents:
                names |= groups.get(name, {name})
            items.append(_Item("intent", frozenset(names), ()))
        elif isinstance(step, ActionStep):
            items.append(_Item("action", frozenset([step.name]), ()))
    return items


class Policy:
    """Rules and stories compiled into an index keyed by the event they follow."""

    def __init__(self, flows: Flows, groups: dict[str, set[str]]):
        self.by_last: dict[tuple[str, str], list[_Candidate]] = {}
        for order, flow in enumerate(flows.all()):
            items = _compile(flow, groups)
            for j, item in enumerate(items):
                if item.kind != "action" or j == 0:
                    continue
                prefix = tuple(items[:j])
                # Rules first, then longer matches, then file order.
                priority = (0 if flow.kind == "rule" else 1, -len(prefix), order)
                candidate = _Candidate(priority, prefix, next(iter(item.names)), flow)
                for name in prefix[-1].names:
                    self.by_last.setdefault((prefix[-1].kind, name), []).append(candidate)
        for candidates in self.by_last.values():
            candidates.sort(key=lambda c: c.priority)

    def predict(self, tracker: Tracker) -> tuple[str, Flow] | None:
        """The next action and the flow that predicts it, or None to listen."""
        if not tracker.events:
            return None
        last = tracker.events[-1]
        for candidate in self.by_last.get((last.kind, last.name), ()):
            if self._matches(candidate, tracker.events):
                return candidate.action, candidate.flow
        return None

    @staticmethod
    def _matches(candidate: _Candidate, events: list[Event]) -> bool:
        prefix = candidate.prefix
        if len(prefix) > len(events):
            return False
        flow = candidate.flow
        if flow.conversation_start and len(prefix) != len(events):
            return False
        tail = events[len(events) - len(prefix):]
        for item, event in zip(prefix, tail):
            if item.kind != event.kind or event.name not in item.names:
                return False
            if not all(_slot_ok(event.slots, name, value) for name, value in item.conditions):
                return False
        return all(_slot_ok(tail[0].slots, name, value) for name, value in flow.condition)
