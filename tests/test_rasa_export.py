"""The Rasa export is a complete Rasa 3.x project (validated by Rasa itself where RASA_BIN is set)."""

import os
import subprocess

import pytest
import yaml


@pytest.fixture(scope="module")
def exported(tmp_path_factory, settings):
    from bot.staff.rasa_export import export_project

    out = tmp_path_factory.mktemp("rasa")
    export_project(settings, out)
    return out


def load(path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_export_has_every_file_and_valid_structure(exported, understander, settings):
    from bot.nlu.model import split_examples

    for name in ("domain.yml", "config.yml", "data/nlu.yml", "data/stories.yml", "data/rules.yml"):
        assert (exported / name).exists(), name
    domain, config, nlu = load(exported / "domain.yml"), load(exported / "config.yml"), load(exported / "data/nlu.yml")
    assert domain["version"] == nlu["version"] == "3.1"
    assert config["language"] == "zh"
    names = [c["name"] for c in config["pipeline"]]
    assert names[0] == "JiebaTokenizer" and "DIETClassifier" in names
    assert any(c["name"] == "CountVectorsFeaturizer" and c.get("analyzer") == "char_wb" for c in config["pipeline"])
    intents = {item["intent"] for item in nlu["nlu"] if "intent" in item}
    assert intents == set(domain["intents"])
    assert set(understander.content.scams) <= intents and {"greet", "not_scam", "unknown"} <= intents
    examples = sum(len(item["examples"].splitlines()) for item in nlu["nlu"] if "intent" in item)
    dialogue_examples, urgency_examples = split_examples(settings, understander.nlu_data.examples)
    assert examples == len(dialogue_examples) and urgency_examples  # urgency data trains our own model only
    assert "urgent" not in intents
    rules = load(exported / "data/rules.yml")["rules"]
    warn = next(r for r in rules if r["rule"].startswith("a described scam"))
    assert {o["intent"] for o in warn["steps"][0]["or"]} == set(understander.content.scams)
    assert {"danger", "asked", "scam_type"} <= set(domain["slots"]) and "action_escalate" in domain["actions"]
    assert "utter_hotline" in domain["responses"] and "{" not in domain["responses"]["utter_hotline"][0]["text"]
    assert all(line.startswith("- ") for item in nlu["nlu"] for line in item["examples"].splitlines())
    for scam in understander.content.scams:
        assert domain["responses"][f"utter_warn_{scam}"][0]["text"]


@pytest.mark.skipif(not os.environ.get("RASA_BIN"), reason="set RASA_BIN to a Rasa 3.x executable to run")
def test_rasa_itself_validates_the_export(exported):
    proc = subprocess.run([os.environ["RASA_BIN"], "data", "validate", "--fail-on-warnings"], cwd=exported,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
