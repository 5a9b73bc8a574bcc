"""Risk cues: the words in a message that show money, codes or control slipping away.

The rules live in ``content/risk_cues.yml`` so that outreach staff can add a new
pattern the day scammers change their script. A cue fires on a pattern match
unless it is negated ("还没转") or sits in a hypothetical clause ("如果有人让我…").

Staff-written patterns run on RE2 (google-re2), which matches in linear time: no
pattern, however it is written, can freeze the service. RE2 has no lookaround or
backreferences; a rule's ``not_right_after`` list does what a lookbehind did. All
rules are first tried together as one RE2 set (one scan of the message), and only
the rules that matched are scanned again for their first match that counts.
"""

from __future__ import annotations

import bisect
import re
import time
from dataclasses import dataclass
from pathlib import Path

import re2

from bot.problems import InvalidFiles, Problem, display_path
from bot.yamlfile import listed, load_yaml, mapped

LEVELS = ("none", "low", "medium", "high", "urgent")
# Clauses end at punctuation, and at a space between Chinese words (speech-to-text and quick typing use spaces
# for commas: "我让她挂了 但是屏幕共享开了" is two clauses).
CLAUSE_BREAK = re.compile(r"[,.!?;，。！？；\n]|(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")
NEGATION_WINDOW = 4  # characters before a match that may hold 没/不/未
# A negator inside a modifier ("不用的卡", "没用的旧手机号") negates nothing that follows.
MODIFIER_NEGATION = re.compile(r"(不用|没用|不要|不常用|用不着|不再用)的")
SLOW_PROBE_MS = 100  # a pattern slower than this on a long probe message is refused by the check
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a bad pattern is reported as file:line, not printed to stderr
# The set of all rules needs room for its automaton: with RE2's default 8 MB it falls back from the DFA to
# the NFA, a hundred times slower (0.75 ms against 7 µs a message); the memory is used only as it is needed.
_SET_OPTIONS = re2.Options()
_SET_OPTIONS.log_errors = False
_SET_OPTIONS.max_mem = 64 << 20


class PatternError(ValueError):
    """A staff-written pattern RE2 cannot run (the message says why, in English)."""


