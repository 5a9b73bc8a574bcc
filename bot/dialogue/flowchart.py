"""Button-driven flows that staff write as data: 长辈模式 (content/guided.yml) and the
grid workers' visit (content/visit.yml). A step is one short sentence with at most
four buttons, or a question the worker answers by typing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.problems import InvalidFiles, Problem, display_path
from bot.yamlfile import listed, mapped, read_yaml, scalar

OUTCOMES = {"warn", "escalate_moving", "escalate_lost", "say", "free_text", "abort"}
MAX_BUTTONS = 4


@dataclass(frozen=True)
class Choice:
    title: str
    next: str | None = None
    outcome: str | None = None
    value: str | None = None
    say: str | None = None
    scam_type: str | None = None


@dataclass(frozen=True)
class Step:
    id: str
    text: str
    buttons: tuple[Choice, ...] = ()
    scam_type: str | None = None
    input: str | None = None  # a field the worker types
    field: str | None = None  # a field a button's value is recorded in
    next: str | None = None  # after an input step


@dataclass(frozen=True)
class CheckItem:
    id: str
    topic: str
    question: str
    follow_up: str
    scam_type: str | None = None
    label: str = ""  # how reports and the worker's summary name the topic


@dataclass
class Flowchart:
    start: str
    steps: dict[str, Step]
    checklist: list[CheckItem] = field(default_factory=list)
    finish: dict[str, str] = field(default_factory=dict)


def load_flowchart(path: Path, root: Path | None = None, scam_types: set[str] | None = None,
                   problems: list[Problem] | None = None) -> Flowchart | None:
    """Parse a flow file; problems (file:line) are collected or raised."""
    if not path.exists():
        return None
    name = display_path(path, root)
    found: list[Problem] = []
    doc = read_yaml(path, found, root)
    steps: dict[str, Step] = {}
    chart = None
    if doc is not None:
        raw_steps = doc.get("steps") if isinstance(doc, dict) else None
        if not isinstance(raw_steps, dict):
            found.append(Problem(name, 1, "expected 'steps:'", "应包含 steps"))
            raw_steps = {}
        for step_id, raw in raw_steps.items():
            line = raw_steps.line_of(step_id)
            if not isinstance(raw, dict) or not raw.get("text"):
                found.append(Problem(name, line, f"step '{step_id}' needs text", f"步骤 '{step_id}' 缺少 text"))
                continue
            choices = []
            for key in ("scam_type", "next", "input", "field"):
                scalar(raw, key, name, found, text=True)
            for button in listed(raw, "buttons", name, found):
                if not isinstance(button, dict) or not button.get("title"):
                    found.append(Problem(name, line, f"a button of '{step_id}' needs a title", "按钮缺少 title"))
                    continue
                before = len(found)
                for key in ("title", "next", "outcome", "say", "scam_type"):
                    scalar(button, key, name, found, text=key != "title")
                scalar(button, "value", name, found)
                if len(found) > before:
                    continue
                if bool(button.get("next")) == bool(button.get("outcome")):
                    found.append(Problem(name, line, f"button “{button['title']}” needs either next or outcome",
                                         f"按钮“{button['title']}”要写 next 或 outcome（只写一个）"))
                if button.get("outcome") and button["outcome"] not in OUTCOMES:
                    found.append(Problem(name, line, f"unknown outcome '{button['outcome']}' — use one of "
                                         f"{', '.join(sorted(OUTCOMES))}", f"结果 '{button['outcome']}' 不认识"))
                choices.append(Choice(str(button["title"]), button.get("next"), button.get("outcome"),
                                      None if button.get("value") is None else str(button["value"]),
                                      button.get("say"), button.get("scam_type")))
            if len(choices) > MAX_BUTTONS:
                found.append(Problem(name, line, f"step '{step_id}' has {len(choices)} buttons; at most {MAX_BUTTONS}",
                                     f"步骤 '{step_id}' 有 {len(choices)} 个按钮，最多 {MAX_BUTTONS} 个"))
            if not choices and not raw.get("input"):
                found.append(Problem(name, line, f"step '{step_id}' needs buttons or input", "步骤要有按钮或 input"))
            steps[str(step_id)] = Step(str(step_id), str(raw["text"]).strip(), tuple(choices),
                                       scalar(raw, "scam_type", name, []), scalar(raw, "input", name, []),
                                       scalar(raw, "field", name, []), scalar(raw, "next", name, []))
        checklist = []
        for item in listed(doc, "checklist", name, found):
            if not isinstance(item, dict) or not all(item.get(k) for k in ("id", "topic", "question", "follow_up")) \
                    or any(isinstance(item.get(k), (list, dict)) for k in ("id", "topic", "question", "follow_up",
                                                                            "label", "scam_type")):
                found.append(Problem(name, getattr(item, "line", 1), "a checklist item needs id, topic, question, follow_up",
                                     "检查项需要 id、topic、question、follow_up"))
                continue
            checklist.append(CheckItem(str(item["id"]), str(item["topic"]), str(item["question"]),
                                       str(item["follow_up"]), item.get("scam_type"),
                                       str(item.get("label") or item["topic"])))
        targets = set(steps) | {c.id for c in checklist}
        for step in steps.values():
            for target in [c.next for c in step.buttons if c.next] + ([step.next] if step.next else []):
                if target not in targets:
                    found.append(Problem(name, raw_steps.line_of(step.id), f"step '{step.id}' goes to unknown step "
                                         f"'{target}'", f"步骤 '{step.id}' 指向不存在的步骤 '{target}'"))
            for scam in [step.scam_type] + [c.scam_type for c in step.buttons]:
                if scam and scam_types is not None and scam not in scam_types:
                    found.append(Problem(name, raw_steps.line_of(step.id), f"unknown scam type '{scam}'",
                                         f"没有诈骗类型 '{scam}'"))
        start = str(scalar(doc, "start", name, found, default="")) if isinstance(doc, dict) else ""
        if start not in steps:
            found.append(Problem(name, 1, f"start step '{start}' does not exist", f"起始步骤 '{start}' 不存在"))
        chart = Flowchart(start, steps, checklist, {str(k): str(v) for k, v in mapped(doc, "finish", name, found).items()})
    if problems is not None:
        problems.extend(found)
    elif found:
        raise InvalidFiles(found)
    return chart if not found or problems is not None else None
