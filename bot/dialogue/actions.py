"""What the bot does: ``utter_*`` responses from content/ and a few named Python actions.

Python actions: ``action_warn`` (the warning for a scam type, quoting the cues in
the resident's own words, then the one question that matters), ``action_explain``
(a question about a scam), ``action_clarify`` (type unclear: buttons for the likely
types), ``action_escalate`` (the urgent reply and the duty desk's record),
``action_answer`` (reply to a yes/no answer that shows no danger) and
``action_default_fallback``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.dialogue.responses import Button, Reply, fill
from bot.dialogue.tracker import Tracker
from bot.nlu.cues import Cue
from bot.nlu.understand import Understanding

if TYPE_CHECKING:
    from bot.dialogue.engine import Brain

# Replies that give advice end with the hotline line.
ADVICE_RESPONSES = {"utter_praise", "utter_after_downloaded_app_yes", "utter_report", "utter_check_number",
                    "utter_ask_details", "utter_not_scam"}
# Cues not worth quoting back: they show the resident is safe, or describe the resident.
UNQUOTED = {"stopped", "not_yet", "elderly"}
LOST_CUES = {"money_gone", "money_gone_just_now"}


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


class Actions:
    """Runs actions by name for the engine."""

    PYTHON_ACTIONS = ("action_warn", "action_explain", "action_clarify", "action_escalate", "action_answer",
                      "action_default_fallback")

    def __init__(self, engine):
        self.engine = engine
        self.python: dict[str, Callable[[TurnContext], None]] = dict(zip(self.PYTHON_ACTIONS, (
            self.warn, self.explain, self.clarify, self.escalate, self.answer, self.fallback)))

    def names(self, brain: "Brain") -> set[str]:
        return set(self.python) | brain.responses.names()

    # --- helpers --------------------------------------------------------------------------

    def values(self, brain: "Brain", tracker: Tracker) -> dict[str, str]:
        settings = self.engine.settings
        scam = brain.content.scams.get(tracker.slots.get("scam_type") or "")
        local = settings.hotlines.get("local") or ""
        return {
            "police": settings.hotlines.get("police") or "110",
            "antifraud": settings.hotlines.get("antifraud") or "96110",
            "local": f"本地反诈中心：{local}。" if local else "",
            "centre": settings.centre_name,
            "scam_name": (scam.name if scam.name.endswith("诈骗") else f"{scam.name}诈骗") if scam else "诈骗",
        }

    def footer(self, ctx: TurnContext) -> str:
        return ctx.brain.responses.render("utter_hotline_footer", self.values(ctx.brain, ctx.tracker)).text

    def utter(self, name: str, ctx: TurnContext) -> None:
        reply = ctx.brain.responses.render(name, self.values(ctx.brain, ctx.tracker))
        if name in ADVICE_RESPONSES:
            reply.text += "\n" + self.footer(ctx)
        ctx.replies.append(reply)

    def run(self, name: str, ctx: TurnContext) -> None:
        if name in self.python:
            self.python[name](ctx)
        elif name in ctx.brain.responses.names():
            self.utter(name, ctx)
        else:
            raise KeyError(f"no action or response named {name}")

    @staticmethod
    def quoted(cues: list[Cue], limit: int = 3) -> list[str]:
        """The cues as "· label：“their words”" lines, skipping repeats of the same words."""
        seen, quotes, lines = set(), [], []
        for cue in cues:
            if cue.id in UNQUOTED or cue.id in seen:
                continue
            if cue.evidence and any(cue.evidence in q or q in cue.evidence for q in quotes):
                continue
            seen.add(cue.id)
            quotes.append(cue.evidence)
            lines.append(f"· {cue.label}：“{cue.evidence}”" if cue.evidence else f"· {cue.label}")
            if len(lines) == limit:
                break
        return lines

    # --- actions ----------------------------------------------------------------------------

    def warn(self, ctx: TurnContext) -> None:
        """The warning for the conversation's scam type, and its follow-up question."""
        scam = ctx.brain.content.scams.get(ctx.tracker.slots.get("scam_type") or "")
        if scam is None:
            return self.clarify(ctx)
        lines = [f"⚠️ {scam.warning}"]
        quoted = self.quoted(ctx.cues)
        if quoted:
            lines += ["您说的情况里有这些危险信号：", *quoted]
        else:
            lines += ["这类骗局的特点：", *[f"· {flag}" for flag in scam.red_flags[:2]]]
        lines += ["请您现在：", *[f"· {item}" for item in scam.advice[:3]], scam.question, self.footer(ctx)]
        yes, no = ctx.brain.responses.follow_up_buttons[scam.slot]
        ctx.tracker.slots["asked"] = scam.slot
        ctx.replies.append(Reply(fill("\n".join(lines), self.values(ctx.brain, ctx.tracker)),
                                 [Button(yes, "/affirm"), Button(no, "/deny")], kind="action_warn"))

    def explain(self, ctx: TurnContext) -> None:
        """Answer a question about a scam ("杀猪盘是什么意思") with what it is and how to spot it."""
        topic = ctx.understanding.topic or ctx.tracker.slots.get("scam_type")
        scam = ctx.brain.content.scams.get(topic or "")
        if scam is None:
            return self.utter("utter_help", ctx)
        lines = [f"{scam.name}：{scam.summary}", "怎么识别：", *[f"· {flag}" for flag in scam.red_flags[:3]],
                 "遇到了怎么办：", *[f"· {item}" for item in scam.advice[:2]], self.footer(ctx)]
        ctx.replies.append(Reply("\n".join(lines), kind="action_explain"))

    def clarify(self, ctx: TurnContext) -> None:
        """Type unclear: ask with buttons for the likeliest scam types."""
        scams = ctx.brain.content.scams
        scores = ctx.understanding.scores
        likely = sorted(scams, key=lambda name: -scores.get(name, -9.0))
        reply = ctx.brain.responses.render("utter_clarify", self.values(ctx.brain, ctx.tracker))
        reply.buttons = [Button(scams[name].button, f"/{name}") for name in likely[:3]]
        reply.buttons.append(Button(ctx.brain.responses.clarify_none, "/deny"))
        ctx.tracker.slots["asked"] = "clarify"
        ctx.replies.append(reply)

    def escalate(self, ctx: TurnContext) -> None:
        """Urgent reply to the resident; the duty desk's record (and its alert) first."""
        slots = ctx.tracker.slots
        opened = self.engine.escalations.open_or_update(
            channel=ctx.channel, chat_id=ctx.user_id,
            scam_type=slots.get("scam_type") or ctx.understanding.scam_type,
            risk=slots.get("risk") or "high",
            cues=[c.label for c in ctx.cues if c.id not in ("stopped", "not_yet")],
            amount=slots.get("amount"),
            summary=self.engine.summary(ctx),
            contact=ctx.contact,
        )
        slots["escalation_id"] = opened.id
        ctx.escalation_id = opened.id
        lost = any(c.id in LOST_CUES for c in ctx.cues) or slots.get("transferred") or slots.get("paid_fee")
        reply = ctx.brain.responses.render("utter_urgent_lost" if lost else "utter_urgent_moving",
                                           self.values(ctx.brain, ctx.tracker))
        reply.urgent = True
        ctx.replies.append(reply)

    def answer(self, ctx: TurnContext) -> None:
        """A yes/no answer that shows no danger."""
        slot, value = ctx.answered or ("", False)
        if value and f"utter_after_{slot}_yes" in ctx.brain.responses.names():
            return self.utter(f"utter_after_{slot}_yes", ctx)
        self.utter("utter_praise", ctx)

    def fallback(self, ctx: TurnContext) -> None:
        self.utter("utter_default", ctx)
