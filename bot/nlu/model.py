"""Build the spaCy pipeline and train (or load from cache) its intent classifier.

Training reads ``nlu/`` and ``content/`` and takes a few seconds; the trained
classifier is cached under ``.cache/`` keyed by a fingerprint of every input
file and setting, so a changed example retrains and an unchanged tree loads.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import jieba
import spacy
from spacy.language import Language

import bot
from bot.config import Settings
from bot.scams import Content, load_content
from bot.nlu import pipeline  # noqa: F401  (registers the pipeline components)
from bot.nlu.classifier import ClassifierSettings, Features, LinearHead
from bot.nlu.homophones import HomophoneFixer
from bot.nlu.normalize import Normalised, normalise
from bot.nlu.trainingdata import NluData, load_nlu

log = logging.getLogger(__name__)
jieba.setLogLevel(logging.WARNING)


class Preparer:
    """Normalises raw text for the pipeline, reading mistyped scam words as meant."""

    def __init__(self, max_chars: int, words: list[str], real_words: list[str] = ()):
        self.max_chars = max_chars
        real = frozenset(real_words)  # "限前100名" is not a mistyped 洗钱 (洗 also reads "xian")
        self.fixer = HomophoneFixer(words, lambda w: w in real or jieba.dt.FREQ.get(w, 0) >= 10)

    def __call__(self, text: str) -> Normalised:
        return normalise(text if isinstance(text, str) else "", self.max_chars, self.fixer.fix)


@dataclass
class ModelInfo:
    fingerprint: str
    trained: bool  # False when loaded from the cache
    seconds: float
    examples: int
    intents: int


def configure_segmenter(cache_dir: Path, words: list[str]) -> None:
    """Point jieba's dictionary cache at ``cache_dir`` and add the scam vocabulary."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    if not jieba.dt.initialized:
        jieba.dt.tmp_dir = str(cache_dir)
        jieba.initialize()
    for word in words:
        if word and len(word) > 1 and " " not in word:
            jieba.add_word(word)


def user_words(nlu_data: NluData, content: Content) -> list[str]:
    """Words the segmenter must keep whole: content keywords and lookup tables."""
    words = set(content.keywords)
    for values in nlu_data.lookups.values():
        words.update(values)
    return sorted(words)


def classifier_settings(settings: Settings) -> ClassifierSettings:
    raw = settings.classifier
    return ClassifierSettings(
        char_ngrams=tuple(raw.get("char_ngrams", (1, 3))),
        alpha=float(raw.get("alpha", 1e-4)),
        epochs=int(raw.get("epochs", 50)),
    )


def build_language(settings: Settings, nlu_data: NluData, content: Content) -> tuple[Language, Preparer]:
    """The blank Chinese pipeline with our components (the classifier is set later), and its preparer."""
    words = user_words(nlu_data, content)
    configure_segmenter(settings.cache_dir, words)
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    nlp.add_pipe("fraud_entities", config={"lookups": nlu_data.lookups})
    nlp.add_pipe("featurize")
    nlp.add_pipe("intent_classifier")
    nlp.add_pipe("urgency", config={"urgent": settings.urgency["urgent_intent"],
                                    "explain_from": float(settings.urgency["threshold"])})
    nlp.add_pipe("voice")
    nlp.add_pipe("risk_cues", config={"rules_path": str(settings.content_dir / "risk_cues.yml")})
    nlp.add_pipe("scam_risk", config={
        "scam_types": sorted(content.scams),
        "intent_types": settings.intent_types,
        "question_intents": settings.question_intents,
        "min_type_confidence": settings.min_type_confidence,
        "large_amount": settings.large_amount,
        "escalate_from": settings.escalate_from,
        "urgency_threshold": float(settings.urgency["threshold"]),
        # A scam's keywords and its Chinese name point to it when the classifier hesitates.
        "keywords": {k: list(v.keywords) + [v.name, *v.name.replace("(", "/").replace(")", "/").split("/")]
                     for k, v in content.scams.items()},
        "signs": sorted({sign for scam in content.scams.values() for sign in scam.signs}),
    })
    return nlp, Preparer(settings.max_chars, content.keywords, content.not_misspellings)  # misspellings of scam words, not of app names


def fingerprint(settings: Settings, nlu_data: NluData, content: Content) -> str:
    """A hash of everything the trained classifier depends on."""
    digest = hashlib.sha256()
    for path, sha in sorted({**nlu_data.digests, **content.digests}.items()):
        digest.update(f"{Path(path).name}:{sha}".encode())
    digest.update(repr(classifier_settings(settings)).encode())
    versions = "|".join(metadata.version(p) for p in ("scikit-learn", "numpy", "jieba", "spacy"))
    digest.update(f"{bot.__version__}|{versions}".encode())
    return digest.hexdigest()[:20]


