"""The understanding pipeline as spaCy components, one job each.

``spacy.blank("zh")`` with the jieba segmenter tokenises; then

1. ``fraud_entities``    amounts, phones, cards, links, accounts, apps, bodies → ``doc._.entities``
2. ``featurize``         one TF-IDF vector of characters and words           → ``doc._.features``
3. ``intent_classifier`` probability of every intent                        → ``doc.cats``
4. ``urgency``           probability that money/codes/cards are leaving now → ``doc._.urgency``
5. ``voice``             probability that the text is the scammer's own words → ``doc._.voice``
6. ``risk_cues``         risk cues from ``content/risk_cues.yml``           → ``doc._.cues``
7. ``scam_risk``         scam type, confidence, risk level, escalation      → ``doc._.verdict``

Components are configured from data (lookup tables, cue rules, thresholds) so
``nlp.pipe_names`` shows the whole flow of a message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from spacy.attrs import IDX, LENGTH
from spacy.language import Language
from spacy.tokens import Doc

from bot.nlu.classifier import Features, LinearHead
from bot.nlu.cues import LEVELS, Cue, load_cue_rules
from bot.nlu.entities import EntityExtractor
from bot.nlu.risk import Assessment, assess

for _name in ("entities", "features", "scores", "urgency", "voice", "cues", "verdict"):
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=None)

NOT_SCAM, UNKNOWN = "not_scam", "unknown"


@dataclass(frozen=True)
class Verdict:
    """What the pipeline concludes about one message."""

    intent: str
    intent_confidence: float
    scam_type: str
    confidence: float
    topic: str | None  # the scam type the message is closest to, even for questions about scams
    likely: tuple[str, ...]  # scam types from likeliest: keyword hits first, then the classifier's scores
    scam_like: bool  # the message sets a scam scene (the cues count at their full level)
    assessment: Assessment


def text_of(doc: Doc) -> str:
    """The doc's text, built once (``Doc.text`` rebuilds the string on every access)."""
    if "text" not in doc.user_data:
        doc.user_data["text"] = doc.text
    return doc.user_data["text"]


def _spans_and_tokens(doc: Doc) -> None:
    """Token offsets and strings, read from the doc's arrays once (iterating a Doc builds a Token per word)."""
    text = text_of(doc)
    spans = [(start, start + length) for start, length in doc.to_array([IDX, LENGTH]).tolist()] if len(doc) else []
    doc.user_data["spans"] = spans
    doc.user_data["tokens"] = [text[start:end] for start, end in spans]


def tokens_of(doc: Doc) -> list[str]:
    """The doc's token strings, built once for all components."""
    if "tokens" not in doc.user_data:
        _spans_and_tokens(doc)
    return doc.user_data["tokens"]


def _token_spans(doc: Doc) -> list[tuple[int, int]]:
    if "spans" not in doc.user_data:
        _spans_and_tokens(doc)
    return doc.user_data["spans"]


class EntitiesComponent:
    def __init__(self, lookups: dict[str, list[str]]):
        self.extractor = EntityExtractor(lookups)

    def __call__(self, doc: Doc) -> Doc:
        doc._.entities = self.extractor.extract(text_of(doc), _token_spans(doc))
        return doc


class FeaturesComponent:
    """Featurises the doc once for every classifier head; set ``.features`` before use."""

    def __init__(self):
        self.features: Features | None = None

    def __call__(self, doc: Doc) -> Doc:
        doc._.features = self.features.vector(text_of(doc), tokens_of(doc))
        return doc


class IntentComponent:
    """The intent head; set ``.head`` before use."""

    def __init__(self):
        self.head: LinearHead | None = None

    def __call__(self, doc: Doc) -> Doc:
        raw = self.head.score(doc._.features)
        probabilities = LinearHead.probabilities_of(raw)
        doc.cats = dict(zip(self.head.labels, probabilities.tolist()))
        doc._.scores = dict(zip(self.head.labels, raw.tolist()))
        return doc


