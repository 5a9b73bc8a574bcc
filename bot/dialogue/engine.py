"""One engine for every channel: a message in, replies out, state saved.

The flow of a message: understand (NLU) → fill slots (answers to the pending
question, scam type, amount, risk in the context of the conversation) → predict
actions from rules and stories → run them → save the state and the messages.
Escalation is a safety rule, not only a story: whenever a turn reaches the
escalation level the engine runs ``action_escalate`` even if no story says so.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bot.outreach.subscriptions import Subscriptions
from bot.config import Settings
from bot.scams import Content
from bot.dialogue.actions import QUIZ_ANSWER, REACHABLE_CHANNELS, Actions
from bot.dialogue.brain import Brain
from bot.dialogue.context import TurnContext
from bot.dialogue.responses import Reply, Responses
from bot.dialogue.situation import PICTURE_MARK, Situation, follow_up_cue, update
from bot.dialogue.tracker import Tracker
from bot.desk.escalations import Escalations
from bot.images.keep import keep
from bot.images.reader import Reader, Reading, ReadingQueue
from bot.checks.risklist import RiskList
from bot.nlu.cues import LEVELS, Cue
from bot.nlu.risk import Assessment
from bot.nlu.pipeline import NOT_SCAM, UNKNOWN
from bot.nlu.normalize import storable
from bot.nlu.understand import Understander, Understanding
from bot.redact import loggable, mask
from bot.checks.riskcheck import items_of
from bot.store import Store, StoreError

log = logging.getLogger(__name__)

FOLLOW_UP_SLOTS = ("transferred", "still_on_call", "downloaded_app", "paid_fee", "gave_card")
YES = {"affirm", "already_transferred", "still_on_call"}
NO = {"deny", "hung_up"}
# A "yes" to these questions is itself a risk cue, evaluated in the conversation's context.
ANSWER_CUES = {"transferred": "money_gone", "paid_fee": "money_gone", "still_on_call": "still_on_call",
               "gave_card": "card_handover", "downloaded_app": "download_app"}
COMMANDS = {"/start": "greet", "/help": "bot_help", "/hotline": "ask_hotline", "/report": "report_number",
            "/check": "check_number", "/subscribe": "subscribe", "/unsubscribe": "unsubscribe",
            "/quiz": "quiz", "/case": "case", "/elder": "elder", "/visit": "visit", "/cancel": "cancel",
            "/today": "today_alert"}
# A button's title typed as words ("长辈模式", as the welcome says to press): the same as pressing it. On WeChat
# and in the terminal there are no buttons to press.
TYPED_COMMANDS = {"长辈模式": "/elder", "长辈模式（大按钮）": "/elder", "长辈模式(大按钮)": "/elder", "老人模式": "/elder",
                  "大字模式": "/elder", "大按钮": "/elder", "今日预警": "/today", "热线电话": "/hotline"}
# Commands and buttons that run one action directly, whatever the stories say.
DIRECT_ACTIONS = {"retracted": "utter_retracted", "quiz": "action_quiz", "case": "action_case", "quiz_answer": "action_quiz_answer",
                  "elder": "action_guided", "guided_answer": "action_guided_answer", "visit": "action_visit",
                  "visit_answer": "action_visit_answer", "cancel": "action_cancel",
                  "check_submit": "action_check", "report_submit": "action_report", "today_alert": "action_today"}
BUTTON_INTENTS = ((re.compile(r"^/g:[a-z0-9_]+:\d$"), "guided_answer"), (re.compile(r"^/v:[a-z0-9_]+:\d$"), "visit_answer"))
PAYLOAD = re.compile(r"^/([a-z][a-z0-9_]*)$")
ANY_PAYLOAD = re.compile(r"^/[a-z][a-z0-9_]*(:[a-z0-9_]+)*(\s|$)")


# Actions that say the story is suspicious.
SUSPICIOUS = {"action_warn", "action_clarify"}
# The resident corrects a warning: nobody is asking them for anything ("不是 就是我自己想装").
# Only a self-initiated story counts: "不是骗子，他是真警察" is what a deceived resident says, and changes nothing.
RETRACT = re.compile(r"^(不是|没有|没|不)(的|啊|呀|呢)?[，,。\s]*(没人让|没有人让|是我自己|我自己|就是我自己|俺自己|就是俺自己)"
                     r"|^(不是|没有)?[，,\s]*(是)?(我|俺)自己(想|要)(装|弄|买|办|问|给)"
                     r"|^没(有)?人(让|叫|要)(我|俺)")


def _is_payload(text: str) -> bool:
    """A button's payload or a command ("/deny", "/g:start:0"): not the resident's words."""
    return bool(ANY_PAYLOAD.match(text.strip()))
MAX_ACTIONS_PER_TURN = 8
TURN_BOUND_SECONDS = 10.0  # a messenger waits this long for a turn before saying it is busy
TURN_WORKERS = 4


@dataclass
class TurnResult:
    replies: list[Reply]
    understanding: Understanding
    escalation_id: int | None = None
    actions: list[str] = field(default_factory=list)
    slots: dict = field(default_factory=dict)
    read_text: str | None = None  # a picture's: what was read from it (empty when nothing could be read)


# The classifier's confidence from which its scam intent names the conversation's type without a mechanism found.
INTENT_ALONE = 0.75
# A picture's text is understood as a forwarded message (the 【…】 mark makes it the scammer's words): it shows the
# scam; the risk comes from what the resident says they did, in the caption or on their own side of a chat.
PICTURE_REPLIES = {"": "utter_image_no_text", "busy": "utter_image_busy", "too_big": "utter_image_too_large",
                   "too_many_pixels": "utter_image_too_large", "off": "utter_unreadable_image"}
QUOTE_CHARS = 60
_QUOTE_END = re.compile(r"[。！？!?；;，,、\s]")


def quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """A picture's text for "我从截图里看到：…", on one line, cut after a punctuation mark near ``limit``."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = max((m.end() for m in _QUOTE_END.finditer(text, limit // 2, limit + 1)), default=limit)
    return text[:cut].rstrip("，,、 ") + "……"


