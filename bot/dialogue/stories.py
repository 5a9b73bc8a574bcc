"""Read conversation flows from ``stories/`` in Rasa 3.x stories/rules YAML.

Supported (the deterministic subset the bot needs): ``version``, ``stories`` and
``rules`` with ``steps`` of ``intent`` (with optional ``user`` text and
``entities`` in test stories), ``action``, ``slot_was_set`` and ``or``; rules may
have ``condition`` (``slot_was_set`` only), ``conversation_start`` and
``wait_for_user_input``. Anything else (checkpoints, forms, loops, ``bot:`` end-to-end
steps) is refused with ``file:line: what is wrong — how to fix it``.

The pseudo-intent ``describe_scam`` stands for every scam type in content/, so a
new scam type needs no story edit; the Rasa export expands it into an ``or``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.problems import InvalidFiles, Problem, display_path
from bot.yamlfile import LineDict, listed, load_yaml

ANY = object()  # slot_was_set without a value: the slot is set to anything


@dataclass(frozen=True)
class IntentStep:
    intents: frozenset[str]
    user: str | None = None  # test stories: the message to send
    line: int = 0


@dataclass(frozen=True)
class ActionStep:
    name: str
    line: int = 0


@dataclass(frozen=True)
class SlotStep:
    slots: tuple[tuple[str, object], ...]  # (name, value or ANY)
    line: int = 0


Step = IntentStep | ActionStep | SlotStep


@dataclass
class Flow:
    """One story or rule."""

    name: str
    kind: str  # "story" | "rule"
    steps: list[Step]
    file: str
    line: int
    condition: tuple[tuple[str, object], ...] = ()
    conversation_start: bool = False
    wait_for_user_input: bool = True


@dataclass
class Flows:
    stories: list[Flow] = field(default_factory=list)
    rules: list[Flow] = field(default_factory=list)

    def all(self) -> list[Flow]:
        return self.rules + self.stories

    def actions(self) -> set[str]:
        return {s.name for f in self.all() for s in f.steps if isinstance(s, ActionStep)}

    def intents(self) -> set[str]:
        return {i for f in self.all() for s in f.steps if isinstance(s, IntentStep) for i in s.intents}

    def slots(self) -> set[str]:
        names = {n for f in self.all() for s in f.steps if isinstance(s, SlotStep) for n, _ in s.slots}
        return names | {n for f in self.rules for n, _ in f.condition}


UNSUPPORTED = {
    "checkpoint": "checkpoints are not supported — write the flow out as one story",
    "active_loop": "forms and loops are not supported — ask with an action and branch on slot_was_set",
    "bot": "end-to-end 'bot:' steps are not supported — use 'action: utter_…'",
}


def _problem(problems, name, line, en, zh):
    problems.append(Problem(name, line, en, zh))


def _slot_pairs(value, name: str, line: int, problems: list[Problem]) -> tuple[tuple[str, object], ...]:
    if not isinstance(value, list):
        _problem(problems, name, line, "slot_was_set needs a list like '- transferred: true'",
                 "slot_was_set 下面应是列表，例如 '- transferred: true'")
        return ()
    pairs = []
    for item in value:
        if isinstance(item, str):
            pairs.append((item, ANY))
        elif isinstance(item, dict) and len(item) == 1:
            key, val = next(iter(item.items()))
            pairs.append((str(key), val))
        else:
            _problem(problems, name, line, "each slot_was_set entry is 'slot: value' or a slot name",
                     "slot_was_set 的每一项应为 '槽位: 值' 或槽位名")
    return tuple(pairs)


def _intent_step(item: LineDict, name: str, problems: list[Problem]) -> IntentStep | None:
    intent = item.get("intent")
    if not isinstance(intent, str) or not intent.strip():
        _problem(problems, name, item.line, "intent step needs a name", "intent 步骤需要意图名称")
        return None
    extra = set(item) - {"intent", "user", "entities", "metadata"}
    if extra:
        _problem(problems, name, item.line, f"unsupported keys {sorted(extra)} in an intent step",
                 f"intent 步骤里有不支持的字段 {sorted(extra)}")
    user = item.get("user")
    return IntentStep(frozenset([intent.strip()]), user.strip() if isinstance(user, str) else None, item.line)


def _steps(raw, name: str, problems: list[Problem], test: bool) -> list[Step]:
    steps: list[Step] = []
    if not isinstance(raw, list):
        return steps
    for index, item in enumerate(raw):
        line = raw.lines[index] if hasattr(raw, "lines") else 0
        if not isinstance(item, dict):
            _problem(problems, name, line, "a step must be '- intent: …', '- action: …', '- slot_was_set:' or '- or:'",
                     "每一步应为 intent、action、slot_was_set 或 or")
            continue
        for key, why in UNSUPPORTED.items():
            if key in item and why:
                _problem(problems, name, line, f"'{key}' is not supported: {why}", f"不支持 '{key}'")
        if "intent" in item:
            step = _intent_step(item, name, problems)
            if step:
                steps.append(step)
        elif "action" in item:
            action = item["action"]
            if not isinstance(action, str) or not action.strip():
                _problem(problems, name, line, "action step needs a name", "action 步骤需要动作名称")
            else:
                steps.append(ActionStep(action.strip(), line))
        elif "slot_was_set" in item:
            pairs = _slot_pairs(item["slot_was_set"], name, line, problems)
            if pairs:
                steps.append(SlotStep(pairs, line))
        elif "or" in item:
            options = item["or"] or []
            intents = set()
            for option in options if isinstance(options, list) else []:
                if isinstance(option, dict) and isinstance(option.get("intent"), str):
                    intents.add(option["intent"].strip())
                else:
                    _problem(problems, name, line, "'or' supports only intent alternatives ('- intent: …')",
                             "'or' 只支持意图的并列（'- intent: …'）")
            if intents:
                steps.append(IntentStep(frozenset(intents), None, line))
        elif not any(key in item for key in UNSUPPORTED):
            _problem(problems, name, line, f"unknown step {sorted(item)} — use intent, action, slot_was_set or or",
                     "无法识别的步骤 — 请使用 intent、action、slot_was_set 或 or")
        if test and "intent" in item and "user" not in item:
            _problem(problems, name, line, "test story steps need 'user:' (the message to send)",
                     "测试故事的每个 intent 步骤都需要 user（要发送的消息）")
    return steps


def read_file(path: Path, root: Path | None = None, test: bool = False) -> tuple[Flows, list[Problem]]:
    """Parse one stories/rules file; problems are returned, not raised."""
    name = display_path(path, root)
    flows, problems = Flows(), []
    try:
        doc = load_yaml(path, root)
    except InvalidFiles as exc:
        return flows, exc.problems
    if doc is None:
        return flows, problems
    if not isinstance(doc, dict):
        return flows, [Problem(name, 1, "expected 'version' and 'stories:' or 'rules:'", "文件应包含 stories 或 rules")]
    for key in set(doc) - {"version", "stories", "rules"}:
        _problem(problems, name, doc.line_of(key), f"unsupported section '{key}' — stories files hold 'stories' and 'rules'",
                 f"不支持的部分 '{key}'")
    for kind in ("stories", "rules"):
        single = "story" if kind == "stories" else "rule"
        for item in listed(doc, kind, name, problems):
            if not isinstance(item, dict) or not isinstance(item.get(single), str):
                _problem(problems, name, getattr(item, "line", doc.line_of(kind)),
                         f"each entry under '{kind}' needs '{single}: name' and 'steps'",
                         f"'{kind}' 下的每一项都需要 '{single}: 名称' 和 steps")
                continue
            if "steps" not in item:
                _problem(problems, name, item.line, f"{single} '{item[single]}' has no steps", "缺少 steps")
                continue
            flow = Flow(item[single], single, _steps(item["steps"], name, problems, test), name, item.line)
            if kind == "rules":
                condition = listed(item, "condition", name, problems)
                for entry in condition:
                    if isinstance(entry, dict) and "slot_was_set" in entry:
                        flow.condition += _slot_pairs(entry["slot_was_set"], name, item.line_of("condition"), problems)
                    else:
                        _problem(problems, name, item.line_of("condition"),
                                 "rule conditions support only slot_was_set", "规则条件只支持 slot_was_set")
                flow.conversation_start = bool(item.get("conversation_start"))
                flow.wait_for_user_input = item.get("wait_for_user_input", True) is not False
            if not flow.steps:
                _problem(problems, name, item.line, f"{single} '{flow.name}' has no usable steps", "没有可用的步骤")
                continue
            (flows.rules if kind == "rules" else flows.stories).append(flow)
    return flows, problems


def load_stories(directory: Path, root: Path | None = None, test: bool = False,
                 problems: list[Problem] | None = None) -> Flows:
    """Read every YAML file under ``directory``.

    With ``problems`` given, problems are appended there; without, any problem raises.
    """
    merged = Flows()
    collect = problems is not None
    problems = problems if collect else []
    for path in sorted(p for p in directory.rglob("*") if p.suffix in (".yml", ".yaml")):
        flows, found = read_file(path, root, test)
        problems.extend(found)
        merged.stories.extend(flows.stories)
        merged.rules.extend(flows.rules)
    if problems and not collect:
        raise InvalidFiles(problems)
    return merged
