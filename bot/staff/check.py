"""``python -m bot content check``: everything staff edit, checked before the bot uses it.

nlu/, stories/, content/ and config.yml: YAML syntax, required fields and lengths,
scam types without enough examples, sentences that appear twice or under two
intents, stories naming intents, actions or slots that do not exist, responses
over Telegram's length limit, broken placeholders, hotline numbers that are not
phone numbers. Each problem reads ``file:line: what is wrong — how to fix it`` in
English and Chinese. Reload refuses content with any problem.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from bot.outreach.broadcast import load_file_alerts
from bot.config import Settings
from bot.scams import Content, load_content
from bot.dialogue.actions import Actions
from bot.dialogue.flowchart import load_flowchart
from bot.dialogue.brain import SCAM_GROUP
from bot.dialogue.engine import COMMANDS, NO, YES
from bot.dialogue.responses import PLACEHOLDERS, load_responses, placeholders_in
from bot.dialogue.stories import ActionStep, IntentStep, SlotStep, load_stories
from bot.dialogue.tracker import SLOTS
from bot.nlu.cues import load_cue_rules
from bot.nlu.normalize import normalise
from bot.nlu.trainingdata import NluData, load_nlu
from bot.problems import InvalidFiles, Problem, display_path
from bot.outreach.quiz import load_quiz
from bot.checks.riskcheck import load_official
from bot.yamlfile import load_yaml

TELEGRAM_LIMIT = 4096
MIN_EXAMPLES = 15
# Limits staff see in content/README.md: field → (max characters per item, min items, max items)
LIMITS = {"button": (8, None, None), "summary": (60, None, None), "scripts": (60, 4, 6), "red_flags": (30, 4, 6),
          "advice": (30, 3, 5), "warning": (120, None, None), "case_text": (200, None, None),
          "keywords": (12, 8, 15), "signs": (16, None, None)}
ZH_FIELD = {"button": "按钮文字", "summary": "一句话说明", "scripts": "话术", "red_flags": "危险信号", "advice": "建议",
            "warning": "警示回复", "case_text": "案例正文", "keywords": "关键词", "signs": "骗局特征"}
PHONE = re.compile(r"^(\d{3,6}|0\d{2,3}-?\d{7,8}|1[3-9]\d{9}|[48]00-?\d{3}-?\d{4})$")
# Intents the engine itself understands (answers to questions, commands), besides those in stories.
ENGINE_INTENTS = YES | NO | set(COMMANDS.values()) | {"not_scam", "unknown"}


def _p(problems: list[Problem], file: str, line: int, en: str, zh: str) -> None:
    problems.append(Problem(file, line, en, zh))


@lru_cache(maxsize=64)
def _parsed(content_file: Path, root: Path, stamp: tuple):
    try:
        return load_yaml(content_file, root)
    except InvalidFiles:
        return None


def _line_of(content_file: Path, root: Path, field: str) -> int:
    """The line of ``field:`` in a scam file (for messages about a parsed field); each file is parsed once."""
    stat = content_file.stat() if content_file.exists() else None
    doc = _parsed(content_file, root, (stat.st_mtime_ns, stat.st_size) if stat else ())
    if doc is None:
        return 1
    if field == "case_text":
        case = doc.get("case") if isinstance(doc, dict) else None
        return case.line_of("text") if hasattr(case, "line_of") else 1
    return doc.line_of(field) if hasattr(doc, "line_of") else 1


def check_scam_fields(content: Content, settings: Settings, problems: list[Problem]) -> None:
    for scam in content.scams.values():
        path = settings.content_dir / "scams" / f"{scam.id}.yml"
        values = {"button": [scam.button], "summary": [scam.summary], "scripts": list(scam.scripts),
                  "red_flags": list(scam.red_flags), "advice": list(scam.advice), "warning": [scam.warning],
                  "case_text": [scam.case_text], "keywords": list(scam.keywords), "signs": list(scam.signs)}
        for field, items in values.items():
            longest, low, high = LIMITS[field]
            line = _line_of(path, settings.root, field)
            for item in items:
                if len(item) > longest:
                    _p(problems, scam.file, line, f"{field} “{item[:20]}…” has {len(item)} characters, more than "
                       f"{longest} — shorten it", f"{ZH_FIELD[field]}“{item[:20]}…”有 {len(item)} 个字，超过 {longest} 个 — 请缩短")
                if field == "warning" and not placeholders_in(item) - PLACEHOLDERS:
                    continue  # the warning is filled like a response: {hang_up}, {police} …
                if "{" in item or "}" in item:
                    known = "; in warning only " + ", ".join(f"{{{p}}}" for p in sorted(PLACEHOLDERS)) \
                        if field == "warning" else ""
                    _p(problems, scam.file, line, f"{field} contains a brace {{ }} — remove it{known}",
                       f"{ZH_FIELD[field]}里有花括号 {{ }} — 请删掉" + ("（警示里只能用上面这些占位符）" if known else ""))
            if low is not None and not low <= len(items) <= high:
                _p(problems, scam.file, line, f"{field} has {len(items)} items; write {low} to {high}",
                   f"{ZH_FIELD[field]}有 {len(items)} 条，应为 {low} 到 {high} 条")


def check_examples(nlu: NluData, settings: Settings, problems: list[Problem]) -> None:
    """Duplicated sentences, and sentences under two intents of the same model."""
    urgency = {settings.urgency["urgent_intent"], settings.urgency["calm_intent"]}
    seen: dict[tuple[bool, str], object] = {}
    for example in nlu.examples:
        key = (example.intent in urgency, re.sub(r"[\s,.!?;:，。！？；：、~…]", "", normalise(example.text).text))
        first = seen.get(key)
        if first is None:
            seen[key] = example
        elif first.intent == example.intent:
            _p(problems, example.file, example.line, f"duplicate example “{example.text}” (also at {first.file}:"
               f"{first.line}) — delete one", f"例句重复（{first.file}:{first.line} 也有）— 请删掉一条")
        else:
            _p(problems, example.file, example.line, f"“{example.text}” is under '{example.intent}' and under "
               f"'{first.intent}' ({first.file}:{first.line}) — keep it under one intent only",
               f"同一句话同时属于 '{example.intent}' 和 '{first.intent}' — 只保留在一个意图下")


def check_coverage(nlu: NluData, content: Content, settings: Settings, referenced: set[str],
                   problems: list[Problem]) -> None:
    counts: dict[str, int] = {}
    first_line: dict[str, tuple[str, int]] = {}
    for example in nlu.examples:
        counts[example.intent] = counts.get(example.intent, 0) + 1
        first_line.setdefault(example.intent, (example.file, example.line))
    minimum = int((settings.raw.get("nlu") or {}).get("min_examples", MIN_EXAMPLES))
    for scam in content.scams.values():
        count = counts.get(scam.id, 0)
        if count < minimum:
            where = first_line.get(scam.id, (scam.file, 1))
            _p(problems, where[0], where[1], f"scam type '{scam.id}' has {count} examples; write at least {minimum} "
               f"in nlu/{scam.id}.yml", f"诈骗类型 '{scam.id}' 只有 {count} 条例句，请在 nlu/{scam.id}.yml 里写至少 {minimum} 条")
    declared = {p.stem for p in (settings.content_dir / "scams").glob("*.yml")}  # also the ones that failed to parse
    known = (set(content.scams) | declared | referenced | ENGINE_INTENTS | set(settings.intent_types)
             | set(settings.question_intents) | {settings.urgency["urgent_intent"], settings.urgency["calm_intent"]})
    for intent, (file, line) in first_line.items():
        if intent not in known:
            _p(problems, file, line, f"intent '{intent}' is neither a scam type with content/scams/{intent}.yml nor "
               f"used by a story — add the content file, or a rule in stories/",
               f"意图 '{intent}' 既没有 content/scams/{intent}.yml，也没有对话规则使用它 — 请补上内容文件或规则")


def check_stories(settings: Settings, nlu: NluData, content: Content, responses: set[str],
                  problems: list[Problem]) -> set[str]:
    flows = load_stories(settings.stories_dir, settings.root, problems=problems)
    intents = set(nlu.intents) | {SCAM_GROUP}
    actions = set(Actions.PYTHON_ACTIONS) | responses
    for flow in flows.all():
        for step in flow.steps:
            if isinstance(step, IntentStep):
                for name in step.intents - intents:
                    _p(problems, flow.file, step.line, f"unknown intent or scam id '{name}' — use an intent from nlu/ "
                       f"or '{SCAM_GROUP}'", f"找不到意图或诈骗类型 '{name}'")
            elif isinstance(step, ActionStep) and step.name not in actions:
                _p(problems, flow.file, step.line, f"unknown action '{step.name}' — add it to content/responses.yml "
                   f"or use one of {', '.join(Actions.PYTHON_ACTIONS)}", f"找不到动作或回复 '{step.name}'")
            elif isinstance(step, SlotStep):
                for name, _ in step.slots:
                    if name not in SLOTS:
                        _p(problems, flow.file, step.line, f"unknown slot '{name}' — use one of {', '.join(SLOTS)}",
                           f"找不到槽位 '{name}'")
    return {i for flow in flows.all() for s in flow.steps if isinstance(s, IntentStep) for i in s.intents}


def check_config(settings: Settings, problems: list[Problem]) -> None:
    path = settings.root / "config.yml"
    name = display_path(path, settings.root)
    try:
        doc = load_yaml(path, settings.root) if path.exists() else {}
    except InvalidFiles as exc:
        problems.extend(exc.problems)
        return
    hotlines = ((doc or {}).get("centre") or {}).get("hotlines") or {}
    for key, value in hotlines.items():
        value = str(value or "").strip()
        if (value or key != "local") and not PHONE.match(value):
            _p(problems, name, hotlines.line_of(key), f"hotline {key} “{value}” does not look like a phone number — "
               f"write digits, e.g. 96110 or 0315-1234567", f"热线 {key}“{value}”不像电话号码 — 请写数字，例如 96110 或 0315-1234567")
    risk = (doc or {}).get("risk") or {}
    if risk.get("escalate_from", "high") not in ("high", "urgent"):
        _p(problems, name, risk.line_of("escalate_from"), "risk.escalate_from must be high or urgent",
           "risk.escalate_from 只能是 high 或 urgent")


def check_responses(settings: Settings, content: Content, problems: list[Problem]) -> set[str]:
    path = settings.content_dir / "responses.yml"
    try:
        responses = load_responses(path, settings.root)
    except InvalidFiles as exc:
        problems.extend(exc.problems)
        try:  # still know the names, so stories are not reported for a problem inside a response
            doc = load_yaml(path, settings.root)
            return set((doc or {}).get("responses") or {})
        except InvalidFiles:
            return set()
    for name, variants in responses.templates.items():
        for variant in variants:
            text = str(variant.get("text", ""))
            if len(text) > TELEGRAM_LIMIT:
                _p(problems, responses.file, responses.templates.line_of(name) if hasattr(responses.templates, "line_of")
                   else 1, f"'{name}' has {len(text)} characters, over Telegram's {TELEGRAM_LIMIT} — shorten it",
                   f"'{name}' 有 {len(text)} 个字，超过 Telegram 的 {TELEGRAM_LIMIT} 字上限 — 请缩短")
    for scam in content.scams.values():  # the longest reply a scam type produces
        longest = len(scam.warning) + sum(map(len, scam.red_flags)) + sum(map(len, scam.advice)) + len(scam.question) + 300
        if longest > TELEGRAM_LIMIT:
            _p(problems, scam.file, 1, "the warning reply would exceed Telegram's limit — shorten warning, red flags "
               "or advice", "警示回复会超过 Telegram 的字数上限 — 请缩短")
    for placeholder in placeholders_in(responses.render("utter_hotline_footer", {}).text) - PLACEHOLDERS:
        _p(problems, responses.file, 1, f"unknown placeholder {{{placeholder}}}", "未知的占位符")
    return responses.names()


def check(settings: Settings) -> list[Problem]:
    """Every problem in the files staff edit (empty when all is well)."""
    problems: list[Problem] = []
    nlu = load_nlu(settings.nlu_dir, settings.root, problems=problems)
    content = load_content(settings.content_dir, settings.root, problems=problems)
    check_scam_fields(content, settings, problems)
    try:
        load_cue_rules(settings.content_dir / "risk_cues.yml", settings.root, probe=True)
    except InvalidFiles as exc:
        problems.extend(exc.problems)
    responses = check_responses(settings, content, problems)
    referenced = check_stories(settings, nlu, content, responses, problems)
    check_examples(nlu, settings, problems)
    check_coverage(nlu, content, settings, referenced, problems)
    check_config(settings, problems)
    declared = set(content.scams) | {p.stem for p in (settings.content_dir / "scams").glob("*.yml")}
    load_quiz(settings.content_dir / "quiz.yml", settings.root, declared, problems)
    load_file_alerts(settings.content_dir / "alerts", settings.root, declared, problems)
    load_official(settings.content_dir / "official.yml", settings.root, problems)
    from bot.channels.wechat import load_menu

    load_menu(settings.content_dir / "wechat_menu.yml", settings.root, set(COMMANDS), problems)
    for flow in ("guided.yml", "visit.yml"):
        load_flowchart(settings.content_dir / flow, settings.root, declared, problems)
    return sorted(problems, key=lambda p: (p.file, p.line))


def _files_stamp(settings: Settings) -> str:
    """A digest of every file the check reads (their bytes), so an unchanged project is not checked twice."""
    import hashlib

    digest = hashlib.sha256()
    roots = [settings.nlu_dir, settings.stories_dir, settings.content_dir]
    files = sorted(p for r in roots if r.exists() for p in r.rglob("*.yml"))
    for path in files + [settings.root / "config.yml"]:
        if path.exists():
            digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def check_before_start(settings: Settings) -> list[Problem]:
    """``check`` for ``serve``, ``chat`` and ``telegram``: they refuse to start with content it rejects. A project
    that passed unchanged is not checked again (the stamp of its files is kept in the cache directory)."""
    stamp = _files_stamp(settings)
    marker = settings.cache_dir / "content-check.ok"
    try:
        if marker.read_text(encoding="utf-8") == stamp:
            return []
    except OSError:
        pass
    problems = check(settings)
    if not problems:
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(stamp, encoding="utf-8")
        except OSError:
            pass  # a read-only cache only costs a second check next time
    return problems