def split_examples(settings: Settings, examples) -> tuple[list, list]:
    """Dialogue-intent examples, and the urgency model's examples (urgent / not urgent)."""
    urgency = {settings.urgency["urgent_intent"], settings.urgency["calm_intent"]}
    return [e for e in examples if e.intent not in urgency], [e for e in examples if e.intent in urgency]


def tokenize(nlp: Language, prepare: Preparer, texts: list[str]) -> tuple[list[str], list[list[str]]]:
    """Normalised texts and their tokens, as the classifier sees them."""
    normalised = [prepare(t).text for t in texts]
    return normalised, [[t.text for t in nlp.make_doc(n)] for n in normalised]


@dataclass
class TrainedModels:
    """One set of features and the linear heads that read it."""

    features: Features
    intent: LinearHead
    urgency: LinearHead | None  # urgent / not urgent (nlu/urgency.yml)
    voice: LinearHead | None  # own words / forwarded scammer text (intent metadata ``voice``)


def train_models(nlp: Language, prepare: Preparer, intent_examples, urgency_examples,
                 settings: Settings) -> TrainedModels:
    """Fit the shared features on every example, then each head on its own examples."""
    config = classifier_settings(settings)
    examples = list(intent_examples) + list(urgency_examples)
    texts, tokens = tokenize(nlp, prepare, [e.text for e in examples])
    features, matrix = Features.fit_matrix(texts, tokens, tuple(config.char_ngrams))
    n = len(intent_examples)
    intent = LinearHead.train(matrix[:n], [e.intent for e in intent_examples], config)
    urgency = LinearHead.train(matrix[n:], [e.intent for e in urgency_examples], config) if urgency_examples else None
    voices = [e.voice for e in intent_examples]
    voice = LinearHead.train(matrix[:n], voices, config) if len(set(voices)) > 1 else None
    return TrainedModels(features, intent, urgency, voice)


def install(nlp: Language, models: TrainedModels) -> None:
    """Put trained models into the pipeline's components."""
    nlp.get_pipe("featurize").features = models.features
    nlp.get_pipe("intent_classifier").head = models.intent
    nlp.get_pipe("urgency").head = models.urgency
    nlp.get_pipe("urgency").features = models.features
    nlp.get_pipe("voice").head = models.voice


def _prune(cache_dir: Path, keep: Path, spare: int = 2) -> None:
    """Delete old cached models, keeping ``keep`` and the ``spare`` newest others."""
    others = sorted((p for p in cache_dir.glob("intent-model-*.pkl") if p != keep),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for path in others[spare:]:
        path.unlink(missing_ok=True)


def _write_atomically(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(payload)
    os.replace(tmp, path)


@dataclass
class Model:
    """Everything needed to understand messages, built from one version of the files."""

    nlp: Language
    prepare: Preparer
    nlu_data: NluData
    content: Content
    info: ModelInfo
    models: TrainedModels | None = None


def load_or_train(settings: Settings, retrain: bool = False, previous: Model | None = None) -> Model:
    """Read nlu/ and content/, build the pipeline, load or train its classifier.

    With ``previous`` (a reload), its trained models are reused when the training data did not change: a
    reload of responses or cues neither unpickles a second copy of the models nor fragments the heap with it."""
    started = time.perf_counter()
    nlu_data = load_nlu(settings.nlu_dir, settings.root)
    content = load_content(settings.content_dir, settings.root)
    nlp, prepare = build_language(settings, nlu_data, content)
    key = fingerprint(settings, nlu_data, content)
    cached = settings.cache_dir / f"intent-model-{key}.pkl"
    models, trained = None, False
    if previous is not None and previous.info.fingerprint == key and previous.models is not None and not retrain:
        models = previous.models
    elif cached.exists() and not retrain:
        try:
            with cached.open("rb") as handle:
                models = pickle.load(handle)
        except Exception as exc:  # a truncated or foreign cache file: retrain
            log.warning("ignoring unreadable model cache %s: %s", cached, exc)
    if not isinstance(models, TrainedModels):
        intent_examples, urgency_examples = split_examples(settings, nlu_data.examples)
        models = train_models(nlp, prepare, intent_examples, urgency_examples, settings)
        trained = True
        try:
            _write_atomically(cached, pickle.dumps(models, protocol=pickle.HIGHEST_PROTOCOL))
            _prune(settings.cache_dir, keep=cached)
        except OSError as exc:
            log.warning("could not cache the model in %s: %s", cached.parent, exc)
    install(nlp, models)
    info = ModelInfo(key, trained, time.perf_counter() - started, len(nlu_data.examples), len(models.intent.labels))
    log.info("model %s %s in %.2fs", key, "trained" if trained else "loaded", info.seconds)
    return Model(nlp, prepare, nlu_data, content, info, models)
