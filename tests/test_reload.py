"""Hot reload: valid content is swapped in while conversations go on; invalid content is refused."""

import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace

from bot.app import build_engine
from bot.staff.reload import Reloader
from bot.store import Store
from tests.harness import RunningBot
from tests.test_new_scam_type import DATA


def test_reload_swaps_in_a_new_type_without_dropping_a_message(project_copy, db_target):
    settings, root = project_copy
    store = Store(db_target)
    engine = build_engine(settings, store)
    reloader = Reloader(engine, settings)
    shutil.copy(DATA / "fake_medical_insurance.yml", root / "content/scams/fake_medical_insurance.yml")
    shutil.copy(DATA / "fake_medical_insurance.nlu.yml", root / "nlu/fake_medical_insurance.yml")
    handled, failures, stop = [0], [], threading.Event()

    def talk():
        while not stop.is_set():
            try:
                result = engine.handle("test", f"u{handled[0] % 50}", "网上贷款说要先交解冻费才能放款")
                assert result.replies
                handled[0] += 1
            except Exception as exc:  # any failure during the reload is a bug
                failures.append(exc)

    talker = threading.Thread(target=talk)
    old = engine.brain
    talker.start()
    report = reloader.reload()
    time.sleep(0.2)
    stop.set()
    talker.join()
    assert report.ok and not failures and handled[0] > 0
    assert report.types_added == ["fake_medical_insurance"] and report.examples_added == 16
    assert report.heldout_before and report.heldout_after and "测试集准确率" in report.text()
    assert engine.brain is not old and "fake_medical_insurance" in engine.content.scams
    result = engine.handle("test", "new", "自称医保局的说我的医保卡在外地被盗刷了")
    assert result.understanding.scam_type == "fake_medical_insurance"
    store.close()


def test_invalid_content_is_refused_and_the_bot_keeps_serving(project_copy, db_target):
    settings, root = project_copy
    store = Store(db_target)
    engine = build_engine(settings, store)
    old = engine.brain
    (root / "content/scams/fake_loan.yml").write_text("id: fake_loan\nname: [broken\n", encoding="utf-8")
    report = Reloader(engine, settings).reload()
    assert not report.ok and engine.brain is old
    assert any("content/scams/fake_loan.yml" in str(p) for p in report.problems)
    assert "没有重新加载" in report.text()
    assert engine.handle("test", "u", "网上贷款说要先交解冻费才能放款").replies
    store.close()


def test_admin_api_needs_the_token(settings, db_target, understander, monkeypatch):
    monkeypatch.setenv("BOT_ADMIN_TOKEN", "t0ken")
    bot = RunningBot(replace(settings, web_port=0), None, db_target, understander, web=True).start()
    url = f"http://127.0.0.1:{bot.service.port}/api/admin/reload"
    try:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            try:
                urllib.request.urlopen(urllib.request.Request(url, b"", headers), timeout=30)
                raise AssertionError("accepted without the right token")
            except urllib.error.HTTPError as error:
                assert error.code == 403
        ok = urllib.request.urlopen(urllib.request.Request(url, b"", {"Authorization": "Bearer t0ken"}), timeout=60)
        data = json.loads(ok.read())
        assert data["ok"] is True and data["seconds"] < 30 and "已重新加载" in data["text"]
    finally:
        bot.stop()


def test_a_content_reload_reuses_the_trained_models_and_memory_stays_flat(project_copy, tmp_path, db_target):
    """Editing a response is not a reason to hold a second copy of the models (RSS grew 260 → 398 MB in 5)."""
    import gc
    import weakref

    settings, root = project_copy
    store = Store(db_target)
    engine = build_engine(settings, store)
    reloader = Reloader(engine, settings, heldout=tmp_path / "none.jsonl")
    models = engine.brain.understander.model.models
    old_brain = weakref.ref(engine.brain)
    path = root / "content" / "responses.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("请您再多说几句", "请您再多讲几句"), encoding="utf-8")
    for _ in range(3):
        assert reloader.reload().ok
    gc.collect()
    assert engine.brain.understander.model.models is models  # the same trained models, not a new copy
    assert old_brain() is None  # the swapped-out brain is released
    assert "多讲几句" in engine.brain.responses.render("utter_ask_details", {}).text  # the edit is live
    store.close()
