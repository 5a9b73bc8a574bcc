"""The self-test (/quiz) and the case of the week (/case), from content/quiz.yml and content/scams."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bot.scams import Content, ScamType
from bot.problems import InvalidFiles, Problem, display_path
from bot.yamlfile import read_yaml, scalar

QUESTIONS_PER_QUIZ = 3


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    options: tuple[str, ...]
    answer: int  # 1-based
    explanation: str
    scam_type: str | None = None


def load_quiz(path: Path, root: Path | None = None, scam_types: set[str] | None = None,
              problems: list[Problem] | None = None) -> list[Question]:
    if not path.exists():
        return []
    name = display_path(path, root)
    found: list[Problem] = []
    questions: list[Question] = []
    doc = read_yaml(path, found, root)
    items = doc.get("questions") if isinstance(doc, dict) else None
    if doc is not None and not isinstance(items, list):
        found.append(Problem(name, 1, "expected a 'questions:' list", "应包含 questions 列表"))
    ids = set()
    for item in items if isinstance(items, list) else []:
        line = getattr(item, "line", 1)
        if not isinstance(item, dict):
            found.append(Problem(name, line, "each question needs id, question, options, answer, explanation",
                                 "每道题需要 id、question、options、answer、explanation"))
            continue
        options = item.get("options")
        answer = item.get("answer")
        qid = str(item.get("id") or "")
        if not qid or qid in ids:
            found.append(Problem(name, line, f"question id '{qid}' is missing or used twice", "题目编号缺失或重复"))
        ids.add(qid)
        if not isinstance(options, list) or not 2 <= len(options) <= 4:
            found.append(Problem(name, line, "options must be a list of 2 to 4 answers", "选项应为 2 到 4 个"))
            continue
        if not isinstance(answer, int) or not 1 <= answer <= len(options):
            found.append(Problem(name, item.line_of("answer"), f"answer must be a number from 1 to {len(options)}",
                                 f"answer 应为 1 到 {len(options)} 之间的数字"))
            continue
        if any(len(str(o)) > 60 for o in options):
            found.append(Problem(name, item.line_of("options"), "an option is longer than 60 characters (a button)",
                                 "有选项超过 60 个字（按钮放不下）"))
        scam_type = scalar(item, "scam_type", name, found, text=True)
        if scam_type and scam_types is not None and scam_type not in scam_types:
            found.append(Problem(name, item.line_of("scam_type"), f"unknown scam type '{scam_type}'",
                                 f"没有诈骗类型 '{scam_type}'"))
        questions.append(Question(qid, str(item.get("question") or "以下哪个是诈骗？"), tuple(str(o) for o in options),
                                  answer, str(item.get("explanation") or ""), scam_type))
    if problems is not None:
        problems.extend(found)
    elif found:
        raise InvalidFiles(found)
    return questions


def pick(questions: list[Question], seen: list[str], rng: random.Random | None = None) -> list[Question]:
    """Three questions, preferring ones this resident has not seen."""
    rng = rng or random.Random()
    fresh = [q for q in questions if q.id not in seen] or list(questions)
    rng.shuffle(fresh)
    return fresh[:QUESTIONS_PER_QUIZ]


def case_of_the_week(content: Content, today: date | None = None) -> ScamType | None:
    """The scam types take turns, one a week, in the order of their ids."""
    scams = [content.scams[k] for k in sorted(content.scams)]
    if not scams:
        return None
    week = (today or date.today()).isocalendar()
    return scams[(week.year * 53 + week.week) % len(scams)]