class Engine:
    def __init__(self, settings: Settings, brain: Brain, store: Store):
        self.settings = settings
        self.brain = brain  # replaced atomically by reload(); a turn keeps the brain it started with
        self.store = store
        self.escalations = Escalations(store)
        self.subscriptions = Subscriptions(store)
        self.risklist = RiskList(store)
        self.actions = Actions(self)
        self.reachable: set[str] = set(REACHABLE_CHANNELS)  # the service sets the messengers it runs
        self._locks: OrderedDict[str, threading.Lock] = OrderedDict()
        self._locks_guard = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pictures: ReadingQueue | None = None

    # Shortcuts to the current brain (a turn uses ctx.brain instead).
    @property
    def content(self) -> Content:
        return self.brain.content

    @property
    def responses(self) -> Responses:
        return self.brain.responses

    @property
    def understander(self) -> Understander:
        return self.brain.understander

    def swap(self, brain: Brain) -> Brain:
        """Start using a new brain for the next turns; returns the old one."""
        old, self.brain = self.brain, brain
        return old

    # --- public -----------------------------------------------------------------------------

    def handle(self, channel: str, user_id: str, text: str | None, contact: str = "", origin: str = "") -> TurnResult:
        """Process one message (or button payload such as "/affirm") and return the bot's replies."""
        key = f"{channel}:{user_id}"
        brain = self.brain
        text = storable(text) if isinstance(text, str) else text  # a lone surrogate must not lose an escalation
        with self._lock(key), self.store.conversation_lock(key):  # in this process, and across workers
            tracker = self._load(key)
            understanding = self._understand(brain, text or "", tracker)
            if not understanding.normalised.strip():
                understanding.intent = "empty"  # nothing readable: the fallback answers
            ctx = TurnContext(brain, tracker, understanding, channel, str(user_id), contact=contact,
                              origin=origin)
            self._fill_slots(ctx)
            tracker.record("intent", understanding.intent)
            try:
                executed = self._run_policy(ctx)
                self._add_check_results(ctx)
                if SUSPICIOUS & set(executed):  # later turns are read as part of a suspicious story
                    situation = Situation.of(tracker.slots)
                    situation.suspected = True
                    situation.save(tracker.slots)
            except StoreError as exc:  # an action needed the database and it is down: a kind answer, never a trace
                log.error("turn %s failed on the database (%s)", loggable(key), exc.__class__.__name__)
                if not any(r.urgent for r in ctx.replies):  # an urgent reply already given still goes out
                    return self.notice(channel, str(user_id), "utter_store_down")
                executed = []
            tracker.updated_at = time.time()
            self._save(ctx, text or "")
        if text and not text.startswith("/"):  # a button's payload is not the resident's words
            self._to_desk(channel, str(user_id), text)
        return TurnResult(ctx.replies, understanding, ctx.escalation_id, executed, dict(tracker.slots))

    def _to_desk(self, channel: str, user_id: str, text: str) -> None:
        """The resident's words reach the duty desk when an officer has written to them (never fails a turn)."""
        try:
            self.escalations.resident_wrote(channel, user_id, text)
        except StoreError as exc:
            log.error("a resident's reply to the desk was not recorded (%s)", exc)

    async def handle_async(self, channel: str, user_id: str, text: str | None, contact: str = "", origin: str = "",
                           bound: float = TURN_BOUND_SECONDS) -> TurnResult:
        """``handle`` in a worker thread, so an event loop (web, Telegram) never waits on understanding or on a
        busy database. After ``bound`` seconds the caller gets a short "busy" reply that names 110; the turn
        itself goes on in its thread and is saved (an escalation it reaches is still recorded)."""
        return await self._in_thread(bound, channel, user_id, self.handle, channel, user_id, text, contact, origin)

    async def handle_picture_async(self, channel: str, user_id: str, data: bytes, caption: str = "",
                                   contact: str = "", origin: str = "") -> TurnResult:
        """A screenshot or photo: read it off the event loop (one at a time, "busy" beyond a short queue), then
        a turn on what was read. The wait for the reading is bounded by the queue, the turn by ``bound``."""
        pictures = self.pictures
        reading = await pictures.read(data) if pictures is not None else Reading(error="off")
        if not reading.error:
            await asyncio.to_thread(keep, self.settings, self.store, f"{channel}:{user_id}", data, reading.text)
        return await self._in_thread(TURN_BOUND_SECONDS, channel, user_id, self.handle_picture, channel, user_id,
                                     reading, caption, contact, origin)

    async def _in_thread(self, bound: float, channel: str, user_id: str, fn, *args) -> TurnResult:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(TURN_WORKERS, thread_name_prefix="turn")
        future = asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        try:
            return await asyncio.wait_for(asyncio.shield(future), bound)
        except asyncio.TimeoutError:
            log.error("turn %s:%s took over %.0fs; answered 'busy'", channel, loggable(mask(str(user_id))), bound)
            return self.notice(channel, user_id, "utter_busy")

    @property
    def pictures(self) -> ReadingQueue | None:
        """The picture reader (its OCR engine loads on the first picture); None when config turns reading off."""
        images = self.settings.raw.get("images") or {}
        with self._locks_guard:
            if self._pictures is None and images.get("read", True):
                self._pictures = ReadingQueue(Reader.from_settings(self.settings), int(images.get("queue", 4)))
        return self._pictures

    def handle_picture(self, channel: str, user_id: str, reading: Reading, caption: str = "", contact: str = "",
                       origin: str = "") -> TurnResult:
        """A turn on a picture's text (as a forwarded message) with the resident's caption; a picture nothing
        could be read from gets a kind answer, and its caption is still understood."""
        caption = (caption or "").strip()
        read = reading.text.strip() if not reading.error else ""
        if not read:
            name = PICTURE_REPLIES.get(reading.error, "utter_image_unreadable")
            if not caption:
                result = self.unreadable(channel, user_id, "photo", name)
                result.read_text = ""
                return result
            result = self.handle(channel, user_id, caption, contact, origin)
            result.replies.insert(0, self.notice(channel, user_id, name).replies[0])
            result.read_text = ""
            return result
        text = f"{caption}\n{PICTURE_MARK}{read}" if caption else f"{PICTURE_MARK}{read}"
        result = self.handle(channel, user_id, text, contact, origin)
        values = self.actions.values(self.brain, Tracker(f"{channel}:{user_id}")) | {
            "read": quote(reading.page.their_words())}
        result.replies.insert(0, self.responses.render("utter_image_read", values))
        result.read_text = read
        return result

    def notice(self, channel: str, user_id: str, name: str) -> TurnResult:
        """One fixed reply (busy, slow down), not a turn: nothing is understood or saved."""
        reply = self.responses.render(name, self.actions.values(self.brain, Tracker(f"{channel}:{user_id}")))
        return TurnResult([reply], Understanding(text="", normalised=""))

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._pictures is not None:
            self._pictures.close()
            self._pictures = None

    def unreadable(self, channel: str, user_id: str, kind: str, name: str = "utter_unreadable") -> TurnResult:
        """A sticker, photo, voice note or file: say what we can read, keep the state."""
        understanding = Understanding(text="", normalised="")
        if name not in self.responses.names():
            name = "utter_unreadable"
        reply = self.responses.render(name, self.actions.values(self.brain, Tracker(f"{channel}:{user_id}")))
        self.store.save_turn(f"{channel}:{user_id}", channel, str(user_id), self._load(f"{channel}:{user_id}").to_json(),
                             [{"direction": "in", "text": f"[{kind}]", "intent": "unreadable"},
                              {"direction": "out", "text": reply.text}])
        return TurnResult([reply], understanding)

    def summary(self, ctx: TurnContext) -> str:
        """A short redacted summary for the duty desk: what left vs. what was mentioned, the first message
        (usually the whole story) and the latest one, without button payloads."""
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - self.settings.session_expiry_minutes * 60))
        try:
            rows = self.store.query(
                "select text from messages where key = :k and direction = 'in' and created_at >= :since order by id",
                {"k": ctx.tracker.key, "since": since})
        except StoreError:  # the database is down: the latest message is summary enough, the escalation spools
            rows = []
        said = [r["text"].strip() for r in rows if r["text"] and not _is_payload(r["text"])]
        latest = ctx.understanding.text.strip()
        if latest and not _is_payload(latest):
            said.append(latest)
        parts = []
        situation = Situation.of(ctx.tracker.slots)
        if situation.amount_paid:
            parts.append(f"已转出 {situation.amount_paid:,.0f} 元")
        if situation.amount_mentioned and situation.amount_mentioned != situation.amount_paid:
            parts.append(f"提到 {situation.amount_mentioned:,.0f} 元")
        if situation.at_risk == "relative":
            parts.append("当事人是家人或邻居，来信人是联系人")
        if said:
            parts.append(f"首条：{said[0][:240]}")
        if len(said) > 1:
            parts.append(f"最新：{said[-1][:160]}")
        return mask("；".join(parts))[:500]

    # --- steps ------------------------------------------------------------------------------

    def _lock(self, key: str) -> threading.Lock:
        with self._locks_guard:
            lock = self._locks.pop(key, None) or threading.Lock()
            self._locks[key] = lock
            while len(self._locks) > 10_000:
                self._locks.popitem(last=False)
            return lock

    def _load(self, key: str) -> Tracker:
        try:
            state = self.store.load_state(key)
        except StoreError as exc:  # the database is down: judge this message on its own, answer it, say 110
            log.error("state of %s not read (%s): this turn starts afresh", loggable(key), exc.__class__.__name__)
            state = None
        tracker = Tracker.from_json(key, state) if state else Tracker(key)
        if state and time.time() - tracker.updated_at > self.settings.session_expiry_minutes * 60:
            tracker = Tracker(key)  # an old conversation: start afresh
        return tracker

    def _understand(self, brain: Brain, text: str, tracker: Tracker) -> Understanding:
        # A number, link or account we asked for is expected in the very next message only.
        waiting = [mode for mode in ("checking", "reporting") if tracker.extra.pop(mode, None)]
        text = TYPED_COMMANDS.get(text.strip(), text)
        command = text.strip().split(maxsplit=1)[0].split("@")[0] if text.strip().startswith("/") else ""
        if command in COMMANDS:
            argument = text.strip().split(maxsplit=1)[1] if len(text.strip().split(maxsplit=1)) > 1 else ""
            if command in ("/check", "/report") and argument:  # "/check 95588": read the argument
                understanding = brain.understander.understand(argument)
                understanding.intent = COMMANDS[command]
                return understanding
            return Understanding(text=text, normalised=text, intent=COMMANDS[command])
        for pattern, intent in BUTTON_INTENTS:
            if pattern.match(text.strip()):
                return Understanding(text=text.strip(), normalised=text.strip(), intent=intent)
        if "visit" in tracker.extra and not command:  # a visit in progress reads the worker's answers
            return Understanding(text=text, normalised=text, intent="visit_answer")
        if waiting and not command:
            understanding = brain.understander.understand(text)
            if items_of(understanding):
                understanding.intent = "check_submit" if waiting[0] == "checking" else "report_submit"
            return understanding
        tracker.extra.pop("guided", None)  # typing leaves 长辈模式: the free-text understanding takes over
        if QUIZ_ANSWER.match(text.strip()):
            return Understanding(text=text.strip(), normalised=text.strip(), intent="quiz_answer")
        match = PAYLOAD.match(text.strip())
        if match and (match.group(1) in brain.content.scams or match.group(1) in brain.understander.intents):
            intent = match.group(1)
            scam_type = intent if intent in brain.content.scams else NOT_SCAM
            return Understanding(text=text, normalised=text, intent=intent, scam_type=scam_type,
                                 topic=scam_type if scam_type != NOT_SCAM else None,
                                 scam_like=scam_type != NOT_SCAM)
        return brain.understander.understand(text)

    def _fill_slots(self, ctx: TurnContext) -> None:
        """Slots from this message, read in the context of the conversation."""
        u, slots, brain = ctx.understanding, ctx.tracker.slots, ctx.brain
        asked = slots.get("asked")
        slots["asked"] = None  # a question counts for the very next message only
        extra: list[Cue] = []
        if asked in FOLLOW_UP_SLOTS and u.intent in YES | NO:
            answer = u.intent in YES
            slots[asked] = answer
            ctx.answered = (asked, answer)
            if answer and asked in ANSWER_CUES:
                extra.append(self._cue(brain, ANSWER_CUES[asked], u.text))
        situation = Situation.of(slots)
        if slots.get("warned") and not slots.get("escalation_id") and not situation.danger \
                and RETRACT.search(u.text.strip()) and not any(c.id in brain.understander.cue_rules.by_id
                                                                and brain.understander.cue_rules.by_id[c.id].level >= 2
                                                                for c in u.cues):
            # The warning was a misreading: the story is no scam, and later turns are read as ordinary ones.
            for key in ("scam_type", "warned"):
                slots.pop(key, None)
            situation.scam_type, situation.suspected, situation.demanded, situation.scam_type_seen = "", False, "", False
            u.intent, u.scam_type, u.scam_like = "retracted", NOT_SCAM, False
        done = follow_up_cue(situation, u.text) if not ctx.answered else None
        if done and done not in {c.id for c in u.cues}:
            extra.append(self._cue(brain, done, u.text))  # "告诉了" right after "让我把验证码告诉他"
        if u.intent == "already_transferred":
            slots["transferred"] = True
            extra.append(self._cue(brain, "money_gone", u.text))
        elif u.intent == "still_on_call":
            slots["still_on_call"] = True
            extra.append(self._cue(brain, "still_on_call", u.text))
        elif u.intent == "hung_up":
            slots["still_on_call"] = False
        # The type the understanding found evidence for; without evidence, the classifier's intent only when it is
        # confident ("卖胶囊 说能治高血压", 0.8, is the lecture scheme; "在世纪佳缘上认识的，视频过好几回了", 0.63,
        # and "班主任发了个收款码", 0.56, are only its topic).
        named = u.scam_type if u.scam_type in brain.content.scams else (
            u.intent if u.intent in brain.content.scams
            and (u.scam_type == UNKNOWN or u.intent_confidence >= INTENT_ALONE) else None)
        settled = slots.get("scam_type") not in (None, "", UNKNOWN)
        if named and (not settled or _is_payload(u.text) or (u.scam_type == named and u.confidence >= 0.6)):
            # The type the conversation settled on stays (a later "要交20%个人所得税才能提现" does not turn an
            # investment scam into order brushing); a confident new story or the resident's button may change it.
            slots["scam_type"] = named
        amount = u.amount()
        if amount:
            slots["amount"] = max(amount, slots.get("amount") or 0)
        if asked == "clarify" and u.intent in NO:
            situation.suspected = False  # "none of these": the resident says it is no scam story
        # "我爸现在揣着存折往镇上邮局走了" after a story the bot found suspicious is money leaving in a scam.
        in_scam = u.scam_like or bool(slots.get("scam_type")) or bool(situation.demanded or situation.danger
                                                                      or situation.suspected)
        cues = [c for c in u.cues if c.id not in {e.id for e in extra}] + extra
        assessment = brain.understander.assess(cues, scam_like=in_scam,
                                              asking=u.intent in self.settings.question_intents)
        if assessment.escalate and not extra and not u.escalate and u.voice >= 0.5:
            # A pasted text (an SMS, a screenshot) shows a scam's demands; the resident has not said they acted on
            # them. The understanding warned without escalating, and the conversation does not overrule it.
            assessment = Assessment(max(u.risk, LEVELS[2], key=LEVELS.index), False, assessment.cues)
        ctx.cues = list(assessment.cues)
        slots["risk"] = assessment.risk
        slots["danger"] = assessment.escalate
        update(situation, u, cues, slots.get("scam_type"), assessment.escalate)
        phones = [e for e in u.entities if e.type == "phone"]
        if phones and not situation.contact and slots.get("asked_contact"):
            situation.contact = phones[-1].text  # the number we asked for ("13831726645 俺姓赵 你们快点")
        if situation.contact and not ctx.contact:
            ctx.contact = situation.contact  # the phone number the resident gave: the desk's way to call back
        situation.save(slots)

    @staticmethod
    def _cue(brain: Brain, cue_id: str, text: str) -> Cue:
        rule = brain.understander.cue_rules.by_id[cue_id]
        return Cue(rule.id, rule.label, text.strip()[:40], 0, 0)

    def _run_policy(self, ctx: TurnContext) -> list[str]:
        tracker, executed, policy = ctx.tracker, [], ctx.brain.policy
        direct = DIRECT_ACTIONS.get(ctx.understanding.intent)
        first = None if direct else policy.predict(tracker)
        if tracker.slots.get("danger") and (first is None or first[0] != "action_escalate") \
                and ctx.understanding.intent not in ("visit_answer", "guided_answer"):
            self._execute("action_escalate", ctx, executed)  # safety rule: never lose an escalation
        if direct:
            self._execute(direct, ctx, executed)
            return executed
        situation = Situation.of(tracker.slots)
        if situation.contact and tracker.slots.get("escalation_id") and not tracker.slots.get("contact_told") \
                and not executed:
            self._execute("action_contact_saved", ctx, executed)  # a phone number given after the alert
            return executed
        if first is None and not executed:
            if ctx.understanding.intent == UNKNOWN or ctx.understanding.scam_type == UNKNOWN:
                self._execute("action_clarify", ctx, executed)
            elif ctx.understanding.scam_type in ctx.brain.content.scams:
                self._execute("action_warn", ctx, executed)
            else:
                self._execute("action_default_fallback", ctx, executed)
        while len(executed) < MAX_ACTIONS_PER_TURN:
            prediction = policy.predict(tracker)
            if prediction is None or prediction[0] in executed:
                break
            self._execute(prediction[0], ctx, executed)
        return executed

    def _add_check_results(self, ctx: TurnContext) -> None:
        """Numbers, links and accounts in any message are looked up and answered in the same reply."""
        if ctx.checked or not ctx.replies or ctx.understanding.intent in DIRECT_ACTIONS:
            return
        results = self.actions.check_results(ctx)
        if results:
            ctx.replies[-1].text += "\n" + results

    def _execute(self, name: str, ctx: TurnContext, executed: list[str]) -> None:
        self.actions.run(name, ctx)
        ctx.tracker.record("action", name)
        executed.append(name)

    def _save(self, ctx: TurnContext, text: str) -> None:
        u = ctx.understanding
        messages = [{"direction": "in", "text": text, "intent": u.intent, "scam_type": u.scam_type,
                     "risk": ctx.tracker.slots.get("risk"), "escalate": int(bool(ctx.tracker.slots.get("danger")))}]
        scam_type = ctx.tracker.slots.get("scam_type") or u.scam_type
        messages += [{"direction": "out", "text": r.text, "intent": r.kind, "scam_type": scam_type,
                      "risk": ctx.tracker.slots.get("risk")} for r in ctx.replies]
        try:
            self.store.save_turn(ctx.tracker.key, ctx.channel, ctx.user_id, ctx.tracker.to_json(), messages)
        except StoreError as exc:  # the replies still go out; an escalation was recorded (or spooled) before
            log.error("turn %s not saved: %s", loggable(ctx.tracker.key), exc)
        log.info("turn %s intent=%s type=%s risk=%s actions=%s text=%s", loggable(ctx.tracker.key), u.intent,
                 u.scam_type, ctx.tracker.slots.get("risk"), [r.kind for r in ctx.replies], loggable(mask(text)[:80]))
