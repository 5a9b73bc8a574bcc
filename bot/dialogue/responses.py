"""The bot's fixed replies from ``content/responses.yml``, rendered with placeholders."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path

from bot.problems import InvalidFiles, Problem, display_path
from bot.yamlfile import load_yaml

# read: a picture's text; said: an officer's message to the resident
PLACEHOLDERS = {"police", "antifraud", "local", "centre", "scam_name", "hang_up", "read", "said"}
FOLLOW_UP_SLOTS = ("transferred", "still_on_call", "downloaded_app", "paid_fee", "gave_card")


@dataclass(frozen=True)
class Button:
    title: str
    payload: str  # "/intent" (Rasa payload syntax)


@dataclass
class Reply:
    """One message from the bot."""

    text: str
    buttons: list[Button] = field(default_factory=list)
    urgent: bool = False
    kind: str = ""  # the response or action that made it, for logs and tests
    voice: bool = False  # also send it as a short spoken message (长辈模式)


@dataclass
class Responses:
    templates: dict[str, list[dict]]
    follow_up_buttons: dict[str, tuple[str, str]]
    clarify_none: str
    file: str = ""

    def names(self) -> set[str]:
        return set(self.templates)

    def render(self, name: str, values: dict[str, str]) -> Reply:
        """The first variant of response ``name`` with placeholders filled in."""
        variant = self.templates[name][0]
        text = fill(variant.get("text", ""), values)
        buttons = [Button(str(b.get("title", "")), str(b.get("payload", ""))) for b in variant.get("buttons") or []]
        return Reply(text, buttons, kind=name)


def fill(template: str, values: dict[str, str]) -> str:
    """Fill ``{placeholders}``; lines that end up empty are dropped.

    A template with broken braces is returned as written (``content check`` reports it).
    """
    try:
        text = string.Formatter().vformat(template, (), _Defaults(values))
    except (ValueError, IndexError, KeyError, AttributeError):
        text = template
    return "\n".join(line for line in text.splitlines() if line.strip()).strip()


class _Defaults(dict):
    def __missing__(self, key):
        return ""


def placeholders_in(template: str) -> set[str]:
    """Every ``{name}`` in a template (raises ValueError on unbalanced braces)."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def load_responses(path: Path, root: Path | None = None) -> Responses:
    """Parse responses.yml; raise ``InvalidFiles`` with file:line on any problem."""
    name = display_path(path, root)
    doc = load_yaml(path, root)
    problems: list[Problem] = []
    if not isinstance(doc, dict) or not isinstance(doc.get("responses"), dict):
        raise InvalidFiles([Problem(name, 1, "expected a 'responses:' section", "文件应包含 responses 部分")])
    templates = doc["responses"]
    for key, variants in templates.items():
        line = templates.line_of(key)
        if not re.fullmatch(r"utter_[a-z0-9_]+", str(key)):
            problems.append(Problem(name, line, f"response name '{key}' must start with utter_ and use a-z, 0-9, _",
                                    f"回复名称 '{key}' 要以 utter_ 开头，只用小写字母、数字和下划线"))
        if not isinstance(variants, list) or not variants or not all(isinstance(v, dict) and v.get("text") for v in variants):
            problems.append(Problem(name, line, f"'{key}' needs a list with '- text: …'", f"'{key}' 需要 '- text: …'"))
            continue
        for variant in variants:
            try:
                unknown = placeholders_in(str(variant["text"])) - PLACEHOLDERS
            except ValueError:
                problems.append(Problem(name, line, f"'{key}' has a broken {{placeholder}} (a brace is missing)",
                                        f"'{key}' 里的花括号不成对"))
                continue
            for placeholder in sorted(unknown):
                problems.append(Problem(name, line, f"'{key}' uses unknown placeholder {{{placeholder}}} — use one of "
                                        f"{', '.join(sorted(PLACEHOLDERS))}", f"'{key}' 里的 {{{placeholder}}} 不认识"))
    buttons = doc.get("follow_up_buttons") or {}
    pairs = {}
    for slot in FOLLOW_UP_SLOTS:
        value = buttons.get(slot) if isinstance(buttons, dict) else None
        if not (isinstance(value, list) and len(value) == 2):
            problems.append(Problem(name, getattr(buttons, "line", 1), f"follow_up_buttons.{slot} needs two button titles",
                                    f"follow_up_buttons.{slot} 需要两个按钮文字"))
            continue
        pairs[slot] = (str(value[0]), str(value[1]))
    if problems:
        raise InvalidFiles(problems)
    return Responses({str(k): v for k, v in templates.items()}, pairs, str(doc.get("clarify_none") or "都不是"), name)
