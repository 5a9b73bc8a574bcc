from pathlib import Path

import pytest

from bot.nlu.trainingdata import load_nlu
from bot.problems import InvalidFiles


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_rasa_yaml_with_lines_and_strips_annotations(tmp_path):
    write(tmp_path, "a.yml", 'version: "3.1"\nnlu:\n- intent: fake_loan\n  examples: |\n'
                             '    - 贷款要先交[解冻费](fee)\n\n    - 无抵押秒到账\n- lookup: app\n  examples: |\n    - 钉钉\n')
    data = load_nlu(tmp_path)
    assert [(e.text, e.line) for e in data.examples] == [("贷款要先交解冻费", 5), ("无抵押秒到账", 7)]
    assert data.lookups == {"app": ["钉钉"]}


def test_problems_are_located(tmp_path):
    write(tmp_path, "bad.yml", 'version: "3.1"\nnlu:\n- intent: fake_loan\n  examples: |\n    - ok\n    missing dash\n')
    write(tmp_path, "broken.yml", 'nlu:\n- intent: x\n  examples: |\n - a\n   b: [\n')
    with pytest.raises(InvalidFiles) as info:
        load_nlu(tmp_path, tmp_path)
    messages = [str(p) for p in info.value.problems]
    assert any(m.startswith("bad.yml:6: each example must start with '- '") for m in messages)
    assert any(m.startswith("broken.yml:") and "YAML" in m for m in messages)
