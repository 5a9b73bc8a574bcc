"""长辈模式: short sentences and big buttons that lead to the same warnings and escalations
as free text. Typing anything leaves the mode and the free-text understanding takes over."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot.dialogue.responses import Button, Reply, fill

if TYPE_CHECKING:
    from bot.dialogue.context import ActionKit, TurnContext

PAYLOAD = re.compile(r"^/g:([a-z0-9_]+):(\d)$")
LOST_CUE, MOVING_CUE = "money_gone", "money_moving"


class GuidedMode:
    def __init__(self, actions: "ActionKit"):
        self.actions = actions

    def start(self, ctx: "TurnContext") -> None:
        chart = ctx.brain.guided
        if chart is None:
            return self.actions.utter("utter_help", ctx)
        ctx.tracker.extra["guided"] = {"step": chart.start, "path": []}
        ctx.replies.append(self.step_reply(chart.steps[chart.start], voice=False))

    @staticmethod
    def step_reply(step, voice: bool = False) -> Reply:
        return Reply(step.text, [Button(c.title, f"/g:{step.id}:{i}") for i, c in enumerate(step.buttons)],
                     kind="action_guided", voice=voice)

    def answer(self, ctx: "TurnContext") -> None:
        chart = ctx.brain.guided
        state = ctx.tracker.extra.get("guided")
        match = PAYLOAD.match(ctx.understanding.text)
        step = chart.steps.get(match.group(1)) if chart and match else None
        if not state or step is None or int(match.group(2)) >= len(step.buttons):
            return self.start(ctx)  # an old button: start again
        choice = step.buttons[int(match.group(2))]
        state["path"].append(choice.title)
        scam_type = choice.scam_type or step.scam_type
        if scam_type:
            ctx.tracker.slots["scam_type"] = scam_type
        if choice.next:
            state["step"] = choice.next
            ctx.replies.append(self.step_reply(chart.steps[choice.next]))
            return
        ctx.tracker.extra.pop("guided", None)
        voice = bool((self.actions.engine.settings.raw.get("guided") or {}).get("voice", True))
        outcome = choice.outcome
        if outcome in ("escalate_lost", "escalate_moving"):
            rule = ctx.brain.understander.cue_rules.by_id[LOST_CUE if outcome == "escalate_lost" else MOVING_CUE]
            from bot.nlu.cues import Cue

            ctx.cues = [Cue(rule.id, rule.label, choice.title, 0, 0)]
            ctx.tracker.slots.update(risk="urgent" if outcome == "escalate_lost" else "high", danger=True,
                                     transferred=outcome == "escalate_lost")
            ctx.summary = "长辈模式：" + " → ".join(state["path"])
            ctx.short = True
            self.actions.escalate(ctx)
            ctx.replies[-1].voice = voice
        elif outcome == "warn":
            scam = ctx.brain.content.scams.get(scam_type or "")
            text = fill(scam.warning, self.actions.values(ctx.brain, ctx.tracker)) if scam else ""
            advice = scam.advice[0] if scam and scam.advice else ""
            ctx.replies.append(Reply(f"{text}\n{advice}\n{self.actions.footer(ctx)}".strip(),
                                     [Button("再问一件事", "/elder")], kind="action_guided", voice=voice))
        elif outcome == "say":
            ctx.replies.append(Reply(f"{choice.say}\n{self.actions.footer(ctx)}", [Button("再问一件事", "/elder")],
                                     kind="action_guided", voice=voice))
        else:  # free_text
            self.actions.utter("utter_guided_free_text", ctx)
