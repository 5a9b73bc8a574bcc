"""Write a complete Rasa 3.x project from nlu/, stories/ and content/.

Rasa Open Source 3.6 only runs on Python < 3.11, so it is not our runtime, but the
data stays in its formats and this export is valid for ``rasa data validate`` and
``rasa train``: the same data can train a Rasa assistant to compare against.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.config import Settings
from bot.scams import load_content
from bot.dialogue.actions import Actions
from bot.dialogue.brain import SCAM_GROUP
from bot.dialogue.responses import PLACEHOLDERS, load_responses
from bot.dialogue.stories import ANY, ActionStep, Flow, IntentStep, SlotStep, load_stories
from bot.dialogue.tracker import SLOTS
from bot.nlu.model import split_examples
from bot.nlu.trainingdata import load_nlu

RASA_CONFIG = {
    "recipe": "default.v1",
    "language": "zh",
    "assistant_id": "fanzha-bot",
    "pipeline": [
        {"name": "JiebaTokenizer"},
        {"name": "RegexFeaturizer"},
        {"name": "CountVectorsFeaturizer"},
        {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
        {"name": "DIETClassifier", "epochs": 100, "constrain_similarities": True},
        {"name": "RegexEntityExtractor", "use_lookup_tables": True, "use_regexes": True},
    ],
    "policies": [
        {"name": "MemoizationPolicy"},
        {"name": "RulePolicy"},
        {"name": "TEDPolicy", "max_history": 5, "epochs": 100, "constrain_similarities": True},
    ],
}


class _Literal(str):
    """A string dumped as a YAML literal block (``|``)."""


def _literal_representer(dumper: yaml.Dumper, value: _Literal):
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Literal, _literal_representer)


def _dump(data: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1000)
    path.write_text(text, encoding="utf-8")
    return path


def _examples(lines: list[str]) -> _Literal:
    return _Literal("".join(f"- {line}\n" for line in lines))


def scam_responses(settings: Settings) -> dict[str, list[dict]]:
    """One warning and one follow-up question per scam type, as Rasa responses."""
    content = load_content(settings.content_dir, settings.root)
    responses: dict[str, list[dict]] = {}
    for scam in content.scams.values():
        flags = "\n".join(f"· {flag}" for flag in scam.red_flags)
        advice = "\n".join(f"· {item}" for item in scam.advice)
        responses[f"utter_warn_{scam.id}"] = [{"text": f"{scam.warning}\n\n危险信号：\n{flags}\n\n现在请您：\n{advice}"}]
        responses[f"utter_ask_{scam.id}"] = [{"text": scam.question}]
    return responses


def _steps(flow: Flow, scam_types: list[str]) -> list[dict]:
    """A flow's steps in Rasa YAML; ``describe_scam`` becomes an ``or`` of every scam type."""
    steps: list[dict] = []
    for step in flow.steps:
        if isinstance(step, IntentStep):
            names = sorted(n for name in step.intents for n in (scam_types if name == SCAM_GROUP else [name]))
            steps.append({"intent": names[0]} if len(names) == 1 else {"or": [{"intent": n} for n in names]})
        elif isinstance(step, ActionStep):
            steps.append({"action": step.name})
        elif isinstance(step, SlotStep):
            steps.append({"slot_was_set": [name if value is ANY else {name: value} for name, value in step.slots]})
    return steps


def _flows(settings: Settings, scam_types: list[str]) -> tuple[list[dict], list[dict], set[str], set[str]]:
    flows = load_stories(settings.stories_dir, settings.root)
    stories = [{"story": f.name, "steps": _steps(f, scam_types)} for f in flows.stories]
    rules = []
    for flow in flows.rules:
        rule = {"rule": flow.name}
        if flow.condition:
            rule["condition"] = [{"slot_was_set": [{n: v} for n, v in flow.condition]}]
        if flow.conversation_start:
            rule["conversation_start"] = True
        rule["steps"] = _steps(flow, scam_types)
        if not flow.wait_for_user_input:
            rule["wait_for_user_input"] = False
        rules.append(rule)
    return stories, rules, flows.actions(), flows.slots()


def _slots(used: set[str]) -> dict:
    """Every slot the engine fills; Rasa sets them with custom actions (mapping type "custom")."""
    slots = {}
    for name, kind in SLOTS.items():
        slot = {"type": kind, "influence_conversation": name in used, "mappings": [{"type": "custom"}]}
        if kind == "categorical":
            slot["values"] = ["none", "low", "medium", "high", "urgent"]
        slots[name] = slot
    return slots


def _responses(settings: Settings) -> dict[str, list[dict]]:
    """content/responses.yml with placeholders filled from config (Rasa has no such values)."""
    responses = load_responses(settings.content_dir / "responses.yml", settings.root)
    local = settings.hotlines.get("local") or ""
    values = {"police": settings.hotlines.get("police") or "110", "antifraud": settings.hotlines.get("antifraud") or "96110",
              "local": f"本地反诈中心：{local}。" if local else "", "centre": settings.centre_name, "scam_name": "诈骗",
              "hang_up": "，马上挂断电话", "read": "（截图里的文字）", "said": "（值班民警的留言）"}
    assert set(values) == PLACEHOLDERS
    return {name: [{"text": responses.render(name, values).text}] for name in responses.names()}


def export_project(settings: Settings, out_dir: Path) -> list[Path]:
    """Write domain.yml, config.yml and data/{nlu,stories,rules}.yml under ``out_dir``.

    The urgency examples (nlu/urgency.yml) train our own urgency model and are left
    out: in Rasa they would be two more intents competing with the dialogue intents.
    """
    nlu_data = load_nlu(settings.nlu_dir, settings.root)
    intent_examples, _ = split_examples(settings, nlu_data.examples)
    content = load_content(settings.content_dir, settings.root)
    scam_types = sorted(content.scams)
    written = []
    nlu_items: list[dict] = []
    grouped: dict[str, list[str]] = {}
    for example in intent_examples:
        grouped.setdefault(example.intent, []).append(example.text)
    for intent, texts in grouped.items():
        nlu_items.append({"intent": intent, "examples": _examples(texts)})
    for name, values in nlu_data.lookups.items():
        nlu_items.append({"lookup": name, "examples": _examples(values)})
    for name, values in nlu_data.regexes.items():
        nlu_items.append({"regex": name, "examples": _examples(values)})
    for name, values in nlu_data.synonyms.items():
        nlu_items.append({"synonym": name, "examples": _examples(values)})
    written.append(_dump({"version": "3.1", "nlu": nlu_items}, out_dir / "data" / "nlu.yml"))

    stories, rules, used_actions, used_slots = _flows(settings, scam_types)
    responses = {**_responses(settings), **scam_responses(settings)}
    actions = sorted(a for a in used_actions | set(Actions.PYTHON_ACTIONS) if not a.startswith("utter_"))
    written.append(_dump({"version": "3.1", "stories": stories}, out_dir / "data" / "stories.yml"))
    written.append(_dump({"version": "3.1", "rules": rules}, out_dir / "data" / "rules.yml"))
    domain = {
        "version": "3.1",
        "intents": sorted(grouped),
        "entities": sorted(nlu_data.lookups),
        "slots": _slots(used_slots),
        "responses": dict(sorted(responses.items())),
        "actions": actions,
        "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True},
    }
    written.append(_dump(domain, out_dir / "domain.yml"))
    written.append(_dump(RASA_CONFIG, out_dir / "config.yml"))
    return written