class UrgencyComponent:
    """The urgency model: is money, a code or a card leaving right now, or already gone?

    Its cue complements the rules with what they cannot list: the many ways of
    saying "I am at the bank" or "it is gone". Its evidence is the phrase that
    weighed most.
    """

    def __init__(self, urgent: str, explain_from: float):
        self.urgent = urgent
        self.explain_from = explain_from  # the evidence is looked for only when the cue will fire
        self.head: LinearHead | None = None
        self.features: Features | None = None

    def __call__(self, doc: Doc) -> Doc:
        if self.head is None:
            return doc
        row = self.head.probabilities(doc._.features)
        urgency = float(row[self.head.labels.index(self.urgent)])
        evidence = (self.head.strongest(self.features, tokens_of(doc), self.urgent)
                    if urgency >= self.explain_from else "")
        doc._.urgency = (urgency, evidence)
        return doc


class VoiceComponent:
    """Whose words these are: the resident's own, or a scammer's text the resident pasted.

    A pasted SMS that demands a transfer shows the scam but says nothing about what
    the resident did; the risk of a forwarded text comes from the resident's own words.
    """

    forwarded = "forwarded"
    # The form of a pasted text, whatever its words: an SMS signature 【…】, a chat transcript ("对方："),
    # a mass-message salutation or an unsubscribe line.
    PASTED = re.compile(r"【[^】]{1,16}】|(^|[\s,，。])(对方|他|她|客服|老师)[:：]|尊敬的(客户|用户|会员|车主|家长)"
                        r"|回复?(TD|td|T)退订|拒收请回复")

    # The resident telling what the other side said or did ("对方让她…", "打电话的人说…", "我妈刚才接了个…"):
    # a scammer's own text speaks to the reader, it does not report itself.
    REPORTED = re.compile(r"(对方|那人|那个人|骗子)(又|就|还|一直|非|硬|正)?(说|让|要我|要她|要他|叫|问我|问她|问他|教)"
                          r"|(打电话|来电话|打过来|打来|来电)(的人)?(说|讲|称)"
                          r"|(^|[，。,！？!?\s])(我|俺)(妈|爸|奶奶|爷爷|姥姥|姥爷|老伴|媳妇|闺女|儿子|女儿)"
                          r"(说|今天|昨天|刚才|刚刚|接|收到)")
    REPORTED_VOICE = 0.25

    def __init__(self):
        self.head: LinearHead | None = None

    def __call__(self, doc: Doc) -> Doc:
        text = text_of(doc)
        voice = 1.0 if self.PASTED.search(text) else 0.0
        if self.head is not None and voice < 1.0:
            voice = float(self.head.probabilities(doc._.features)[self.head.labels.index(self.forwarded)])
            if voice > self.REPORTED_VOICE and (self.REPORTED.search(text) or _mostly_latin(text)):
                voice = self.REPORTED_VOICE  # the model knows Chinese texts: "I already deposited 20000" is the resident
        doc._.voice = voice
        return doc


_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


def _mostly_latin(text: str) -> bool:
    """English or pinyin, with few Chinese characters."""
    return len(_LATIN.findall(text)) > 4 * len(_HAN.findall(text))


class CuesComponent:
    def __init__(self, rules_path: str):
        self.rules = load_cue_rules(Path(rules_path))

    def __call__(self, doc: Doc) -> Doc:
        doc._.cues = self.rules.find(text_of(doc))
        return doc