def compile_pattern(pattern: str):
    """Compile a staff-written pattern with RE2; raise ``PatternError`` with a readable reason."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = str(exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc)
        if "(?<" in pattern or "(?=" in pattern or "(?!" in pattern:
            reason += " (lookahead/lookbehind is not supported: use not_right_after / not_after / not_before)"
        raise PatternError(reason) from None


def probe_ms(compiled, length: int = 10_000) -> float:
    """Milliseconds one search takes on long texts it is unlikely to match early (repeated characters, mixed
    script): RE2 is linear, but a pattern with a huge automaton (nested counted repeats) is linear and slow."""
    worst = 0.0
    for text in ("a" * length, "转" * length, ("对方说123，" * length)[:length]):
        started = time.perf_counter()
        compiled.search(text)
        worst = max(worst, (time.perf_counter() - started) * 1000)
    return worst


@dataclass(frozen=True)
class CueRule:
    id: str
    label: str
    level: int
    alone: int
    marker: bool = False
    amplify: bool = False
    protect: str = ""  # "" | "weak" | "strong" | "verified" | "story" (see risk_cues.yml)
    evidence: bool = False  # shows a scam mechanism: a message needs one to be given a scam type
    negatable: bool = False
    not_after: tuple[str, ...] = ()  # the match does not count shortly after these words (same clause)
    not_right_after: tuple[str, ...] = ()  # ... nor immediately after these (what a lookbehind did)
    not_before: tuple[str, ...] = ()  # ... nor when these words are in it or right after it (what a lookahead did)
    patterns: tuple = ()  # compiled RE2 patterns


@dataclass(frozen=True)
class Cue:
    """A cue that fired, with the words that triggered it (offsets into normalised text)."""

    id: str
    label: str
    evidence: str
    start: int
    end: int


@dataclass(frozen=True)
class Combo:
    when: tuple[str, ...]
    level: int


class CueRules:
    """The parsed ``risk_cues.yml``: cue rules, negators, hypothetical markers and combos."""

    def __init__(self, rules: list[CueRule], negators: list[str], hypothetical: list[str],
                 combos: list[Combo], amount_cue: CueRule, model_cue: CueRule, general: list[str] = (),
                 demand_cue: CueRule | None = None):
        self.rules = rules
        self.demand_cue = demand_cue or CueRule("large_demand", "对方要的是一大笔钱", 3, 0, marker=True, evidence=True)
        self.by_id = {r.id: r for r in rules} | {amount_cue.id: amount_cue, model_cue.id: model_cue,
                                                 self.demand_cue.id: self.demand_cue}
        self.model_cue = model_cue
        self.negators = tuple(sorted(negators, key=len, reverse=True))
        self.hypothetical = tuple(hypothetical)
        self.combos = combos
        self.amount_cue = amount_cue
        self.general = tuple(general)  # words that make the whole message a general warning or question
        # One alternation per rule, and one RE2 set of all of them: a message is scanned once to learn
        # which rules match at all, then only those are scanned for their first match that counts.
        scanned = [r for r in rules if r.patterns]
        self._combined = [(r, compile_pattern(combined_source(r))) for r in scanned]
        self._set = re2.Set.SearchSet(_SET_OPTIONS)
        for rule, _ in self._combined:
            self._set.Add(combined_source(rule))
        self._set.Compile()

    def is_general(self, text: str) -> bool:
        return any(word in text for word in self.general)

    def find(self, text: str) -> list[Cue]:
        """Every cue that fires in ``text``, at most once per cue id, in rule order.

        Each rule's patterns are tried as one alternation (one scan per rule, not per pattern);
        the first match that counts (not negated, not hypothetical) is the cue's evidence.
        """
        fired: list[Cue] = []
        matched = self._set.Match(text)
        if not matched:
            return fired
        clauses = self._clauses(text)
        for index in sorted(matched):
            rule, combined = self._combined[index]
            hit = next((m for m in combined.finditer(text) if self._counts(rule, text, m, clauses)), None)
            if hit:
                fired.append(Cue(rule.id, rule.label, hit.group(0), hit.start(), hit.end()))
        return fired

    @staticmethod
    def _clauses(text: str) -> tuple[list[int], list[int]]:
        starts, ends, start = [], [], 0
        for m in CLAUSE_BREAK.finditer(text):
            starts.append(start)
            ends.append(m.start())
            start = m.end()
        starts.append(start)
        ends.append(len(text))
        return starts, ends

    def _counts(self, rule: CueRule, text: str, match: re.Match, clauses) -> bool:
        starts, ends = clauses
        index = max(0, bisect.bisect_right(starts, match.start()) - 1)
        clause_start, clause_end = starts[index], ends[index]
        clause = text[clause_start:clause_end]
        if not rule.protect and any(word in clause for word in self.hypothetical):
            return False
        if rule.not_right_after and text[:match.start()].endswith(rule.not_right_after):
            return False
        if rule.not_before:
            around = text[match.start():min(clause_end, match.end() + 6)]
            if any(word in around for word in rule.not_before):
                return False  # "先交一下水电费" is no fee before a loan
        if rule.not_after:
            before = text[max(clause_start, match.start() - 8):match.start()]
            if any(word in before for word in rule.not_after):
                return False
        if rule.negatable:
            before = text[max(clause_start, match.start() - NEGATION_WINDOW):match.start()]
            if rule.protect:  # "没拦住": only a negator right before counts
                return not any(before.endswith(n) for n in self.negators)
            before = MODIFIER_NEGATION.sub("", before)  # "那张不用的卡卖给他了" is a card sold
            if any(before.endswith(n) or n in before[-3:] for n in self.negators):
                return False  # "还没转", "没给他转"
            if match.group(0).startswith(("没", "未")):
                return False
        return True


def combined_source(rule: CueRule) -> str:
    return "|".join(f"(?:{p.pattern})" for p in rule.patterns)


def _level(value, name: str, line: int, problems: list[Problem], default: str) -> int:
    value = default if value is None else str(value)
    if value not in LEVELS:
        problems.append(Problem(name, line, f"level '{value}' must be one of {', '.join(LEVELS)}",
                                f"等级 '{value}' 只能是 {'、'.join(LEVELS)} 之一"))
        return 0
    return LEVELS.index(value)


def load_cue_rules(path: Path, root: Path | None = None, probe: bool = False) -> CueRules:
    """Parse ``risk_cues.yml``; raise ``InvalidFiles`` with file:line on any problem.

    ``probe`` (``content check``) also times every pattern on long messages and refuses slow ones."""
    name = display_path(path, root)
    doc = load_yaml(path, root)
    problems: list[Problem] = []
    if not isinstance(doc, dict) or not isinstance(doc.get("cues"), list):
        raise InvalidFiles([Problem(name, 1, "expected a 'cues:' list", "文件应包含 cues 列表")])
    rules: list[CueRule] = []
    for item in doc["cues"]:
        if not isinstance(item, dict) or not item.get("id") or not item.get("label"):
            problems.append(Problem(name, getattr(item, "line", 1), "each cue needs 'id' and 'label'",
                                    "每个信号都需要 id 和 label"))
            continue
        level = _level(item.get("level"), name, item.line_of("level"), problems, "low")
        alone = _level(item.get("alone"), name, item.line_of("alone"), problems, LEVELS[level])
        patterns = []
        raw_patterns = listed(item, "patterns", name, problems)
        for index, raw in enumerate(raw_patterns):
            line = raw_patterns.lines[index] if hasattr(raw_patterns, "lines") else item.line
            if not isinstance(raw, (str, int, float)) or not str(raw):
                problems.append(Problem(name, line, "a pattern must be a non-empty piece of text",
                                        "模式必须是一段文字"))
                continue
            try:
                compiled = compile_pattern(str(raw))
            except PatternError as exc:
                problems.append(Problem(name, line, f"bad pattern: {exc} — check brackets and | signs",
                                        f"模式写错了：{exc} — 请检查括号和竖线"))
                continue
            if compiled.search(""):
                problems.append(Problem(name, line, "this pattern matches an empty message: it would fire on everything",
                                        "这个模式连空消息都能匹配，会对所有消息报警"))
                continue
            slow = probe_ms(compiled) if probe else 0.0
            if slow > SLOW_PROBE_MS:
                problems.append(Problem(name, line, f"pattern too slow ({slow:.0f} ms on a long message): simplify it",
                                        f"模式太慢（长消息上 {slow:.0f} 毫秒），请简化"))
                continue
            patterns.append(compiled)
        if not patterns:
            problems.append(Problem(name, item.line, f"cue '{item['id']}' has no patterns", f"信号 '{item['id']}' 没有模式"))
        rules.append(CueRule(
            id=str(item["id"]), label=str(item["label"]), level=level, alone=alone,
            marker=bool(item.get("marker")), amplify=bool(item.get("amplify")),
            protect={True: "weak", "strong": "strong", "story": "story", "verified": "verified"}.get(item.get("protect"), ""),
            evidence=bool(item.get("evidence") or item.get("marker")), negatable=bool(item.get("negatable")),
            not_after=tuple(str(w) for w in listed(item, "not_after", name, problems)),
            not_right_after=tuple(str(w) for w in listed(item, "not_right_after", name, problems)),
            not_before=tuple(str(w) for w in listed(item, "not_before", name, problems)),
            patterns=tuple(patterns)))
    known = {r.id for r in rules}
    amount = mapped(doc, "amount_cue", name, problems)
    amount_cue = CueRule(id=str(amount.get("id", "large_amount")), label=str(amount.get("label", "涉及大额资金")),
                         level=0, alone=0, amplify=bool(amount.get("amplify", True)))
    known.add(amount_cue.id)
    raw_model = mapped(doc, "model_cue", name, problems)
    model_cue = CueRule(id=str(raw_model.get("id", "urgent_situation")),
                        label=str(raw_model.get("label", "描述中钱款、验证码或银行卡正在或已经交出")),
                        level=_level(raw_model.get("level"), name, getattr(raw_model, "line", 1), problems, "high"),
                        alone=_level(raw_model.get("alone"), name, getattr(raw_model, "line", 1), problems, "high"))
    known.add(model_cue.id)
    raw_demand = mapped(doc, "large_demand_cue", name, problems)
    demand_cue = CueRule(id=str(raw_demand.get("id", "large_demand")), label=str(raw_demand.get("label", "对方要的是一大笔钱")),
                         level=_level(raw_demand.get("level"), name, getattr(raw_demand, "line", 1), problems, "high"),
                         alone=_level(raw_demand.get("alone"), name, getattr(raw_demand, "line", 1), problems, "none"),
                         marker=True, evidence=True)
    known.add(demand_cue.id)
    combos = []
    for item in listed(doc, "combos", name, problems):
        if not isinstance(item, dict):
            problems.append(Problem(name, getattr(item, "line", 1) or 1, "each combo needs 'when:' and 'level:'",
                                    "每个组合都需要 when 和 level"))
            continue
        when = tuple(str(w) for w in listed(item, "when", name, problems))
        for cue_id in when:
            if cue_id not in known:
                problems.append(Problem(name, item.line, f"combo names unknown cue '{cue_id}'",
                                        f"组合里的信号 '{cue_id}' 不存在"))
        combos.append(Combo(when, _level(item.get("level"), name, item.line_of("level"), problems, "high")))
    if problems:
        raise InvalidFiles(problems)
    words = {key: [str(w) for w in listed(doc, key, name, problems)] for key in ("negators", "hypothetical", "general")}
    if problems:
        raise InvalidFiles(problems)
    return CueRules(rules, words["negators"], words["hypothetical"], combos, amount_cue, model_cue,
                    words["general"], demand_cue)
