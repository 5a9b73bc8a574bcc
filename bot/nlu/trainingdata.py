"""Read NLU training data in Rasa 3.x YAML format (``version: "3.1"``, ``nlu:``).

Every example keeps the file and line it came from, so a problem can be reported
as ``nlu/fake_loan.yml:12: …``. Entity annotations (``[text](entity)``) are
accepted and stripped: our entities come from rules, not from annotations.

An intent block may carry Rasa's intent-level ``metadata``; ours reads one key,
``voice``: ``forwarded`` marks examples written in the scammer's own words (an SMS
or chat a resident pastes), which train the voice model beside the intent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from bot.problems import InvalidFiles, Problem, display_path
from bot.yamlfile import LineDict, listed, load_yaml

ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


VOICES = ("own", "forwarded")


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    file: str
    line: int
    voice: str = "own"  # "forwarded": the scammer's own words, pasted by a resident


@dataclass
class NluData:
    examples: list[Example] = field(default_factory=list)
    lookups: dict[str, list[str]] = field(default_factory=dict)
    regexes: dict[str, list[str]] = field(default_factory=dict)
    synonyms: dict[str, list[str]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)  # path → SHA-256 of the bytes parsed

    @property
    def intents(self) -> list[str]:
        return sorted({e.intent for e in self.examples})

    def by_intent(self) -> dict[str, list[Example]]:
        grouped: dict[str, list[Example]] = {}
        for example in self.examples:
            grouped.setdefault(example.intent, []).append(example)
        return grouped


def _block_items(item: LineDict, key: str, name: str, problems: list[Problem]) -> list[tuple[str, int]]:
    """The ``- text`` lines of a literal block, with their 1-based line numbers."""
    value = item.get(key)
    line0 = item.block_start.get(key, item.line_of(key))
    if not isinstance(value, str):
        problems.append(Problem(name, item.line_of(key), f"'{key}' must be a block of '- ' lines",
                                f"'{key}' 下面应是以 '- ' 开头的多行例句"))
        return []
    items = []
    for offset, raw in enumerate(value.splitlines()):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        if not text.startswith("- "):
            problems.append(Problem(name, line0 + offset, "each example must start with '- ' — add '- ' before it",
                                    "每条例句要以 '- ' 开头 — 请在前面加上 '- '"))
            continue
        items.append((text[2:].strip(), line0 + offset))
    return items


def _voice(item: LineDict, name: str, problems: list[Problem]) -> str:
    metadata = item.get("metadata")
    if metadata is None:
        return "own"
    voice = metadata.get("voice", "own") if isinstance(metadata, dict) else None
    if voice not in VOICES:
        problems.append(Problem(name, item.line_of("metadata"), f"metadata must be a mapping like 'voice: forwarded' "
                                f"(voice: {' or '.join(VOICES)})", "metadata 应写成 'voice: forwarded'（或 own）"))
        return "own"
    return voice


def read_file(path: Path, root: Path | None = None) -> tuple[NluData, list[Problem]]:
    """Parse one NLU file; problems are returned, not raised."""
    name = display_path(path, root)
    data = NluData(files=[path])
    problems: list[Problem] = []
    try:
        doc = load_yaml(path, root, data.digests)
    except InvalidFiles as exc:
        return data, exc.problems
    if doc is None:
        return data, problems
    if not isinstance(doc, dict):
        return data, [Problem(name, 1, "expected a mapping with 'version' and 'nlu'",
                              "文件应包含 version 和 nlu 两项")]
    for item in listed(doc, "nlu", name, problems):
        if not isinstance(item, dict):
            problems.append(Problem(name, getattr(doc.get("nlu"), "line", 1),
                                    "each entry under 'nlu' must be a mapping like '- intent: name'",
                                    "nlu 下的每一项应形如 '- intent: 名称'"))
            continue
        kind = next((k for k in ("intent", "lookup", "regex", "synonym") if k in item), None)
        if kind is None:
            problems.append(Problem(name, item.line, f"unknown entry {sorted(item)} — use intent, lookup, regex or synonym",
                                    "无法识别的条目 — 请使用 intent、lookup、regex 或 synonym"))
            continue
        label = str(item[kind]).strip()
        if not re.fullmatch(r"[a-z][a-z0-9_]*", label):
            problems.append(Problem(name, item.line_of(kind), f"name '{label}' must be lower-case letters, digits and _",
                                    f"名称 '{label}' 只能用小写字母、数字和下划线"))
            continue
        lines = _block_items(item, "examples", name, problems)
        if kind == "intent":
            voice = _voice(item, name, problems)
            for text, line in lines:
                clean = ANNOTATION.sub(r"\1", text).strip()
                if clean:
                    data.examples.append(Example(clean, label, name, line, voice))
        else:
            target = {"lookup": data.lookups, "regex": data.regexes, "synonym": data.synonyms}[kind]
            target.setdefault(label, []).extend(text for text, _ in lines)
    return data, problems


def load_nlu(directory: Path, root: Path | None = None, problems: list[Problem] | None = None) -> NluData:
    """Read every ``*.yml``/``*.yaml`` file under ``directory``.

    With ``problems`` given, problems are appended there and what could be read is
    returned; without, any problem raises ``InvalidFiles``.
    """
    merged = NluData()
    collect = problems is not None
    problems = problems if collect else []
    files = sorted(p for p in directory.rglob("*") if p.suffix in (".yml", ".yaml"))
    for path in files:
        data, found = read_file(path, root)
        problems.extend(found)
        merged.files.append(path)
        merged.digests.update(data.digests)
        merged.examples.extend(data.examples)
        for source, target in ((data.lookups, merged.lookups), (data.regexes, merged.regexes),
                               (data.synonyms, merged.synonyms)):
            for key, values in source.items():
                target.setdefault(key, []).extend(values)
    if problems and not collect:
        raise InvalidFiles(problems)
    return merged
