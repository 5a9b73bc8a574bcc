"""Conversations: test stories replayed through the engine, located story errors, terminal chat."""

import json
import sqlite3
import time
from pathlib import Path

import pytest

from bot.app import build_engine
from bot.dialogue.stories import load_stories
from bot.dialogue.testing import run_test_stories
from bot.problems import InvalidFiles
from bot.store import Store

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def engine(settings, understander, tmp_path):
    store = Store(tmp_path / "bot.db")
    yield build_engine(settings, store, understander)
    store.close()


def test_every_test_story_passes(engine):
    count, failures = run_test_stories(engine, ROOT / "tests" / "stories")
    assert count >= 15
    assert not failures, "\n".join(str(f) for f in failures)


def test_unsupported_story_constructs_are_located(tmp_path):
    (tmp_path / "bad.yml").write_text(
        'version: "3.1"\nstories:\n- story: uses a checkpoint\n  steps:\n  - intent: greet\n'
        '  - checkpoint: later\n  - action: utter_greet\n- story: a form\n  steps:\n  - active_loop: my_form\n',
        encoding="utf-8")
    with pytest.raises(InvalidFiles) as info:
        load_stories(tmp_path, tmp_path)
    messages = [str(p) for p in info.value.problems]
    assert any(m.startswith("bad.yml:6: 'checkpoint' is not supported") for m in messages)
    assert any(m.startswith("bad.yml:10: 'active_loop' is not supported") for m in messages)


def test_the_warning_quotes_the_residents_own_words(engine):
    result = engine.handle("test", "quote", "自称京东客服的人说要给我退款，让我下载一个会议软件，还问我要验证码")
    text = result.replies[0].text
    assert result.actions == ["action_warn"] and not result.escalation_id
    assert "“会议软件”" in text and "验证码" in text


def test_a_restart_mid_conversation_loses_nothing(settings, understander, tmp_path):
    store = Store(tmp_path / "bot.db")
    first = build_engine(settings, store, understander)
    first.handle("test", "r1", "网上贷款说我银行卡号填错了资金被冻结，要先交解冻费才能放款")
    store.close()
    store = Store(tmp_path / "bot.db")
    second = build_engine(settings, store, understander)
    result = second.handle("test", "r1", "/affirm")  # the question asked before the restart
    assert result.escalation_id and result.replies[0].urgent
    store.close()


def test_old_conversations_expire(engine):
    engine.handle("test", "old", "网上贷款说我银行卡号填错了资金被冻结，要先交解冻费才能放款")
    state = engine.store.load_state("test:old")
    state["updated_at"] = time.time() - 3 * 24 * 3600
    engine.store.save_turn("test:old", "test", "old", state, [])
    result = engine.handle("test", "old", "/affirm")  # the old question no longer counts
    assert not result.escalation_id


def test_terminal_chat_json_transfer_in_progress(run_bot, tmp_path):
    conversation = "你好\n有个自称公安局的人让我把存款转到安全账户，我现在正在银行排队转账\n谢谢\n"
    proc = run_bot("chat", "--json", "--user", "resident-1", input_text=conversation)
    assert proc.returncode == 0, proc.stderr.decode()
    replies = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert set(replies[0]) == {"text", "scam_type", "risk", "escalation_id", "buttons"}
    urgent = replies[1]
    assert urgent["escalation_id"] == 1 and urgent["risk"] == "urgent" and urgent["scam_type"] == "fake_police"
    assert replies[2]["escalation_id"] is None
    row = sqlite3.connect(tmp_path / "bot.db").execute(
        "select channel, chat_id, scam_type, risk, status from escalations").fetchall()
    assert row == [("terminal", "resident-1", "fake_police", "urgent", "open")]


def test_terminal_chat_plain_text_with_buttons(run_bot):
    proc = run_bot("chat", input_text="客服说我开通了百万保障，不关闭每个月都要扣费\n")
    out = proc.stdout.decode()
    assert out.startswith("反诈助手：⚠️") and "[还在通话]" in out and "[已经挂了]" in out
