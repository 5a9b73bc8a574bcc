"""Every wrong type or shape in every file staff edit is a file:line problem, never a traceback.

Each staff file is taken as it is in the repository; every value in it (to depth 3) is replaced, in turn,
by values of the wrong shape (a number, a string, a list, a mapping, nothing), and the file's own loader
reads the result. It must either accept it or report problems that name the file and a line of it, and
the whole ``content check`` must then agree with what building the bot does.
"""

from __future__ import annotations

import copy as copy_module
import shutil
from pathlib import Path

import pytest
import yaml

from bot.outreach.broadcast import load_file_alerts
from bot.config import PROJECT_ROOT
from bot.scams import read_scam
from bot.dialogue import stories
from bot.dialogue.flowchart import load_flowchart
from bot.dialogue.responses import load_responses
from bot.nlu import trainingdata
from bot.nlu.cues import load_cue_rules
from bot.problems import InvalidFiles, Problem
from bot.outreach.quiz import load_quiz
from bot.checks.riskcheck import load_official

WRONG = [5, "5", [5], {"x": 5}, None, True]
SCAMS = {p.stem for p in (PROJECT_ROOT / "content" / "scams").glob("*.yml")}


def _raising(loader):
    def run(path: Path) -> list[Problem]:
        try:
            loader(path)
        except InvalidFiles as exc:
            return exc.problems
        return []
    return run


def _collecting(loader):
    def run(path: Path) -> list[Problem]:
        problems: list[Problem] = []
        loader(path, problems)
        return problems
    return run


def _alerts(path: Path) -> list[Problem]:
    problems: list[Problem] = []
    load_file_alerts(path.parent, path.parent, SCAMS, problems)
    return problems


LOADERS = {
    "content/responses.yml": _raising(lambda p: load_responses(p, p.parent)),
    "content/risk_cues.yml": _raising(lambda p: load_cue_rules(p, p.parent)),
    "content/quiz.yml": _collecting(lambda p, pr: load_quiz(p, p.parent, SCAMS, pr)),
    "content/guided.yml": _collecting(lambda p, pr: load_flowchart(p, p.parent, SCAMS, pr)),
    "content/visit.yml": _collecting(lambda p, pr: load_flowchart(p, p.parent, SCAMS, pr)),
    "content/official.yml": _collecting(lambda p, pr: load_official(p, p.parent, pr)),
    "content/scams/fake_police.yml": lambda p: read_scam(p, p.parent)[1],
    "content/alerts/2026-12-01.yml": _alerts,
    "nlu/fake_police.yml": lambda p: trainingdata.read_file(p, p.parent)[1],
    "stories/rules.yml": lambda p: stories.read_file(p, p.parent)[1],
}


def paths(doc, prefix=(), depth=3):
    """Key paths into a parsed YAML document (mapping keys and list indexes, the first two items of lists)."""
    if depth == 0:
        return
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield prefix + (key,)
            yield from paths(value, prefix + (key,), depth - 1)
    elif isinstance(doc, list):
        for index, value in list(enumerate(doc))[:2]:
            yield prefix + (index,)
            yield from paths(value, prefix + (index,), depth - 1)


def replaced(doc, path, value):
    copy = copy_module.deepcopy(doc)
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


def mutations(relative: str):
    doc = yaml.safe_load((PROJECT_ROOT / relative).read_text(encoding="utf-8"))
    yield "whole file", doc if False else None
    for wrong in WRONG:
        yield f"file = {wrong!r}", wrong
    for path in paths(doc):
        for wrong in WRONG:
            yield f"{'.'.join(map(str, path))} = {wrong!r}", replaced(doc, path, wrong)


@pytest.mark.parametrize("relative", sorted(LOADERS))
def test_every_wrong_shape_is_a_file_line_problem(relative, tmp_path):
    loader = LOADERS[relative]
    target = tmp_path / Path(relative).name
    assert loader(PROJECT_ROOT / relative) == [], f"{relative} as shipped has problems"
    failures, tried = [], 0
    for label, doc in mutations(relative):
        target.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
        tried += 1
        try:
            problems = loader(target)
        except Exception as exc:  # noqa: BLE001 - the point of the test
            failures.append(f"{label}: {type(exc).__name__}: {exc}")
            continue
        for problem in problems:
            if problem.file != target.name or problem.line < 1:
                failures.append(f"{label}: problem without file:line: {problem}")
    assert tried > 20
    assert not failures, f"{len(failures)} of {tried} mutations of {relative}:\n" + "\n".join(failures[:25])


def test_wrongly_typed_values_are_reported(tmp_path):
    """The shapes from the issue: patterns: 5, responses as a list, name: 123."""
    cues = (PROJECT_ROOT / "content/risk_cues.yml").read_text(encoding="utf-8")
    (tmp_path / "risk_cues.yml").write_text(cues.replace("    patterns:\n", "    patterns: 5\n    unused:\n", 1),
                                            encoding="utf-8")
    problems = _raising(lambda p: load_cue_rules(p, p.parent))(tmp_path / "risk_cues.yml")
    assert any("patterns" in p.message for p in problems), problems

    (tmp_path / "responses.yml").write_text("- utter_greet\n- utter_default\n", encoding="utf-8")
    problems = _raising(lambda p: load_responses(p, p.parent))(tmp_path / "responses.yml")
    assert problems and problems[0].line == 1

    scam = (PROJECT_ROOT / "content/scams/fake_police.yml").read_text(encoding="utf-8")
    name_line = next(i for i, line in enumerate(scam.splitlines(), 1) if line.startswith("name:"))
    lines = scam.splitlines()
    lines[name_line - 1] = "name: 123"
    (tmp_path / "fake_police.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _, problems = read_scam(tmp_path / "fake_police.yml", tmp_path)
    assert [p.line for p in problems if "name" in p.message] == [name_line], problems


def test_a_yaml_error_is_reported_on_its_own_line(tmp_path):
    text = (PROJECT_ROOT / "content/quiz.yml").read_text(encoding="utf-8").splitlines()
    bad = next(i for i, line in enumerate(text) if line.strip().startswith("- ") and ":" in line) + 3
    text.insert(bad, '    question: "未闭合的引号')
    (tmp_path / "quiz.yml").write_text("\n".join(text) + "\n", encoding="utf-8")
    problems = _collecting(lambda p, pr: load_quiz(p, p.parent, SCAMS, pr))(tmp_path / "quiz.yml")
    assert problems and problems[0].line == bad + 1, (bad + 1, problems)


def test_the_whole_check_agrees_with_building_the_bot(tmp_path):
    """A project the check passes can be built; one it refuses cannot be served (serve/chat refuse it too)."""
    from bot.config import load_settings
    from bot.staff.check import check

    for name in ("nlu", "stories", "content"):
        shutil.copytree(PROJECT_ROOT / name, tmp_path / name)
    shutil.copy(PROJECT_ROOT / "config.yml", tmp_path / "config.yml")
    settings = load_settings(tmp_path / "config.yml")
    assert check(settings) == []
    (tmp_path / "content/responses.yml").write_text("responses:\n  utter_greet: 5\n", encoding="utf-8")
    problems = check(settings)
    assert problems and all(p.line >= 1 for p in problems)
