"""`content check` finds what staff get wrong, each as file:line in English and Chinese."""

from bot.staff.check import check


def test_the_repository_content_passes(run_bot):
    proc = run_bot("content", "check")
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    assert "通过" in proc.stdout.decode()


def replace(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_every_kind_of_mistake_is_located(project_copy, run_bot):
    settings, root = project_copy
    replace(root / "content/scams/fake_loan.yml", "button: 网上贷款先交钱", "button: [网上贷款先交钱")  # YAML error
    replace(root / "content/scams/romance.yml", "summary:", "summary_typo:")                     # missing field
    replace(root / "stories/rules.yml", "  - intent: greet", "  - intent: greeet")              # unknown intent
    replace(root / "stories/rules.yml", "  - action: utter_goodbye", "  - action: utter_byebye")  # unknown action
    card_example = next(line for line in (root / "nlu/bank_card_rental.yml").read_text(encoding="utf-8").splitlines()
                        if line.startswith("    - "))
    replace(root / "nlu/general.yml", "- intent: unknown\n  examples: |\n",
            "- intent: unknown\n  examples: |\n" + card_example + "\n")                        # conflict
    (root / "content/scams/fake_tax.yml").write_text(
        (root / "content/scams/fake_shopping.yml").read_text(encoding="utf-8").replace("id: fake_shopping", "id: fake_tax"),
        encoding="utf-8")                                                                       # no examples
    replace(root / "content/responses.yml", "utter_thanks:\n    - text: 不客气！",
            "utter_thanks:\n    - text: 不客气！{name" + "很长" * 2100)                              # placeholder + length
    replace(root / "config.yml", 'antifraud: "96110"', 'antifraud: "九六一一零"')                    # hotline
    problems = [str(p) for p in check(settings)]
    joined = "\n".join(problems)
    expected = [
        ("content/scams/fake_loan.yml:", "YAML syntax error"),
        ("content/scams/romance.yml:", "missing field 'summary'"),
        ("stories/rules.yml:", "unknown intent or scam id 'greeet'"),
        ("stories/rules.yml:", "unknown action 'utter_byebye'"),
        ("nlu/general.yml:", "is under 'unknown' and under 'bank_card_rental'"),
        ("content/scams/fake_tax.yml:", "scam type 'fake_tax' has 0 examples"),
        ("content/responses.yml:", "broken {placeholder}"),
        ("config.yml:", "does not look like a phone number"),
    ]
    for where, what in expected:
        assert any(p.startswith(where) and what in p for p in problems), f"{where} {what}\n{joined}"
    for p in problems:
        file_and_line = p.split(": ", 1)[0]
        assert file_and_line.count(":") == 1 and file_and_line.rsplit(":", 1)[1].isdigit(), p
        assert " / " in p  # English / Chinese
    proc = run_bot("--config", str(root / "config.yml"), "content", "check")
    assert proc.returncode == 1 and "problems" in proc.stderr.decode()


def test_long_responses_are_reported(project_copy):
    settings, root = project_copy
    replace(root / "content/responses.yml", "utter_thanks:\n    - text: 不客气！", "utter_thanks:\n    - text: 不客气！" + "谢" * 4100)
    assert any("over Telegram's 4096" in str(p) for p in check(settings))
