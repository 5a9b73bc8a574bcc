"""One call from raw text to what the bot needs to know: type, risk, cues, entities."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from spacy.tokens import Doc

from bot.config import Settings
from bot.nlu.cues import Cue, CueRules
from bot.nlu.entities import Entity
from bot.nlu.model import load_or_train
from bot.nlu.normalize import Normalised
from bot.nlu.pipeline import NOT_SCAM
from bot.nlu.risk import Assessment, assess

CLASSIFY_ENTITY_TYPES = {"amount", "phone", "bank_card", "url", "account", "app", "organization"}


@dataclass
class Understanding:
    """The understanding of one message. Entity offsets point into ``text`` (the original)."""

    text: str
    normalised: str
    intent: str = NOT_SCAM
    intent_confidence: float = 1.0
    scam_type: str = NOT_SCAM
    confidence: float = 1.0
    risk: str = "none"
    escalate: bool = False
    cues: list[Cue] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    ranking: list[tuple[str, float]] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)  # raw classifier score of every intent
    topic: str | None = None  # closest scam type, also for questions ("杀猪盘是什么意思")
    likely: tuple[str, ...] = ()  # scam types from likeliest (keywords, then scores)
    scam_like: bool = False  # the message sets a scam scene
    voice: float = 0.0  # probability that the text is a pasted scammer text rather than the resident's words

    def amount(self) -> float | None:
        """The largest amount of money mentioned, in yuan."""
        values = [e.value for e in self.entities if e.type == "amount" and isinstance(e.value, float)]
        return max(values) if values else None

    def to_json(self) -> dict:
        """The ``classify`` contract: one JSON object per message."""
        return {
            "scam_type": self.scam_type,
            "confidence": round(self.confidence, 4),
            "risk": self.risk,
            "escalate": self.escalate,
            "cues": [c.label for c in self.cues],
            "entities": [e.as_json() for e in self.entities if e.type in CLASSIFY_ENTITY_TYPES],
        }


class Understander:
    """Loads (or trains) the pipeline once, then understands messages one by one or in batches."""

    def __init__(self, settings: Settings, retrain: bool = False, previous: "Understander | None" = None):
        self.settings = settings
        model = load_or_train(settings, retrain, previous.model if previous else None)
        self.model = model
        self.nlp, self.prepare, self.nlu_data, self.content, self.info = (
            model.nlp, model.prepare, model.nlu_data, model.content, model.info)
        self.cue_rules: CueRules = self.nlp.get_pipe("risk_cues").rules
        self.intents: set[str] = set(self.nlp.get_pipe("intent_classifier").head.labels)

    def assess(self, cues: list[Cue], scam_like: bool, asking: bool = False) -> Assessment:
        """Risk of a set of cues, e.g. a message's cues plus those of answers earlier in the chat."""
        return assess(cues, self.cue_rules, scam_like, self.settings.escalate_from, asking)

    def understand(self, text: str) -> Understanding:
        return next(self.understand_many([text]))

    def understand_many(self, texts: Iterable[str], batch_size: int = 64) -> Iterator[Understanding]:
        """Understandings in input order; empty, binary or huge input never raises."""
        normalised = (self.prepare(t) for t in texts)
        pending: list[Normalised] = []
        for norm in normalised:
            pending.append(norm)
            if len(pending) >= batch_size:
                yield from self._run(pending)
                pending = []
        if pending:
            yield from self._run(pending)

    def _run(self, batch: list[Normalised]) -> Iterator[Understanding]:
        useful = [n for n in batch if n.text.strip() and not n.garbage]
        docs = iter(self.nlp.pipe(self._doc(n.text) for n in useful)) if useful else iter(())
        for norm in batch:
            if norm.text.strip() and not norm.garbage:
                yield self._from_doc(norm, next(docs))
            else:
                yield Understanding(text=norm.original, normalised=norm.text)

    def _doc(self, text: str) -> Doc:
        doc = self.nlp.make_doc(text)
        doc.user_data["text"] = text  # spaCy's tokenisation keeps the text; Doc.text would rebuild it from tokens
        return doc

    @staticmethod
    def _from_doc(norm: Normalised, doc: Doc) -> Understanding:
        verdict = doc._.verdict
        entities = []
        for e in doc._.entities or []:
            start, end = norm.span(e.start, e.end)
            entities.append(Entity(e.type, norm.original[start:end], start, end, e.value))
        ranking = sorted(doc.cats.items(), key=lambda kv: -kv[1])[:5]
        return Understanding(
            text=norm.original, normalised=norm.text,
            intent=verdict.intent, intent_confidence=verdict.intent_confidence,
            scam_type=verdict.scam_type, confidence=verdict.confidence,
            risk=verdict.assessment.risk, escalate=verdict.assessment.escalate,
            cues=list(verdict.assessment.cues), entities=entities, ranking=ranking, scores=dict(doc._.scores or {}),
            topic=verdict.topic, likely=verdict.likely,
            scam_like=verdict.scam_like, voice=float(doc._.voice or 0.0),
        )
