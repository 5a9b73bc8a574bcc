"""Write a complete Rasa 3.x project from nlu/, stories/ and content/.

Rasa Open Source 3.6 only runs on Python < 3.11, so it is not our runtime, but the
data stays in its formats and this export is valid for ``rasa data validate`` and
``rasa train``: the same data can train a Rasa assistant to compare against.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.config import Settings
from bot.content import load_content
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


def export_project(settings: Settings, out_dir: Path) -> list[Path]:
    """Write domain.yml, config.yml and data/{nlu,stories,rules}.yml under ``out_dir``."""
    nlu_data = load_nlu(settings.nlu_dir, settings.root)
    written = []
    nlu_items: list[dict] = []
    for intent, examples in nlu_data.by_intent().items():
        nlu_items.append({"intent": intent, "examples": _examples([e.text for e in examples])})
    for name, values in nlu_data.lookups.items():
        nlu_items.append({"lookup": name, "examples": _examples(values)})
    for name, values in nlu_data.regexes.items():
        nlu_items.append({"regex": name, "examples": _examples(values)})
    for name, values in nlu_data.synonyms.items():
        nlu_items.append({"synonym": name, "examples": _examples(values)})
    written.append(_dump({"version": "3.1", "nlu": nlu_items}, out_dir / "data" / "nlu.yml"))

    responses = scam_responses(settings)
    actions: list[str] = []
    slots: dict = {}
    stories: list = []
    rules: list = []
    written.append(_dump({"version": "3.1", "stories": stories}, out_dir / "data" / "stories.yml"))
    written.append(_dump({"version": "3.1", "rules": rules}, out_dir / "data" / "rules.yml"))
    domain = {
        "version": "3.1",
        "intents": nlu_data.intents,
        "entities": sorted(nlu_data.lookups),
        "slots": slots,
        "responses": dict(sorted(responses.items())),
        "actions": actions,
        "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True},
    }
    written.append(_dump(domain, out_dir / "domain.yml"))
    written.append(_dump(RASA_CONFIG, out_dir / "config.yml"))
    return written
