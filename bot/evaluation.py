"""Measure the understanding: per-type scores, escalation recall, false alarms, k-fold CV.

Used by ``python -m bot evaluate``. The held-out set in ``tests/data/heldout.jsonl``
is written independently of ``nlu/`` and never trained on.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sklearn.metrics import f1_score, precision_recall_fscore_support

from bot.nlu.pipeline import NOT_SCAM


@dataclass
class Case:
    text: str
    label: str
    escalate: bool | None = None
    source: str = ""


@dataclass
class Report:
    """Figures for one evaluation run."""

    name: str
    labels: list[str]
    per_label: dict[str, dict[str, float]]
    macro_f1: float
    accuracy: float
    confusion: dict[str, Counter]
    escalation_recall: float | None
    escalation_cases: int
    false_escalation_rate: float | None
    ordinary_cases: int
    false_escalation_all: float | None  # among every case labelled escalate=false
    calm_cases: int
    errors: list[tuple[Case, str, bool]] = field(default_factory=list)
    sweep: dict[float, tuple[float, float]] = field(default_factory=dict)  # threshold → (recall, false rate)

    def as_dict(self) -> dict:
        return {
            "name": self.name, "macro_f1": round(self.macro_f1, 4), "accuracy": round(self.accuracy, 4),
            "escalation_recall": None if self.escalation_recall is None else round(self.escalation_recall, 4),
            "escalation_cases": self.escalation_cases,
            "false_escalation_rate": None if self.false_escalation_rate is None else round(self.false_escalation_rate, 4),
            "ordinary_cases": self.ordinary_cases,
            "false_escalation_all": None if self.false_escalation_all is None else round(self.false_escalation_all, 4),
            "calm_cases": self.calm_cases,
            "per_label": self.per_label,
        }


def read_cases(path: Path) -> list[Case]:
    """Lines of ``{"text", "label", "escalate"?}``; a bad line raises with its number."""
    cases = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                cases.append(Case(str(item["text"]), str(item["label"]), item.get("escalate"), f"{path.name}:{number}"))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a JSON object with text and label ({exc})") from None
    return cases


def score(name: str, cases: list[Case], predicted: list[str], escalated: list[bool]) -> Report:
    """Compare predictions with the labels of ``cases``."""
    gold = [c.label for c in cases]
    labels = sorted(set(gold))
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=labels, zero_division=0)
    per_label = {label: {"precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f), 4),
                         "support": int(s)} for label, p, r, f, s in zip(labels, precision, recall, f1, support)}
    confusion: dict[str, Counter] = defaultdict(Counter)
    for g, p in zip(gold, predicted):
        confusion[g][p] += 1
    must = [e for c, e in zip(cases, escalated) if c.escalate]
    ordinary = [e for c, e in zip(cases, escalated) if c.label == NOT_SCAM]
    calm = [e for c, e in zip(cases, escalated) if c.escalate is False]
    errors = [(c, p, e) for c, p, e in zip(cases, predicted, escalated)
              if p != c.label or (c.escalate is not None and bool(c.escalate) != e)]
    return Report(
        name=name, labels=labels, per_label=per_label,
        macro_f1=float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)),
        accuracy=sum(g == p for g, p in zip(gold, predicted)) / max(len(gold), 1),
        confusion=dict(confusion),
        escalation_recall=(sum(must) / len(must)) if must else None, escalation_cases=len(must),
        false_escalation_rate=(sum(ordinary) / len(ordinary)) if ordinary else None, ordinary_cases=len(ordinary),
        false_escalation_all=(sum(calm) / len(calm)) if calm else None, calm_cases=len(calm),
        errors=errors,
    )


def evaluate(understander, cases: list[Case], name: str) -> Report:
    results = list(understander.understand_many([c.text for c in cases]))
    return score(name, cases, [r.scam_type for r in results], [r.escalate for r in results])


def score_predictions(settings, cases: list[Case], path: Path) -> Report:
    """Score another system's predictions (one JSON line per case: ``intent`` or ``scam_type``).

    Intents are mapped to scam types exactly as our runtime maps its own
    (config.yml → nlu.intent_types), so a Rasa model trained on the exported
    project is judged by the same rules.
    """
    from bot.content import load_content

    scam_types = set(load_content(settings.content_dir, settings.root).scams)
    lines = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    if len(lines) != len(cases):
        raise ValueError(f"{path}: {len(lines)} predictions for {len(cases)} cases")

    def type_of(item: dict) -> str:
        if "scam_type" in item:
            return str(item["scam_type"])
        intent = str(item.get("intent") or NOT_SCAM)
        return intent if intent in scam_types else settings.intent_types.get(intent, NOT_SCAM)

    return score(f"{path.name} on {cases[0].source.split(':')[0] if cases else ''}", cases,
                 [type_of(item) for item in lines], [bool(item.get("escalate", False)) for item in lines])


def _folds(examples: list, folds: int, seed: int) -> list[list]:
    """Stratified folds: each intent's examples dealt round-robin after a seeded shuffle."""
    examples = list(examples)
    random.Random(seed).shuffle(examples)
    buckets: list[list] = [[] for _ in range(folds)]
    by_intent: dict[str, list] = defaultdict(list)
    for example in examples:
        by_intent[example.intent].append(example)
    for group in by_intent.values():
        for index, example in enumerate(group):
            buckets[index % folds].append(example)
    return buckets


