"""The state of one conversation: slots and the recent events the stories are matched against."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

MAX_EVENTS = 40  # stories look back a few turns; older events are dropped

#: Slots the engine fills (Rasa: mappings of type "custom"). Types are Rasa slot types.
SLOTS: dict[str, str] = {
    "scam_type": "text",       # the scam the conversation is about
    "risk": "categorical",     # none|low|medium|high|urgent, this turn
    "danger": "bool",          # this turn needs the duty desk (risk at the escalation level)
    "asked": "text",           # the follow-up slot the bot asked about, until answered
    "transferred": "bool",
    "still_on_call": "bool",
    "downloaded_app": "bool",
    "paid_fee": "bool",
    "gave_card": "bool",
    "amount": "float",         # the largest amount of money mentioned, in yuan
    "escalation_id": "float",  # the open escalation of this conversation
}


@dataclass
class Event:
    kind: str  # "intent" | "action"
    name: str
    slots: dict  # the slots right after this event

    def to_json(self) -> list:
        return [self.kind, self.name, self.slots]


@dataclass
class Tracker:
    key: str  # "channel:user"
    slots: dict = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    updated_at: float = field(default_factory=time.time)
    extra: dict = field(default_factory=dict)  # channel-specific state (guided mode, visits …)

    def record(self, kind: str, name: str) -> None:
        self.events.append(Event(kind, name, copy.deepcopy(self.slots)))
        if len(self.events) > MAX_EVENTS:
            del self.events[: len(self.events) - MAX_EVENTS]

    def to_json(self) -> dict:
        return {"slots": self.slots, "events": [e.to_json() for e in self.events],
                "updated_at": self.updated_at, "extra": self.extra}

    @classmethod
    def from_json(cls, key: str, data: dict) -> "Tracker":
        events = [Event(kind, name, slots) for kind, name, slots in data.get("events", [])]
        return cls(key, dict(data.get("slots") or {}), events, float(data.get("updated_at") or time.time()),
                   dict(data.get("extra") or {}))
