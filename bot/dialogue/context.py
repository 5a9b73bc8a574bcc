"""What one turn carries through the actions, and what the actions may ask of the engine that runs them.

``TurnContext`` is the turn; ``Host`` is the engine as the actions see it (its store and queues, the
desk summary); ``ActionKit`` is the actions as 长辈模式 and the visits see them. Typing against these
instead of the classes keeps engine → actions → guided/visits a one-way street.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from bot.dialogue.responses import Reply
from bot.dialogue.tracker import Tracker
from bot.nlu.cues import Cue
from bot.nlu.understand import Understanding

if TYPE_CHECKING:
    from bot.checks.risklist import RiskList
    from bot.config import Settings
    from bot.desk.escalations import Escalations
    from bot.dialogue.brain import Brain
    from bot.outreach.subscriptions import Subscriptions
    from bot.store import Store


@dataclass
class TurnContext:
    """What an action may read and change during one turn."""

    brain: "Brain"
    tracker: Tracker
    understanding: Understanding
    channel: str
    user_id: str
    cues: list[Cue] = field(default_factory=list)  # this turn's cues, in context
    answered: tuple[str, bool] | None = None  # (slot, value) when the message answered a question
    replies: list[Reply] = field(default_factory=list)
    escalation_id: int | None = None
    contact: str = ""  # who the duty desk should call back (a grid worker in a visit)
    summary: str = ""  # the duty desk's summary when the messages would not say it (button flows)
    short: bool = False  # 长辈模式: the short urgent reply
    checked: bool = False  # numbers and links of this message were already answered
    origin: str = ""  # where the message came from as the messenger sees it (a web client's address)


class Host(Protocol):
    """The engine, as the actions use it."""

    settings: "Settings"
    store: "Store"
    escalations: "Escalations"
    risklist: "RiskList"
    subscriptions: "Subscriptions"
    reachable: set[str]  # channels the duty desk can write back to

    def summary(self, ctx: TurnContext) -> str: ...


class ActionKit(Protocol):
    """The actions, as 长辈模式 and the grid workers' visits use them."""

    engine: Host

    def utter(self, name: str, ctx: TurnContext) -> None: ...

    def escalate(self, ctx: TurnContext) -> None: ...

    def values(self, brain: "Brain", tracker: Tracker) -> dict[str, str]: ...

    def footer(self, ctx: TurnContext) -> str: ...