class ScamRiskComponent:
    """Decides the scam type (or not_scam/unknown) and the risk of the message."""

    def __init__(self, nlp: Language, scam_types: list[str], intent_types: dict[str, str],
                 question_intents: list[str], min_type_confidence: float, large_amount: float, escalate_from: str,
                 urgency_threshold: float, keywords: dict[str, list[str]], signs: list[str] = ()):
        self.scam_types = set(scam_types)
        self.keywords = {t: [w for w in keywords.get(t, []) if len(w) > 1] for t in scam_types}
        self.keyword_types: dict[str, list[str]] = {}
        for scam, words in self.keywords.items():
            for word in dict.fromkeys(words):
                self.keyword_types.setdefault(word, []).append(scam)
        self.keyword_pattern = (re.compile("|".join(re.escape(w) for w in sorted(self.keyword_types, key=len, reverse=True)))
                                if self.keyword_types else None)
        self.question_intents = set(question_intents)
        self.intent_types = intent_types
        self.min_type_confidence = min_type_confidence
        self.large_amount = large_amount
        self.escalate_from = escalate_from
        self.urgency_threshold = urgency_threshold
        self.rules = nlp.get_pipe("risk_cues").rules
        self.signs = re.compile("|".join(re.escape(s) for s in sorted(signs, key=len, reverse=True))) if signs else None

    def _acted(self, cues: list[Cue], text: str) -> bool:
        """Does any action cue, anywhere in the text, say what the resident did rather than what is demanded?"""
        for cue in cues:
            if cue.id not in ACTION_CUES:
                continue
            for pattern in getattr(self.rules.by_id[cue.id], "patterns", ()):
                if any(_acted(Cue(cue.id, cue.label, m.group(0), m.start(), m.end()), text)
                       for m in pattern.finditer(text) if m.end() > m.start()):
                    return True
        return False

    def _engaged(self, text: str, cues: list[Cue]) -> bool:
        """Do the resident's own words around a pasted text say they are in it now ("（对方一直在微信视频，我现在
        一个人在屋里）", "我现在账户里只有3万，她让我今天必须补齐", "我儿子确实在保定出差")?"""
        spans = own_spans(text)
        if not spans:
            return False
        for cue in cues:
            rule = self.rules.by_id[cue.id]
            # The urgency model's cue has no offsets: its evidence is found in the text.
            start = cue.start if cue.end > cue.start else (text.find(cue.evidence) if cue.evidence else -1)
            if rule.protect or start < 0 or not any(a <= start < b for a, b in spans):
                continue
            if cue.id in ENGAGING or rule.level >= 3:
                return True
        return any(ENGAGED.search(text, a, b) for a, b in spans)

    def type_of(self, intent: str) -> str:
        if intent in self.scam_types:
            return intent
        return self.intent_types.get(intent, NOT_SCAM)

    def __call__(self, doc: Doc) -> Doc:
        cats = doc.cats or {NOT_SCAM: 1.0}
        intent = max(cats, key=cats.get)
        mass: dict[str, float] = {}
        for label, p in cats.items():
            kind = self.type_of(label)
            mass[kind] = mass.get(kind, 0.0) + p
        scam_type = max(mass, key=mass.get)
        confidence = mass[scam_type]
        if scam_type in self.scam_types and confidence < self.min_type_confidence:
            scam_type, confidence = UNKNOWN, mass.get(UNKNOWN, 0.0) + confidence
        cues: list[Cue] = list(doc._.cues or [])
        big = [e for e in doc._.entities or [] if e.type == "amount" and (e.value or 0) >= self.large_amount
               and not LOAN_AMOUNT.search(text_of(doc)[max(0, e.start - 8):e.start])]
        if big:
            amount = self.rules.amount_cue
            cues.append(Cue(amount.id, amount.label, big[0].text, big[0].start, big[0].end))
            demands = [c for c in cues if c.id in LARGE_DEMAND_CUES]
            asked = next((e for e in big for c in demands if c.start - 4 <= e.start <= c.end + 12), None)
            if asked is not None:  # the large amount is the one demanded, not a loan applied for
                demand = self.rules.demand_cue
                cues.append(Cue(demand.id, demand.label, asked.text, asked.start, asked.end))
        urgency, evidence = doc._.urgency or (0.0, "")
        if urgency >= self.urgency_threshold:
            model = self.rules.model_cue
            cues.append(Cue(model.id, model.label, evidence, 0, 0))
        text = text_of(doc)
        # No scam without evidence: a type needs a mechanism (a demand, a threat, a too-good offer, an
        # identity that cannot be checked, a link or an account id), not a topic word (客服, 快递, 儿子).
        evidence = (any(self.rules.by_id[c.id].evidence for c in cues)
                    or (self.signs is not None and self.signs.search(text) is not None)
                    or any(e.type == "account" or (e.type == "url" and not _official_link(e.text))
                           for e in doc._.entities or []))
        acted: list[bool] = []  # computed at most once: does the resident say they did something?

        def resident_acted() -> bool:
            if not acted:
                acted.append(self._acted(cues, text))
            return acted[0]

        if evidence and self.rules.is_general(text) and not resident_acted() \
                and not any(c.id in DEMANDS_ON_RESIDENT and "我" in c.evidence for c in cues):
            evidence = False  # a warning or a general question quotes the mechanism; nobody is asking them
            cues = [c for c in cues if not self.rules.by_id[c.id].evidence and self.rules.by_id[c.id].level < 3
                    or c.id in ("stopped", "not_yet", "verified")]
        if not evidence:
            if scam_type == NOT_SCAM:
                # An ordinary message: the urgency model alone ("我刚交了五千押金") does not make it a scam.
                cues = [c for c in cues if c.id != self.rules.model_cue.id]
            elif urgency < self.urgency_threshold:
                scam_type, confidence = NOT_SCAM, mass.get(NOT_SCAM, 0.0)
        # A named scam type sets the scene; "unknown" only when the urgency model half agrees.
        scam_like = scam_type in self.scam_types or (scam_type == UNKNOWN and urgency >= 0.5)
        asking = intent in self.question_intents and cats[intent] >= 0.5
        assessment = assess(cues, self.rules, scam_like, self.escalate_from, asking)
        # A bulletin about a case still going on ("…目前仍在通话中，劝阻工作正在进行"), not a scam text's "请于今日内".
        reported_live = any(c.id == "past_story" for c in cues) and STILL_GOING.search(text) is not None
        if (doc._.voice or 0.0) >= 0.5 and assessment.escalate and not resident_acted() and not reported_live \
                and not self._engaged(text, cues):
            # A pasted scam text shows the scam, not what the resident did: its demands warn, they do not escalate.
            assessment = Assessment(LEVELS[2], False, assessment.cues)
        if scam_type == NOT_SCAM and assessment.escalate:
            scam_type, confidence = UNKNOWN, mass.get(UNKNOWN, 0.0)  # sounds dangerous, type unclear
        raw = doc._.scores or {}
        hits = dict.fromkeys(self.scam_types, 0)
        if self.keyword_pattern is not None:
            for word in self.keyword_pattern.findall(text):
                for scam in self.keyword_types[word]:
                    hits[scam] += 1
        likely = tuple(sorted(self.scam_types, key=lambda t: (-hits[t], -raw.get(t, -9.0), t)))
        if scam_type == NOT_SCAM and intent in self.scam_types and (doc._.voice or 0.0) >= 0.5 and NOT_SCAM in cats:
            # A pasted text holds the other side's very words: without a mechanism in them there is no scam, and
            # the dialogue answers it as the ordinary message it is (a resident's own summary keeps its intent).
            intent = NOT_SCAM
        doc._.verdict = Verdict(intent, cats[intent], scam_type, round(min(max(confidence, 0.0), 1.0), 4),
                                likely[0] if likely else None, likely, scam_like, assessment)
        return doc


