"""The understanding pipeline as spaCy components, one job each.

``spacy.blank("zh")`` with the jieba segmenter tokenises; then

1. ``fraud_entities``    amounts, phones, cards, links, accounts, apps, bodies → ``doc._.entities``
2. ``intent_classifier`` probability of every intent                        → ``doc.cats``
3. ``urgency``           probability that money/codes/cards are leaving now → ``doc._.urgency``
4. ``risk_cues``         risk cues from ``content/risk_cues.yml``           → ``doc._.cues``
5. ``scam_risk``         scam type, confidence, risk level, escalation      → ``doc._.verdict``

Components are configured from data (lookup tables, cue rules, thresholds) so
``nlp.pipe_names`` shows the whole flow of a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch

from bot.nlu.classifier import IntentClassifier
from bot.nlu.cues import Cue, load_cue_rules
from bot.nlu.entities import EntityExtractor
from bot.nlu.risk import Assessment, assess

for _name in ("entities", "scores", "urgency", "cues", "verdict"):
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


def tokens_of(doc: Doc) -> list[str]:
    """The doc's token strings, built once for all components."""
    if "tokens" not in doc.user_data:
        doc.user_data["tokens"] = [t.text for t in doc]
    return doc.user_data["tokens"]


def _token_spans(doc: Doc) -> list[tuple[int, int]]:
    spans = []
    for token, text in zip(doc, tokens_of(doc)):
        spans.append((token.idx, token.idx + len(text)))
    return spans


class EntitiesComponent:
    def __init__(self, lookups: dict[str, list[str]]):
        self.extractor = EntityExtractor(lookups)

    def __call__(self, doc: Doc) -> Doc:
        doc._.entities = self.extractor.extract(text_of(doc), _token_spans(doc))
        return doc


class IntentComponent:
    """Wraps the trained ``IntentClassifier``; set ``.classifier`` before use."""

    def __init__(self):
        self.classifier: IntentClassifier | None = None

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, docs, batch_size: int = 256):
        for batch in minibatch(docs, size=batch_size):
            scores = self.classifier.scores([text_of(d) for d in batch], [tokens_of(d) for d in batch])
            probabilities = self.classifier.to_probabilities(scores)
            for doc, row, raw in zip(batch, probabilities, scores):
                doc.cats = dict(zip(self.classifier.labels, row.tolist()))
                doc._.scores = dict(zip(self.classifier.labels, raw.tolist()))
                yield doc


class UrgencyComponent:
    """The urgency model: is money, a code or a card leaving right now, or already gone?

    Its cue complements the rules with what they cannot list: the many ways of
    saying "I am at the bank" or "it is gone". Its evidence is the phrase that
    weighed most.
    """

    def __init__(self, urgent: str, explain_from: float):
        self.urgent = urgent
        self.explain_from = explain_from  # the evidence is looked for only when the cue will fire
        self.classifier: IntentClassifier | None = None

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, docs, batch_size: int = 256):
        for batch in minibatch(docs, size=batch_size):
            if self.classifier is None:
                yield from batch
                continue
            tokens = [tokens_of(d) for d in batch]
            probabilities = self.classifier.to_probabilities(self.classifier.scores([text_of(d) for d in batch], tokens))
            column = self.classifier.labels.index(self.urgent)
            for doc, row, toks in zip(batch, probabilities, tokens):
                urgency = float(row[column])
                evidence = self.classifier.evidence(toks, self.urgent) if urgency >= self.explain_from else ""
                doc._.urgency = (urgency, evidence)
                yield doc


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
                 urgency_threshold: float, keywords: dict[str, list[str]]):
        self.scam_types = set(scam_types)
        self.keywords = {t: [w for w in keywords.get(t, []) if len(w) > 1] for t in scam_types}
        self.question_intents = set(question_intents)
        self.intent_types = intent_types
        self.min_type_confidence = min_type_confidence
        self.large_amount = large_amount
        self.escalate_from = escalate_from
        self.urgency_threshold = urgency_threshold
        self.rules = nlp.get_pipe("risk_cues").rules

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
        big = [e for e in doc._.entities or [] if e.type == "amount" and (e.value or 0) >= self.large_amount]
        if big:
            amount = self.rules.amount_cue
            cues.append(Cue(amount.id, amount.label, big[0].text, big[0].start, big[0].end))
        urgency, evidence = doc._.urgency or (0.0, "")
        if urgency >= self.urgency_threshold:
            model = self.rules.model_cue
            cues.append(Cue(model.id, model.label, evidence, 0, 0))
        # A named scam type sets the scene; "unknown" only when the urgency model half agrees.
        scam_like = scam_type in self.scam_types or (scam_type == UNKNOWN and urgency >= 0.5)
        asking = intent in self.question_intents and cats[intent] >= 0.5
        assessment = assess(cues, self.rules, scam_like, self.escalate_from, asking)
        if scam_type == NOT_SCAM and assessment.escalate:
            scam_type, confidence = UNKNOWN, mass.get(UNKNOWN, 0.0)  # sounds dangerous, type unclear
        raw = doc._.scores or {}
        text = text_of(doc)
        hits = {t: sum(word in text for word in self.keywords[t]) for t in self.scam_types}
        likely = tuple(sorted(self.scam_types, key=lambda t: (-hits[t], -raw.get(t, -9.0), t)))
        doc._.verdict = Verdict(intent, cats[intent], scam_type, round(min(max(confidence, 0.0), 1.0), 4),
                                likely[0] if likely else None, likely, scam_like, assessment)
        return doc


@Language.factory("fraud_entities", default_config={"lookups": {}})
def make_entities(nlp: Language, name: str, lookups: dict):
    return EntitiesComponent(lookups)


@Language.factory("intent_classifier")
def make_intent_classifier(nlp: Language, name: str):
    return IntentComponent()


@Language.factory("urgency", default_config={"urgent": "urgent", "explain_from": 0.0})
def make_urgency(nlp: Language, name: str, urgent: str, explain_from: float):
    return UrgencyComponent(urgent, explain_from)


@Language.factory("risk_cues", default_config={"rules_path": ""})
def make_cues(nlp: Language, name: str, rules_path: str):
    return CuesComponent(rules_path)


@Language.factory("scam_risk", default_config={
    "scam_types": [], "intent_types": {}, "question_intents": [], "min_type_confidence": 0.25,
    "large_amount": 10000.0, "escalate_from": "high", "urgency_threshold": 0.8, "keywords": {}})
def make_scam_risk(nlp: Language, name: str, scam_types: list, intent_types: dict, question_intents: list,
                   min_type_confidence: float, large_amount: float, escalate_from: str, urgency_threshold: float,
                   keywords: dict):
    return ScamRiskComponent(nlp, scam_types, intent_types, question_intents, min_type_confidence,
                             large_amount, escalate_from, urgency_threshold, keywords)