def cross_validate(settings, folds: int = 5, seed: int = 0, thresholds: list[float] | None = None) -> Report:
    """k-fold cross-validation on nlu/: both classifiers train on k-1 folds and predict the rest.

    Type scores come from the dialogue-intent examples; escalation recall and false
    escalations from the urgency examples (nlu/urgency.yml), judged by the whole
    pipeline (rules and model) at the configured threshold. ``thresholds`` adds a sweep.
    """
    from bot.content import load_content
    from bot.nlu.model import build_language, split_examples, train_classifier
    from bot.nlu.trainingdata import load_nlu

    nlu_data = load_nlu(settings.nlu_dir, settings.root)
    content = load_content(settings.content_dir, settings.root)
    nlp, prepare = build_language(settings, nlu_data, content)
    examples, urgency = split_examples(settings, nlu_data.examples)
    intent_folds, urgency_folds = _folds(examples, folds, seed), _folds(urgency, folds, seed)
    risk = nlp.get_pipe("scam_risk")
    urgent_intent = settings.urgency["urgent_intent"]
    sweep = sorted(set((thresholds or []) + [risk.urgency_threshold]))
    cases, predicted, escalated = [], [], []
    urgent_hits: dict[float, list[tuple[bool, bool]]] = {t: [] for t in sweep}
    for k in range(folds):
        train = [e for i, b in enumerate(intent_folds) if i != k for e in b]
        train_urgency = [e for i, b in enumerate(urgency_folds) if i != k for e in b]
        nlp.get_pipe("intent_classifier").classifier = train_classifier(nlp, prepare, train, settings)
        nlp.get_pipe("urgency").classifier = (train_classifier(nlp, prepare, train_urgency, settings)
                                              if train_urgency else None)
        for example, doc in zip(intent_folds[k], nlp.pipe(prepare(e.text).text for e in intent_folds[k])):
            cases.append(Case(example.text, risk.type_of(example.intent), None, f"{example.file}:{example.line}"))
            predicted.append(doc._.verdict.scam_type)
            escalated.append(doc._.verdict.assessment.escalate)
        for threshold in sweep:
            risk.urgency_threshold = threshold
            for example, doc in zip(urgency_folds[k], nlp.pipe(prepare(e.text).text for e in urgency_folds[k])):
                urgent_hits[threshold].append((example.intent == urgent_intent, doc._.verdict.assessment.escalate))
    configured = float(settings.urgency["threshold"])
    risk.urgency_threshold = configured
    report = score(f"{folds}-fold cross-validation on nlu/", cases, predicted, escalated)
    pairs = urgent_hits[configured]
    must = [e for urgent, e in pairs if urgent]
    calm = [e for urgent, e in pairs if not urgent]
    report.escalation_recall, report.escalation_cases = (sum(must) / len(must) if must else None), len(must)
    report.false_escalation_all, report.calm_cases = (sum(calm) / len(calm) if calm else None), len(calm)
    report.sweep = {t: (sum(e for u, e in urgent_hits[t] if u) / max(1, sum(1 for u, _ in urgent_hits[t] if u)),
                        sum(e for u, e in urgent_hits[t] if not u) / max(1, sum(1 for u, _ in urgent_hits[t] if not u)))
                    for t in sweep}
    return report


