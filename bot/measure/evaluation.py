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

from bot.nlu.pipeline import NOT_SCAM, UNKNOWN


ESCALATE_VALUES = ("must", "either", "never")


@dataclass
class Case:
    text: str
    label: str
    escalate: str | None = None  # "must" | "either" | "never" (the escalation policy in the README), or unknown
    source: str = ""
    register: str = ""  # first_person, forwarded, third_person, narrative, dialect_asr, lookalike …


def policy_label(value) -> str | None:
    """An escalation label as the policy names it; old files said true/false (= must/never)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "must" if value else "never"
    if str(value) in ESCALATE_VALUES:
        return str(value)
    raise ValueError(f"escalate must be one of {', '.join(ESCALATE_VALUES)} (or true/false), not {value!r}")


def _rate(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


@dataclass
class Report:
    """Figures for one evaluation run."""

    name: str
    labels: list[str]
    per_label: dict[str, dict[str, float]]
    macro_f1: float
    accuracy: float
    confusion: dict[str, Counter]
    escalation_recall: float | None  # among cases that must escalate
    escalation_cases: int
    false_escalation_rate: float | None  # among ordinary (not_scam) messages
    ordinary_cases: int
    false_escalation_all: float | None  # among every case that must never escalate
    calm_cases: int
    ordinary_typed: float | None = None  # ordinary messages given a scam type
    ordinary_flagged: float | None = None  # … given a scam type or "unknown" (the bot asks)
    errors: list[tuple[Case, str, bool]] = field(default_factory=list)
    sweep: dict[float, tuple[float, float]] = field(default_factory=dict)  # threshold → (recall, false rate)
    registers: dict[str, "Report"] = field(default_factory=dict)

    def as_dict(self) -> dict:
        def r(value):
            return None if value is None else round(value, 4)
        out = {
            "name": self.name, "macro_f1": r(self.macro_f1), "accuracy": r(self.accuracy),
            "escalation_recall": r(self.escalation_recall), "escalation_cases": self.escalation_cases,
            "false_escalation_rate": r(self.false_escalation_rate), "ordinary_cases": self.ordinary_cases,
            "false_escalation_all": r(self.false_escalation_all), "calm_cases": self.calm_cases,
            "ordinary_typed": r(self.ordinary_typed), "ordinary_flagged": r(self.ordinary_flagged),
            "per_label": self.per_label,
        }
        if self.registers:
            out["registers"] = {name: report.as_dict() for name, report in self.registers.items()}
        return out


def read_cases(path: Path) -> list[Case]:
    """Lines of ``{"text", "label", "escalate"?, "register"?}``; a bad line raises with its number."""
    cases = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                cases.append(Case(str(item["text"]), str(item["label"]), policy_label(item.get("escalate")),
                                  f"{path.name}:{number}", str(item.get("register") or "")))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a JSON object with text and label ({exc})") from None
    return cases


def read_case_files(paths: list[Path]) -> list[Case]:
    """Cases of several files (or of every ``*.jsonl`` in a folder), in order."""
    cases: list[Case] = []
    for path in paths:
        for file in (sorted(path.glob("*.jsonl")) if path.is_dir() else [path]):
            cases.extend(read_cases(file))
    return cases


def score(name: str, cases: list[Case], predicted: list[str], escalated: list[bool],
          by_register: bool = True) -> Report:
    """Compare predictions with the labels of ``cases``; per register too when cases name one."""
    gold = [c.label for c in cases]
    labels = sorted(set(gold))
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=labels, zero_division=0)
    per_label = {label: {"precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f), 4),
                         "support": int(s)} for label, p, r, f, s in zip(labels, precision, recall, f1, support)}
    confusion: dict[str, Counter] = defaultdict(Counter)
    for g, p in zip(gold, predicted):
        confusion[g][p] += 1
    must = [e for c, e in zip(cases, escalated) if c.escalate == "must"]
    never = [e for c, e in zip(cases, escalated) if c.escalate == "never"]
    ordinary = [(p, e) for c, p, e in zip(cases, predicted, escalated) if c.label == NOT_SCAM]
    errors = [(c, p, e) for c, p, e in zip(cases, predicted, escalated)
              if p != c.label or (c.escalate == "must" and not e) or (c.escalate == "never" and e)]
    report = Report(
        name=name, labels=labels, per_label=per_label,
        macro_f1=float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)),
        accuracy=sum(g == p for g, p in zip(gold, predicted)) / max(len(gold), 1),
        confusion=dict(confusion),
        escalation_recall=_rate(must), escalation_cases=len(must),
        false_escalation_rate=_rate([e for _, e in ordinary]), ordinary_cases=len(ordinary),
        false_escalation_all=_rate(never), calm_cases=len(never),
        ordinary_typed=_rate([p not in (NOT_SCAM, UNKNOWN) for p, _ in ordinary]),
        ordinary_flagged=_rate([p != NOT_SCAM for p, _ in ordinary]),
        errors=errors,
    )
    registers = sorted({c.register for c in cases if c.register})
    if by_register and len(registers) > 1:
        for register in registers:
            keep = [i for i, c in enumerate(cases) if c.register == register]
            report.registers[register] = score(register, [cases[i] for i in keep], [predicted[i] for i in keep],
                                                [escalated[i] for i in keep], by_register=False)
    return report


def evaluate(understander, cases: list[Case], name: str) -> Report:
    results = list(understander.understand_many([c.text for c in cases]))
    return score(name, cases, [r.scam_type for r in results], [r.escalate for r in results])


def score_predictions(settings, cases: list[Case], path: Path) -> Report:
    """Score another system's predictions (one JSON line per case: ``intent`` or ``scam_type``).

    Intents are mapped to scam types exactly as our runtime maps its own
    (config.yml → nlu.intent_types), so a Rasa model trained on the exported
    project is judged by the same rules.
    """
    from bot.scams import load_content

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
    from bot.scams import load_content
    from bot.nlu.model import build_language, install, split_examples, train_models
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
        install(nlp, train_models(nlp, prepare, train, train_urgency, settings))
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
                cases.append(Case(text, label, "never" if normal else None, f"{path.name}:{number}"))
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


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def format_registers(report: Report) -> list[str]:
    """One line per register and one for all: the figures the escalation policy is judged by."""
    rows = [*report.registers.items(), ("all", report)]
    width = max(len(name) for name, _ in rows) + 2
    lines = [f"{'register':<{width}}{'n':>5}{'macro-F1':>10}{'ordinary→type':>15}{'ordinary→flag':>15}"
             f"{'must recall':>13}{'never→esc':>11}"]
    for name, r in rows:
        n = sum(m["support"] for m in r.per_label.values())
        lines.append(f"{name:<{width}}{n:>5}{r.macro_f1:>10.3f}{_pct(r.ordinary_typed):>15}{_pct(r.ordinary_flagged):>15}"
                     f"{_pct(r.escalation_recall):>13}{_pct(r.false_escalation_all):>11}")
    lines.append("ordinary→type: not_scam given a scam type; →flag: a scam type or unknown; "
                 "never→esc: cases the policy never escalates that escalated")
    return lines


def format_report(report: Report, show_errors: bool = False) -> str:
    """A plain-text report for the terminal."""
    width = max(len(l) for l in report.labels) + 2
    lines = [f"== {report.name}", f"{'label':<{width}}{'prec':>7}{'recall':>8}{'f1':>7}{'n':>6}"]
    for label in report.labels:
        m = report.per_label[label]
        lines.append(f"{label:<{width}}{m['precision']:>7.3f}{m['recall']:>8.3f}{m['f1']:>7.3f}{m['support']:>6}")
    lines.append(f"macro-F1 {report.macro_f1:.4f}   accuracy {report.accuracy:.4f}   cases {sum(m['support'] for m in report.per_label.values())}")
    if report.escalation_recall is not None:
        lines.append(f"must-escalate recall {report.escalation_recall:.4f} ({report.escalation_cases} cases that must escalate)")
    if report.false_escalation_all is not None:
        lines.append(f"never-escalate cases escalated {report.false_escalation_all:.4f} ({report.calm_cases} cases)")
    if report.ordinary_typed is not None:
        lines.append(f"ordinary messages given a scam type {report.ordinary_typed:.4f}, a scam type or unknown "
                     f"{report.ordinary_flagged:.4f}, escalated {report.false_escalation_rate:.4f} "
                     f"({report.ordinary_cases} not_scam)")
    if report.registers:
        lines.extend(format_registers(report))
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
