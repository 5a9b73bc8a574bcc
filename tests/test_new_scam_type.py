"""A new scam type needs only a content file and ~15 examples: no Python change."""

import shutil
from pathlib import Path

from bot.app import build_engine
from bot.staff.check import check
from bot.desk.report import build as build_report
from bot.store import Store

DATA = Path(__file__).parent / "data" / "new_type"


def add_new_type(root: Path) -> None:
    shutil.copy(DATA / "fake_medical_insurance.yml", root / "content/scams/fake_medical_insurance.yml")
    shutil.copy(DATA / "fake_medical_insurance.nlu.yml", root / "nlu/fake_medical_insurance.yml")


def test_a_new_type_is_recognised_warned_offered_and_reported(project_copy, db_target):
    settings, root = project_copy
    add_new_type(root)
    assert check(settings) == []
    store = Store(db_target)
    engine = build_engine(settings, store)
    result = engine.handle("test", "u1", "刚才有个自称医保局的打电话，说我的医保卡在外地被人盗刷了")
    assert result.understanding.scam_type == "fake_medical_insurance"
    assert result.actions == ["action_warn"] and "冒充医保局诈骗" in result.replies[0].text
    assert result.replies[0].text.endswith("110。")
    # The clarification buttons can offer it.
    vague = engine.understander.understand("有人打电话说我的医保卡有点问题，具体我也说不清")
    from bot.dialogue.context import TurnContext
    from bot.dialogue.tracker import Tracker

    ctx = TurnContext(engine.brain, Tracker("test:u2"), vague, "test", "u2")
    engine.actions.clarify(ctx)
    assert "自称医保局来电" in [b.title for b in ctx.replies[0].buttons]
    # And it is counted in the report under its Chinese name.
    names = {k: v.name for k, v in engine.content.scams.items()}
    report = build_report(store, names)
    rows = {row[0]: row for row in report.tables[0].rows}
    assert rows["fake_medical_insurance"][1] == "冒充医保局" and rows["fake_medical_insurance"][2] == 1
    store.close()
