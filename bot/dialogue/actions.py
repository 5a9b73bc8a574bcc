"""What the bot does: ``utter_*`` responses from content/ and named Python actions.

Understanding and warning: ``action_warn`` (the warning for a scam type, quoting the
cues in the resident's own words, then the one question that matters),
``action_explain`` (a question about a scam), ``action_clarify`` (type unclear:
buttons for the likely types), ``action_answer`` (a yes/no answer that shows no
danger), ``action_default_fallback``. The duty desk: ``action_escalate``. Checks
and reports: ``action_check``, ``action_report``. Outreach: ``action_subscribe``,
``action_unsubscribe``, ``action_quiz``, ``action_quiz_answer``, ``action_case``.
长辈模式 and visits (``bot.dialogue.guided``, ``bot.dialogue.visits``):
``action_guided``, ``action_guided_answer``, ``action_visit``, ``action_visit_answer``,
``action_cancel``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.desk.escalations import ANSWERABLE, SEEN_WHEN_OPEN
from bot.dialogue.context import Host, TurnContext
from bot.dialogue.guided import GuidedMode
from bot.dialogue.responses import Button, Reply, fill
from bot.dialogue.tracker import Tracker
from bot.dialogue.visits import Visits
from bot.dialogue.situation import Situation
from bot.nlu.cues import Cue
from bot.outreach.quiz import Question, case_of_the_week, pick
from bot.checks.riskcheck import Checker, Official, format_findings, items_of

if TYPE_CHECKING:
    from bot.dialogue.brain import Brain

QUIZ_ANSWER = re.compile(r"^/quiz:([A-Za-z0-9_-]+):(\d)$")

# Replies that give advice end with the hotline line.
ADVICE_RESPONSES = {"utter_praise", "utter_verified_ok", "utter_refused_scam", "utter_after_downloaded_app_yes",
                    "utter_report", "utter_check_number", "utter_ask_details", "utter_not_scam"}
# Cues not worth quoting back: they show the resident is safe, or describe the resident.
# Replies that say, in effect, "no sign of fraud here": never after a scam is established.
NO_SIGN_OF_SCAM = {"utter_not_scam", "action_default_fallback"}
# Next steps a relative at risk must take themselves: the one writing passes them on.
FOR_THE_RELATIVE = {"utter_next_app_installed", "utter_next_code_given", "utter_next_card_handed", "utter_next_paid",
                    "utter_next_moving", "utter_next_on_call"}
# Replies that restart the story ("which scam is it?", "what is a 杀猪盘?"): once a scam is established, only for a
# question about a scam, never for a short follow-up ("咋办") or more of the story ("我爸不听我的").
RESTART = {"action_clarify", "action_explain"}
SHORT_FOLLOW_UP = 16
# A question about a scam ("那杀猪盘是什么意思？"): the only thing that restarts the story once a scam is established.
ASKS_ABOUT = re.compile(r"是什么|什么意思|啥意思|什么是|啥是|是不是|真的假的|(?<!怎么办)(?<!咋办)(?<!怎么弄)[?？]")
# Channels on which the desk can reach the resident without a phone number: an officer writes back through the
# bot (``python -m bot escalation N --say``, ``/say`` in the staff chat). The service narrows this to the
# messengers it runs (``Engine.reachable``): WeChat only with the customer-service API (``WECHAT_APP_SECRET``).
REACHABLE_CHANNELS = frozenset(ANSWERABLE) - frozenset(SEEN_WHEN_OPEN)
# Channels the daily warning is pushed to (Telegram one by one, WeChat by the official account's mass send).
PUSH_CHANNELS = {"telegram", "wechat"}
UNQUOTED = {"stopped", "not_yet", "elderly", "past_story", "ongoing", "verified"}
LOST_CUES = {"money_gone", "money_gone_just_now"}


_PIECE = re.compile(r"[^，。；！,;!]+[，。；！,;!]?")


def whole_words(text: str, start: int, end: int) -> str:
    """``text[start:end]`` widened to the jieba words it cuts through (never beyond the clause)."""
    import jieba

    left = max(text.rfind(p, 0, start) for p in "，。！？；,.!?; \n") + 1
    right = min([i for i in (text.find(p, end) for p in "，。！？；,.!?; \n") if i >= 0] or [len(text)])
    position, new_start, new_end = left, start, end
    for word in jieba.cut(text[left:right]):
        word_end = position + len(word)
        if position < start < word_end:
            new_start = position
        if position < end < word_end:
            new_end = word_end
        position = word_end
    return text[new_start:new_end]


def without_hang_up(text: str) -> str:
    """``text`` without the clauses that tell the resident to hang up (for chats with no call)."""
    pieces = [p for p in _PIECE.findall(text) if not re.search(r"挂断|挂掉|挂电话|不要挂", p)]
    return "".join(pieces).strip("，,；; ")


class Actions:
    """Runs actions by name for the engine."""

    PYTHON_ACTIONS = ("action_warn", "action_explain", "action_clarify", "action_escalate", "action_answer",
                      "action_default_fallback", "action_subscribe", "action_unsubscribe", "action_quiz",
                      "action_quiz_answer", "action_case", "action_guided", "action_guided_answer", "action_visit",
                      "action_visit_answer", "action_cancel", "action_check", "action_report", "action_next_steps",
                      "action_contact_saved", "action_today")

    def __init__(self, engine: Host):
        self.engine = engine
        self.guided = GuidedMode(self)
        self.visits = Visits(self)
        self.python: dict[str, Callable[[TurnContext], None]] = dict(zip(self.PYTHON_ACTIONS, (
            self.warn, self.explain, self.clarify, self.escalate, self.answer, self.fallback,
            self.subscribe, self.unsubscribe, self.quiz, self.quiz_answer, self.case,
            self.guided.start, self.guided.answer, self.visits.start, self.visits.answer, self.visits.cancel,
            self.check, self.report, self.next_steps, self.contact_saved, self.today)))

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
            "scam_name": (scam.short_name or (scam.name if scam.name.endswith("诈骗") else f"{scam.name}诈骗"))
            if scam else "骗局",
            # "马上挂断电话" only when a call is part of the story: a pasted SMS has nobody on the line.
            "hang_up": "，不要再回复对方" if Situation.of(tracker.slots).no_call else "，马上挂断电话",
        }

    def text(self, name: str, **extra: str) -> str:
        """Response ``name`` outside any conversation (a check-in, an officer's message), current brain."""
        brain = self.engine.brain
        return brain.responses.render(name, self.values(brain, Tracker("-")) | extra).text

    def hotline_line(self, brain: "Brain | None" = None, tracker: Tracker | None = None) -> str:
        """The hotline line (every reply that gives advice ends with it; broadcasts too)."""
        brain = brain or self.engine.brain
        return brain.responses.render("utter_hotline_footer", self.values(brain, tracker or Tracker("-"))).text

    def footer(self, ctx: TurnContext) -> str:
        return self.hotline_line(ctx.brain, ctx.tracker)

    def utter(self, name: str, ctx: TurnContext) -> None:
        reply = ctx.brain.responses.render(name, self.values(ctx.brain, ctx.tracker))
        if name in ADVICE_RESPONSES:
            reply.text += "\n" + self.footer(ctx)
        ctx.replies.append(reply)

    def run(self, name: str, ctx: TurnContext) -> None:
        text = ctx.understanding.text.strip()
        restarts = name in RESTART and (len(text) <= SHORT_FOLLOW_UP or not ASKS_ABOUT.search(text))
        if (name in NO_SIGN_OF_SCAM or restarts or (name == "action_answer" and not ctx.answered)) \
                and self._scam_established(ctx):
            name = "action_next_steps"  # once a scam is established, no reply says there is no sign of one
        if name in self.python:
            self.python[name](ctx)
        elif name in ctx.brain.responses.names():
            self.utter(name, ctx)
        else:
            raise KeyError(f"no action or response named {name}")

    @staticmethod
    def _scam_established(ctx: TurnContext) -> bool:
        situation = Situation.of(ctx.tracker.slots)
        return bool(situation.danger or ctx.tracker.slots.get("escalation_id") or ctx.tracker.slots.get("escalation_spooled")
                    or (situation.scam_type and situation.scam_type not in ("not_scam", "unknown")))

    def next_steps(self, ctx: TurnContext, signals: list[str] | None = None) -> None:
        """The two or three things that matter now, for the situation the conversation has reached; ``signals``
        (quoted cue lines) are danger signals this message added to a story already warned about."""
        if any(reply.kind.startswith("utter_next_") for reply in ctx.replies):
            return  # said once this turn already
        situation = Situation.of(ctx.tracker.slots)
        if situation.verified or (situation.hung_up and not situation.gone):
            name = "utter_praise"
        elif situation.shared_screen or situation.installed_app:
            name = "utter_next_app_installed"
        elif situation.gave_code:
            name = "utter_next_code_given"
        elif situation.card_handed:
            name = "utter_next_card_handed"
        elif situation.paid:
            name = "utter_next_paid"
        elif situation.at_risk == "relative" and (situation.danger or situation.live_call):
            name = "utter_next_relative"
        elif situation.moving and not situation.hung_up:
            name = "utter_next_moving"  # on the way to the bank, about to transfer
        elif situation.live_call:
            name = "utter_next_on_call"
        elif any(cue.id == "secrecy" for cue in ctx.understanding.cues):  # "他说不能告诉我儿子"
            name = "utter_next_secrecy"
        else:
            name = "utter_next_nothing_sent"
        reply = ctx.brain.responses.render(name, self.values(ctx.brain, ctx.tracker))
        if situation.at_risk == "relative" and name in FOR_THE_RELATIVE:
            # The steps are for the relative at risk; the one writing passes them on (or does them together).
            lead = ctx.brain.responses.render("utter_next_pass_on", {}).text
            reply.text = f"{lead}\n{reply.text}"
        if signals and name != "utter_praise":
            lead = ctx.brain.responses.render("utter_more_signals", {}).text
            reply.text = "\n".join([lead, *signals, reply.text])
        reply.text += "\n" + self.footer(ctx)
        ctx.replies.append(reply)

    def contact_saved(self, ctx: TurnContext) -> None:
        """The resident gave a phone number after the escalation: the desk's record gets it, the resident is told."""
        slots, situation = ctx.tracker.slots, Situation.of(ctx.tracker.slots)
        self.engine.escalations.open_or_update(
            channel=ctx.channel, chat_id=ctx.user_id, scam_type=slots.get("scam_type") or "unknown",
            risk=slots.get("risk") if slots.get("risk") in ("high", "urgent") else "high", cues=[],
            amount=slots.get("amount"), summary=ctx.summary or self.engine.summary(ctx), contact=situation.contact)
        slots["contact_told"] = True
        self.utter("utter_desk_contact_saved", ctx)

    def desk_line(self, ctx: TurnContext) -> str:
        """What the resident is told about the duty desk: a call is promised only when it can happen."""
        situation = Situation.of(ctx.tracker.slots)
        reachable = ctx.channel in self.engine.reachable or bool(situation.contact or ctx.contact)
        if situation.contact and not ctx.tracker.slots.get("contact_told"):
            ctx.tracker.slots["contact_told"] = True
            name = "utter_desk_contact_saved"
        elif reachable:
            name = "utter_desk_will_call"
        elif ctx.tracker.slots.get("asked_contact"):
            name = ""  # asked once already: no more asking
        else:
            ctx.tracker.slots["asked_contact"] = True
            name = "utter_desk_no_contact"
        return ctx.brain.responses.render(name, self.values(ctx.brain, ctx.tracker)).text if name else ""

    @staticmethod
    def quoted(cues: list[Cue], limit: int = 3, text: str = "") -> list[str]:
        """The cues as "· label：“their words”" lines, skipping repeats of the same words; each quote is widened to
        whole words of ``text`` (the normalised message), so "说是市检察" reads "说是市检察院"."""
        seen, quotes, lines = set(), [], []
        for cue in cues:
            if cue.id in UNQUOTED or cue.id in seen:
                continue
            if text and cue.end > cue.start and text[cue.start:cue.end] == cue.evidence:
                cue = Cue(cue.id, cue.label, whole_words(text, cue.start, cue.end), cue.start, cue.end)
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
        situation = Situation.of(ctx.tracker.slots)
        said = {c.id for c in ctx.understanding.cues}
        if not situation.danger and ("verified" in said or "stopped" in said and not situation.gone):
            # "…我直接把电话挂了", "…当面跟老板确认了才付": they already did the right thing; say so, not ⚠️.
            name = "utter_verified_ok" if "verified" in said else "utter_refused_scam"
            ctx.tracker.slots["warned"] = scam.id
            return self.utter(name, ctx)
        quoted = self.quoted(ctx.cues, text=ctx.understanding.normalised)
        if ctx.tracker.slots.get("warned") == scam.id:
            # More of the same story: the same warning twice teaches nothing (and asks again what was answered).
            return self.next_steps(ctx, quoted)
        ctx.tracker.slots["warned"] = scam.id
        lines = [f"⚠️ {fill(scam.warning, self.values(ctx.brain, ctx.tracker))}"]
        if quoted:
            lines += ["您说的情况里有这些危险信号：", *quoted]
        else:
            lines += ["这类骗局的特点：", *[f"· {flag}" for flag in scam.red_flags[:2]]]
        question, slot = scam.question, scam.slot
        advice = list(scam.advice)
        if situation.no_call:  # no call in the story: nobody to hang up on
            lines[0] = without_hang_up(lines[0])
            advice = [a for a in (without_hang_up(item) for item in advice) if a]
        if situation.written_only and slot == "still_on_call":
            # A pasted SMS or chat: "are they still on the call?" makes no sense; ask what they did instead.
            question = ctx.brain.responses.render("utter_ask_acted", {}).text
            slot = "transferred"
        lines += ["请您现在：", *[f"· {item}" for item in advice[:3]], question, self.footer(ctx)]
        yes, no = ctx.brain.responses.follow_up_buttons[slot]
        ctx.tracker.slots["asked"] = slot
        ctx.replies.append(Reply("\n".join(lines),
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
        likely = [n for n in ctx.understanding.likely if n in scams] or \
            sorted(scams, key=lambda name: -scores.get(name, -9.0))
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
            amount=Situation.of(slots).amount_paid or slots.get("amount"),
            summary=ctx.summary or self.engine.summary(ctx),
            contact=ctx.contact, origin=ctx.origin,
        )
        if opened.recorded:
            slots["escalation_id"] = opened.id
            ctx.escalation_id = opened.id
        else:
            slots["escalation_spooled"] = True  # written to the spool: no promise of a call, 110 all the same
        repeat = opened.recorded and not opened.created and slots.get("urgent_told") and not ctx.short
        slots["urgent_told"] = True
        if repeat:  # warned urgently already, the desk has the update: what to do now, not the same warning again
            self.next_steps(ctx)
            ctx.replies[-1].urgent = True
            return
        lost = any(c.id in LOST_CUES for c in ctx.cues) or slots.get("transferred") or slots.get("paid_fee")
        name = ("utter_guided_urgent_" if ctx.short else "utter_urgent_") + ("lost" if lost else "moving")
        reply = ctx.brain.responses.render(name, self.values(ctx.brain, ctx.tracker))
        if Situation.of(slots).at_risk == "relative" and not ctx.short:  # the writer is not the one at the counter
            relative = ctx.brain.responses.render("utter_urgent_relative", self.values(ctx.brain, ctx.tracker))
            reply.text += "\n" + relative.text
        line = self.desk_line(ctx) if opened.recorded else ""
        if line:
            reply.text += "\n" + line
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

    # --- 风险查询 and 举报 --------------------------------------------------------------------------

    def check_results(self, ctx: TurnContext, limit: int = 10) -> str:
        """The "查询结果" lines for the numbers, links and accounts of the message ("" when none)."""
        own = re.sub(r"\D", "", Situation.of(ctx.tracker.slots).contact or ctx.contact or "")
        # The resident's own number ("我的电话138…", given for the desk to call back) is not looked up.
        items = [(kind, text) for kind, text in items_of(ctx.understanding)
                 if not (own and kind == "phone" and re.sub(r"\D", "", text) == own)]
        ctx.checked = True
        if not items:
            return ""
        findings = Checker(self.engine.store, ctx.brain.official or Official()).check(items, limit)
        distinct = len({(kind, text) for kind, text in items})
        return format_findings(findings, max(0, distinct - len(findings))) if findings else ""

    def check(self, ctx: TurnContext) -> None:
        """/check or "这个号码是骗子吗": look up what the message contains, or ask for it."""
        results = self.check_results(ctx)
        if not results:
            ctx.tracker.extra["checking"] = True
            return self.utter("utter_check_number", ctx)
        ctx.replies.append(Reply(f"{results}\n{self.footer(ctx)}", kind="action_check"))

    def report(self, ctx: TurnContext) -> None:
        """/report or "我想举报…": record the number, link or account with the chat's summary."""
        items = items_of(ctx.understanding)
        if not items:
            ctx.tracker.extra["reporting"] = True
            return self.utter("utter_report", ctx)
        ids = self.engine.risklist.report(items, ctx.channel, ctx.user_id, self.engine.summary(ctx))
        lines = [f"谢谢您！举报已记下（编号 {', '.join(f'#{i}' for i in ids[:5])}），反诈中心核实后会加入风险库，提醒更多人。",
                 self.check_results(ctx),
                 "您也可以在“国家反诈中心”APP 里举报，或拨打 12381 举报涉诈短信和电话。", self.footer(ctx)]
        ctx.replies.append(Reply("\n".join(line for line in lines if line), kind="action_report"))

    # --- outreach: subscriptions, quiz, case of the week ------------------------------------

    def subscribe(self, ctx: TurnContext) -> None:
        if ctx.channel not in PUSH_CHANNELS:
            return self.utter("utter_subscribe_telegram_only", ctx)
        new = self.engine.subscriptions.subscribe(ctx.channel, ctx.user_id)
        self.utter("utter_subscribed" if new else "utter_already_subscribed", ctx)

    def today(self, ctx: TurnContext) -> None:
        """今日预警: the day's warning, as the push sends it (the WeChat menu's button, /today)."""
        from datetime import date

        from bot.outreach.broadcast import load_file_alerts

        alert = self.engine.subscriptions.alert_for(
            str(date.today()), load_file_alerts(self.engine.settings.content_dir / "alerts", problems=[]))
        if alert is None:
            return self.utter("utter_no_alert_today", ctx)
        ctx.replies.append(Reply(alert.message(self.hotline_line(ctx.brain, ctx.tracker)), kind="action_today"))

    def unsubscribe(self, ctx: TurnContext) -> None:
        self.engine.subscriptions.unsubscribe(ctx.channel, ctx.user_id)
        self.utter("utter_unsubscribed", ctx)

    def quiz(self, ctx: TurnContext) -> None:
        """Start a three-question self-test."""
        questions = list(ctx.brain.quiz)
        if not questions:
            return self.utter("utter_help", ctx)
        extra = ctx.tracker.extra
        chosen = pick(questions, extra.get("quiz_seen", []))
        extra["quiz"] = {"ids": [q.id for q in chosen], "index": 0, "right": 0}
        extra["quiz_seen"] = (extra.get("quiz_seen", []) + [q.id for q in chosen])[-30:]
        ctx.replies.append(self._question(chosen[0], 1, len(chosen)))

    @staticmethod
    def _question(question: Question, number: int, total: int) -> Reply:
        return Reply(f"反诈小测验（第 {number}/{total} 题）\n{question.question}",
                     [Button(f"{'ABCD'[i]}. {option}", f"/quiz:{question.id}:{i + 1}")
                      for i, option in enumerate(question.options)], kind="action_quiz")

    def quiz_answer(self, ctx: TurnContext) -> None:
        """Explain the answer at once, then ask the next question or give the score."""
        match = QUIZ_ANSWER.match(ctx.understanding.text)
        by_id = {q.id: q for q in ctx.brain.quiz}
        state = ctx.tracker.extra.get("quiz")
        question = by_id.get(match.group(1)) if match else None
        if not state or question is None or question.id not in state["ids"]:
            ctx.replies.append(Reply("这道题已经答过了。想再测一次，请发 /quiz。", kind="action_quiz_answer"))
            return
        chosen = int(match.group(2))
        right = chosen == question.answer
        state["right"] += int(right)
        state["index"] = state["ids"].index(question.id) + 1
        self.engine.store.record_quiz_answer(ctx.channel, ctx.user_id, question.id, right)
        lines = ["✅ 答对了！" if right else f"❌ 正确答案是 {'ABCD'[question.answer - 1]}：{question.options[question.answer - 1]}",
                 question.explanation]
        ctx.replies.append(Reply("\n".join(line for line in lines if line), kind="action_quiz_answer"))
        if state["index"] < len(state["ids"]):
            ctx.replies.append(self._question(by_id[state["ids"][state["index"]]], state["index"] + 1,
                                              len(state["ids"])))
        else:
            total = len(state["ids"])
            verdict = "真棒，防骗意识很强！" if state["right"] == total else "记住：陌生人让转账、要验证码，先挂电话再核实。"
            ctx.replies.append(Reply(f"测验结束，您答对了 {state['right']}/{total} 题。{verdict}\n{self.footer(ctx)}",
                                     kind="action_quiz_answer"))
            ctx.tracker.extra.pop("quiz", None)

    def case(self, ctx: TurnContext) -> None:
        """The typical case of the week."""
        scam = case_of_the_week(ctx.brain.content)
        if scam is None:
            return self.utter("utter_help", ctx)
        warning = fill(scam.warning, self.values(ctx.brain, ctx.tracker))
        text = f"本周典型案例：{scam.case_title}\n{scam.case_text}\n\n{warning}\n{self.footer(ctx)}"
        ctx.replies.append(Reply(fill(text, self.values(ctx.brain, ctx.tracker)), kind="action_case"))