# Quoted words (the other side's) and the resident's words around them.
QUOTED = re.compile(r"'[^']{4,600}'|“[^”]{4,600}”|\"[^\"]{4,600}\"|「[^」]{4,600}」|『[^』]{4,600}』")
BRACKETED = re.compile(r"\([^()]{2,200}\)")  # the normaliser turns （） into ()
ADDRESSED = re.compile(r"[您你请亲]")
_OWN_CLAUSE = re.compile(r"[。！？!?；;\s]")
# Cues in the resident's own words that put them in the scam now.
ENGAGING = {"money_moving", "money_gone", "money_gone_just_now", "code_given", "card_handover", "screen_share",
            "app_installed", "still_on_call", "isolation", "secrecy", "urgent_situation", "pay_requested",
            "named_account", "loan_to_pay", "code_requested"}
ENGAGED = re.compile(r"确实|没收到|一个人在|(一直|还|正)在(视频|通话|打|聊)|让(我|俺|她|他)(今天|马上|现在|赶紧)"
                     r"|(我|俺)(已经|刚|刚才)?(扫|填|点|输|借|转|卖|交|下|装|开|按|信)了")


def own_spans(text: str) -> list[tuple[int, int]]:
    """Where the resident speaks in a message that pastes someone else's words: outside quotes, inside
    brackets, after a dash, or after the pasted text's last words addressed to the reader (您/你/请)."""
    spans = [(m.start() + 1, m.end() - 1) for m in BRACKETED.finditer(text)]
    dash = text.find("—")
    if dash > 0:
        spans.append((dash + 1, len(text)))
    quoted = [(m.start(), m.end()) for m in QUOTED.finditer(text)]
    if quoted:
        position = 0
        for start, end in quoted:
            if start > position:
                spans.append((position, start))
            position = end
        spans.append((position, len(text)))
        return [(a, b) for a, b in spans if b > a]
    last = None
    for m in ADDRESSED.finditer(text):
        last = m.end()
    if last is not None:
        end_of_clause = _OWN_CLAUSE.search(text, last)
        if end_of_clause and end_of_clause.end() < len(text):
            spans.append((end_of_clause.end(), len(text)))
    return [(a, b) for a, b in spans if b > a]


