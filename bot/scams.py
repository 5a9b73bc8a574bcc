"""The scam types as outreach staff write them in ``content/scams/<id>.yml``.

A scam type is defined once: its content entry (name, summary, scripts, red flags,
advice, warning, follow-up question, case, keywords) plus its examples in
``nlu/<id>.yml``. Everything the bot says about a type comes from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.problems import InvalidFiles, Problem, display_path
from bot.yamlfile import load_yaml, read_yaml, scalar

REQUIRED = ("id", "name", "button", "summary", "scripts", "red_flags", "advice", "warning", "follow_up", "case")
SLOTS = ("transferred", "still_on_call", "downloaded_app", "paid_fee", "gave_card")


@dataclass(frozen=True)
class ScamType:
    id: str
    name: str
    button: str
    summary: str
    scripts: tuple[str, ...]
    red_flags: tuple[str, ...]
    advice: tuple[str, ...]
    warning: str
    question: str
    slot: str
    case_title: str
    case_text: str
    keywords: tuple[str, ...] = ()
    signs: tuple[str, ...] = ()  # phrases that by themselves show this scam's mechanism (not its topic)
    short_name: str = ""  # how a sentence names it ("这是冒充公检法的骗局"); the category name is for reports
    file: str = ""


@dataclass
class Content:
    scams: dict[str, ScamType] = field(default_factory=dict)
    vocabulary: list[str] = field(default_factory=list)  # content/vocabulary.yml
    not_misspellings: list[str] = field(default_factory=list)  # real words that sound like a vocabulary word
    files: list[Path] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)  # path → SHA-256 of the bytes parsed

    @property
    def keywords(self) -> list[str]:
        """Words the segmenter must keep whole (安全账户, 屏幕共享 …): vocabulary and scam keywords."""
        words = list(self.vocabulary)
        for scam in self.scams.values():
            words.extend(scam.keywords)
        return sorted(set(words))


def _strings(value, name: str, key: str, line: int, problems: list[Problem]) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        problems.append(Problem(name, line, f"'{key}' must be a list of '- ' lines",
                                f"'{key}' 应是以 '- ' 开头的列表"))
        return ()
    return tuple(str(v).strip() for v in value if str(v).strip())


def read_scam(path: Path, root: Path | None = None,
              digests: dict | None = None) -> tuple[ScamType | None, list[Problem]]:
    """Parse one scam file; problems are returned, not raised."""
    name = display_path(path, root)
    try:
        doc = load_yaml(path, root, digests)
    except InvalidFiles as exc:
        return None, exc.problems
    if not isinstance(doc, dict):
        return None, [Problem(name, 1, "expected fields like 'id: …' and 'name: …'", "文件应包含 id、name 等字段")]
    problems = []
    for key in REQUIRED:
        if key not in doc or doc[key] in (None, "", []):
            problems.append(Problem(name, doc.line, f"missing field '{key}' — add it (see content/README.md)",
                                    f"缺少字段 '{key}' — 请补上（见 content/README.md）"))
    if problems:
        return None, problems
    for key in ("id", "name", "button", "summary", "warning", "short_name"):
        scalar(doc, key, name, problems, text=True)  # "name: 123" is a slip, not a name
    scam_id = str(doc["id"]).strip()
    if scam_id != path.stem:
        problems.append(Problem(name, doc.line_of("id"), f"id '{scam_id}' differs from the file name '{path.stem}' — make them equal",
                                f"id '{scam_id}' 与文件名 '{path.stem}' 不一致 — 请改成一样"))
    follow_up, case = doc["follow_up"], doc["case"]
    if not isinstance(follow_up, dict) or not follow_up.get("question"):
        problems.append(Problem(name, doc.line_of("follow_up"), "follow_up needs 'question' and 'slot'",
                                "follow_up 需要 question 和 slot 两项"))
        follow_up = {}
    elif follow_up.get("slot") not in SLOTS:
        problems.append(Problem(name, follow_up.line_of("slot"), f"follow_up.slot must be one of {', '.join(SLOTS)}",
                                f"follow_up.slot 只能是 {'、'.join(SLOTS)} 之一"))
    if isinstance(follow_up, dict):
        scalar(follow_up, "question", name, problems, text=True)
    if isinstance(case, dict):
        for key in ("title", "text"):
            scalar(case, key, name, problems, text=True)
    if not isinstance(case, dict) or not case.get("title") or not case.get("text"):
        problems.append(Problem(name, doc.line_of("case"), "case needs 'title' and 'text'", "case 需要 title 和 text 两项"))
        case = {}
    lists = {key: _strings(doc.get(key, []), name, key, doc.line_of(key), problems)
             for key in ("scripts", "red_flags", "advice", "keywords", "signs")}
    if problems:
        return None, problems
    scam = ScamType(
        id=scam_id, name=str(doc["name"]).strip(), button=str(doc["button"]).strip(),
        summary=str(doc["summary"]).strip(), warning=str(doc["warning"]).strip(),
        question=str(follow_up["question"]).strip(), slot=str(follow_up["slot"]),
        case_title=str(case["title"]).strip(), case_text=str(case["text"]).strip(),
        short_name=str(doc.get("short_name") or "").strip(), file=name, **lists,
    )
    return scam, []


def load_content(directory: Path, root: Path | None = None, problems: list[Problem] | None = None) -> Content:
    """Read every scam file under ``directory/scams`` and the vocabulary.

    With ``problems`` given, problems are appended there; without, any problem raises.
    """
    content = Content()
    collect = problems is not None
    problems = problems if collect else []
    for path in sorted((directory / "scams").glob("*.yml")):
        scam, found = read_scam(path, root, content.digests)
        problems.extend(found)
        content.files.append(path)
        if scam is not None:
            content.scams[scam.id] = scam
    vocabulary = directory / "vocabulary.yml"
    if vocabulary.exists():
        content.files.append(vocabulary)
        doc = read_yaml(vocabulary, problems, root, content.digests) or {}
        words = doc.get("words") if isinstance(doc, dict) else None
        if words is not None and not isinstance(words, list):
            problems.append(Problem(display_path(vocabulary, root), getattr(doc, "line", 1),
                                    "'words' must be a list of '- ' lines", "words 应是以 '- ' 开头的列表"))
        content.vocabulary = [str(w).strip() for w in words or [] if str(w).strip()]
        kept = doc.get("not_misspellings") if isinstance(doc, dict) else None
        if kept is not None and not isinstance(kept, list):
            problems.append(Problem(display_path(vocabulary, root), getattr(doc, "line", 1),
                                    "'not_misspellings' must be a list of '- ' lines",
                                    "not_misspellings 应是以 '- ' 开头的列表"))
            kept = None
        content.not_misspellings = [str(w).strip() for w in kept or [] if str(w).strip()]
    if problems and not collect:
        raise InvalidFiles(problems)
    return content