def teleantifraud_cases(directory: Path, limit: int | None = None, seed: int = 0) -> list[Case]:
    """The public TeleAntiFraud dialogues as cases: the caller's words, as a resident would forward them.

    Their fraud types map onto ours only in part (客服诈骗 → fake_customer_service,
    投资诈骗 → fake_investment, 绑架诈骗 → impersonate_acquaintance); the others are
    labelled ``scam`` and count as right when any scam type (or unknown) is given.
    """
    mapping = {"客服诈骗": "fake_customer_service", "投资诈骗": "fake_investment", "绑架诈骗": "impersonate_acquaintance"}
    cases = []
    for path in sorted(directory.glob("*.jsonl")):
        normal = path.name.startswith("normal")
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                item = json.loads(line)
                text = "".join(item.get("left", [])[:3])[:300]
                label = NOT_SCAM if normal else mapping.get(item.get("fraud_type", ""), "scam")
                cases.append(Case(text, label, None if not normal else False, f"{path.name}:{number}"))
    if limit and len(cases) > limit:
        cases = random.Random(seed).sample(cases, limit)
    return cases


def teleantifraud_summary(understander, cases: list[Case]) -> dict:
    """Detection and false-alarm figures on the TeleAntiFraud dialogues."""
    results = list(understander.understand_many([c.text for c in cases]))
    fraud = [(c, r) for c, r in zip(cases, results) if c.label != NOT_SCAM]
    normal = [(c, r) for c, r in zip(cases, results) if c.label == NOT_SCAM]
    mapped = [(c, r) for c, r in fraud if c.label != "scam"]
    return {
        "fraud_dialogues": len(fraud),
        "detected_as_scam": round(sum(r.scam_type != NOT_SCAM for _, r in fraud) / max(len(fraud), 1), 4),
        "mapped_type_accuracy": round(sum(r.scam_type == c.label for c, r in mapped) / max(len(mapped), 1), 4),
        "mapped_dialogues": len(mapped),
        "normal_dialogues": len(normal),
        "normal_flagged_as_scam": round(sum(r.scam_type != NOT_SCAM for _, r in normal) / max(len(normal), 1), 4),
        "normal_escalated": round(sum(r.escalate for _, r in normal) / max(len(normal), 1), 4),
        "fraud_escalated": round(sum(r.escalate for _, r in fraud) / max(len(fraud), 1), 4),
    }


def format_report(report: Report, show_errors: bool = False) -> str:
    """A plain-text report for the terminal."""
    width = max(len(l) for l in report.labels) + 2
    lines = [f"== {report.name}", f"{'label':<{width}}{'prec':>7}{'recall':>8}{'f1':>7}{'n':>6}"]
    for label in report.labels:
        m = report.per_label[label]
        lines.append(f"{label:<{width}}{m['precision']:>7.3f}{m['recall']:>8.3f}{m['f1']:>7.3f}{m['support']:>6}")
    lines.append(f"macro-F1 {report.macro_f1:.4f}   accuracy {report.accuracy:.4f}   cases {sum(m['support'] for m in report.per_label.values())}")
    if report.escalation_recall is not None:
        lines.append(f"escalation recall {report.escalation_recall:.4f} ({report.escalation_cases} cases that must escalate)")
    if report.false_escalation_rate is not None:
        lines.append(f"false escalation on not_scam {report.false_escalation_rate:.4f} ({report.ordinary_cases} ordinary messages)")
    if report.false_escalation_all is not None:
        lines.append(f"false escalation on all calm cases {report.false_escalation_all:.4f} "
                     f"({report.calm_cases} cases labelled escalate=false, scam contacts included)")
    predicted_labels = sorted({p for row in report.confusion.values() for p in row} | set(report.labels))
    lines.append("confusion (rows: true label, columns: predicted)")
    lines.append(" " * width + "".join(f"{p[:6]:>7}" for p in predicted_labels))
    for label in report.labels:
        row = report.confusion.get(label, Counter())
        lines.append(f"{label:<{width}}" + "".join(f"{row.get(p, 0) or '.':>7}" for p in predicted_labels))
    for threshold, (recall, false_rate) in sorted(report.sweep.items()):
        lines.append(f"urgency threshold {threshold:.2f}: escalation recall {recall:.4f}, false escalations {false_rate:.4f}")
    if show_errors:
        lines.append("errors (label → predicted, escalate expected/given):")
        for case, predicted, escalated in report.errors:
            lines.append(f"  {case.source}  {case.label} → {predicted}  esc {case.escalate}/{escalated}  {case.text[:80]}")
    return "\n".join(lines)