# What a bulletin says of a case still going on; not "今日"/"今天", which a scammer's text uses too ("请于今日内").
STILL_GOING = re.compile(r"目前仍|至今仍|仍在|仍然在|正在进行|进行中|正在处置|正在劝阻|正在赶往|正在与|正在和|现又|现在又|对方现"
                         r"|现正|目前她|目前他|目前该|已乘|已前往|准备好钱|执意要去|坚持要去")
# Demands whose amount, when large, makes a pending demand urgent by itself (the policy, rule 3).
LARGE_DEMAND_CUES = {"pay_requested", "upfront_fee", "named_account", "safe_account", "family_emergency",
                     "boss_transfer", "bail_fee"}
# Demands made of the resident ("让我转到…", "问我要验证码"), as opposed to quoted in a warning.
DEMANDS_ON_RESIDENT = {"pay_requested", "code_requested", "info_requested", "named_account", "loan_to_pay"}
# Cues that say what the resident did or is doing (as opposed to what a pasted text demands).
ACTION_CUES = {"money_gone", "money_gone_just_now", "code_given", "card_handover", "money_moving", "screen_share",
               "app_installed"}
_DEMAND = re.compile(r"您|你|请|需|须|务必|让|叫|要求|催")
# A loan applied for or granted ("申请贷款五万", "额度二十万") is not money leaving: no large-amount cue.
LOAN_AMOUNT = re.compile(r"(申请|贷款|贷|借款|额度|放款|代款|审批|批了|批下来|能借|可借)[^，。,]{0,4}$")
_CLAUSE = re.compile(r"[,.!?;:，。！？；：\s—]")


def _acted(cue: Cue, text: str) -> bool:
    """Does the cue's clause say what the resident did or is doing ("我下了，开了共享"), not a demand ("请开启共享")?"""
    if cue.id not in ACTION_CUES or cue.end <= cue.start:
        return False
    starts = [m.end() for m in _CLAUSE.finditer(text, 0, cue.start)]
    end = _CLAUSE.search(text, cue.end)
    clause = text[starts[-1] if starts else 0:end.start() if end else len(text)]
    before = clause[:max(0, cue.start - (starts[-1] if starts else 0))][-8:]
    return not _DEMAND.search(before) and not _DEMAND.search(cue.evidence)


def _official_link(url: str) -> bool:
    host = url.lower().split("//")[-1].split("/")[0]
    return host.endswith(".gov.cn")


@Language.factory("fraud_entities", default_config={"lookups": {}})
def make_entities(nlp: Language, name: str, lookups: dict):
    return EntitiesComponent(lookups)


@Language.factory("featurize")
def make_features(nlp: Language, name: str):
    return FeaturesComponent()


@Language.factory("intent_classifier")
def make_intent_classifier(nlp: Language, name: str):
    return IntentComponent()


@Language.factory("voice")
def make_voice(nlp: Language, name: str):
    return VoiceComponent()


@Language.factory("urgency", default_config={"urgent": "urgent", "explain_from": 0.0})
def make_urgency(nlp: Language, name: str, urgent: str, explain_from: float):
    return UrgencyComponent(urgent, explain_from)


@Language.factory("risk_cues", default_config={"rules_path": ""})
def make_cues(nlp: Language, name: str, rules_path: str):
    return CuesComponent(rules_path)


@Language.factory("scam_risk", default_config={
    "scam_types": [], "intent_types": {}, "question_intents": [], "min_type_confidence": 0.25,
    "large_amount": 10000.0, "escalate_from": "high", "urgency_threshold": 0.8, "keywords": {}, "signs": []})
def make_scam_risk(nlp: Language, name: str, scam_types: list, intent_types: dict, question_intents: list,
                   min_type_confidence: float, large_amount: float, escalate_from: str, urgency_threshold: float,
                   keywords: dict, signs: list):
    return ScamRiskComponent(nlp, scam_types, intent_types, question_intents, min_type_confidence,
                             large_amount, escalate_from, urgency_threshold, keywords, signs)
