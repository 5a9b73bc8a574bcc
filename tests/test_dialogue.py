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


def test_a_restart_mid_conversation_loses_nothing(settings, understander, db_target):
    store = Store(db_target)
    first = build_engine(settings, store, understander)
    first.handle("test", "r1", "网上贷款说我银行卡号填错了资金被冻结，要先交解冻费才能放款")
    store.close()
    store = Store(db_target)
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


# --- Holding the thread: follow-ups read against the situation, honest promises, the step that fits ---------

def talk(engine, channel, user, *messages):
    return [engine.handle(channel, user, m) for m in messages]


def test_a_short_answer_is_read_against_what_was_asked(engine):
    first, second = talk(engine, "web", "code", "网上认识的客服说帮我办退款，让我把手机收到的验证码发给他", "发了")
    assert second.escalation_id and any(r.urgent for r in second.replies)
    situation = second.slots["situation"]
    assert situation["gave_code"] is True


def test_once_a_scam_is_established_no_reply_says_there_is_no_sign_of_one(engine):
    turns = talk(engine, "web", "after", "那个警官还在电话里，让我把钱转到安全账户，我正在银行排队",
                 "那怎么办啊 我老公还不知道", "咋办")
    assert turns[0].escalation_id
    for turn in turns[1:]:
        text = "\n".join(r.text for r in turn.replies)
        assert "没有发现诈骗" not in text and "没太听明白" not in text and "110" in text


def test_the_desk_promises_a_call_only_when_it_can_make_one(engine):
    web = talk(engine, "web", "promise", "自称公安的人让我把存款转到安全账户，我现在在银行柜台")[0]
    text = web.replies[0].text
    assert web.escalation_id and "会尽快联系您" not in text and "请您现在就拨打 110" in text
    later = talk(engine, "web", "promise", "我电话13812345678")[0]
    said = "\n".join(r.text for r in later.replies)
    assert "会尽快打给您" in said
    row = engine.store.query("select contact from escalations where id = :id", {"id": web.escalation_id})[0]
    assert "13812345678" in row["contact"]
    telegram = talk(engine, "telegram", "555", "自称公安的人让我把存款转到安全账户，我现在在银行柜台")[0]
    assert "会尽快联系您" in telegram.replies[0].text  # the desk can message back on Telegram


def test_a_pasted_sms_is_never_told_to_hang_up(engine):
    turn = talk(engine, "web", "sms", "【国家税务总局】您有一笔退税2386元待领取，请于48小时内登录 tax-tuishui.top 填写银行卡号领取")[0]
    text = "\n".join(r.text for r in turn.replies)
    assert turn.understanding.scam_type != "not_scam" and "挂断" not in text and not turn.escalation_id


def test_the_next_step_fits_what_was_handed_over(engine):
    turns = talk(engine, "web", "card", "有人出两千块收我的银行卡，说只是走个账", "我已经把卡寄给他了", "那现在咋办")
    assert turns[1].escalation_id
    assert "挂失" in turns[2].replies[0].text and "注销" in turns[2].replies[0].text
    turns = talk(engine, "web", "paid", "群里老师带我投资一个平台，说稳赚不赔", "I already sent 5000", "怎么办")
    assert turns[1].escalation_id
    assert turns[1].slots["situation"]["amount_paid"] == 5000
    assert "止付" in turns[2].replies[0].text


def test_blind_conversations_are_evaluated_through_the_engine(run_bot):
    proc = run_bot("evaluate", "--conversations", "tests/data/dev_conversations.jsonl", "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    figures = json.loads(proc.stdout)["conversations"]
    assert figures["conversations"] == 36 and figures["empty_promises"] == 0
    assert figures["escalated_in_time"] >= 15 and figures["facts_checked"] > 100


def test_a_long_story_is_judged_whole(engine):
    story = ("我今年七十三了，老伴走得早，儿子在外地打工，平时就我一个人在家。" * 70
             + "今天上午有个自称公安局的人打电话，说我的卡涉嫌洗钱，让我把存款转到安全账户，电话还没挂，我正要出门去银行。")
    assert len(story) > 2000
    turn = engine.handle("web", "long", story)
    assert turn.escalation_id and turn.replies[0].urgent


def test_a_lone_surrogate_or_nul_loses_no_escalation(engine):
    turn = engine.handle("web", "surrogate", "自称公安的人让我转到安全账户\ud800，我现在在银行柜台\x00")
    assert turn.escalation_id and turn.replies[0].urgent
    stored = engine.store.query("select text from messages where direction = 'in' and key = 'web:surrogate'")[0]["text"]
    assert "\ufffd" in stored and "\x00" not in stored


def test_more_of_a_story_already_warned_about_gets_the_next_step_not_the_same_warning(engine):
    turns = talk(engine, "web", "again", "自称北京市公安局的人打电话说我的银行卡涉嫌洗钱，让我配合调查", "还在通话",
                 "他让我去银行把钱转到安全账户 我现在在路上了", "8万")
    assert turns[1].escalation_id
    on_the_way = turns[2].replies[-1].text
    assert "不要再去银行" in on_the_way and "柜台" in on_the_way
    last = "\n".join(r.text for r in turns[3].replies)
    assert "⚠️" not in last and "还在和您通话吗" not in last and not turns[3].replies[-1].buttons
    assert "8万" in last and "110" in last  # the new signal, quoted, and what to do now


@pytest.mark.parametrize("text", [
    "想咨询个事 俺爸今年六十八了 一个人在村里住 网上认识了一个女的 让他先垫上三万解冻费",
    "抖音上2600两箱的飞天茅台 这价正常吗 俺爸说是厂家清仓 已经转给人家微信了",
    "我是替我妈问的 有个电话说是京东金融的客服 让她把支付宝的钱转到监管账户",
])
def test_a_relative_at_risk_is_found_later_in_the_message(engine, text):
    turn = talk(engine, "web", "kin-" + str(abs(hash(text))), text)[0]
    assert turn.slots["situation"]["at_risk"] == "relative"


def test_a_scam_about_a_relative_is_still_the_residents_own_risk(engine):
    turn = talk(engine, "web", "kin-self", "有人打电话说我儿子出车祸了在医院抢救，让我马上转五万手术费")[0]
    assert turn.slots["situation"]["at_risk"] == "self" and turn.escalation_id


def test_money_leaving_in_a_story_the_bot_found_suspicious_escalates(engine):
    turns = talk(engine, "web", "suspect", "我爸今年68了 在快手上认识一个女的 天天视频聊天 不过每回都是黑屏只有声音",
                 "那女的说要来河北跟我爸过日子 先要八千八彩礼 还得要路费", "我爸现在揣着存折往镇上邮局走了 说要给她汇钱")
    assert not turns[0].escalation_id and turns[2].escalation_id
    assert "不像骗局" not in "\n".join(r.text for t in turns for r in t.replies)


def test_an_english_plea_from_a_friend_in_trouble_escalates(engine):
    turn = talk(engine, "telegram", "8801", "my friend on wechat asked me to transfer 8000 for his mom's hospital bill, "
                                            "he said it's urgent and he can't talk on the phone")[0]
    assert turn.escalation_id


def test_the_situation_adds_up_payments_and_reads_prices(engine):
    turns = talk(engine, "web", "steps", "俺奶奶接了个电话 说她开通了啥百万保障 不取消的话每个月扣八百 对方说是支付宝客服",
                 "她说已经转了两千了", "又转了三千 就刚才 我回来才看见", "我让她挂了")
    situation = turns[-1].slots["situation"]
    assert situation["amount_paid"] == 5000 and situation["at_risk"] == "relative" and situation["hung_up"]
    turns = talk(engine, "web", "price", "抖音上2600两箱的飞天茅台 这价正常吗 俺爸说是厂家清仓", "俺爸已经转了 转给人家微信了")
    situation = turns[-1].slots["situation"]
    assert situation["paid"] and situation["amount_paid"] == 2600
    turn = talk(engine, "web", "hotline", "今天下午有个96110的电话打给我 说是反诈中心的")[0]
    assert turn.slots["situation"]["amount_mentioned"] is None


@pytest.mark.parametrize("answer", ["好 俺先挂了", "电话也挂了", "好我关了"])
def test_short_answers_that_stop_it_are_understood(engine, answer):
    turns = talk(engine, "web", "stop-" + answer, "自称公安的人打电话让我开屏幕共享配合调查", "开了", answer)
    assert turns[-1].slots["situation"]["hung_up"] is True


def test_a_relative_at_risk_gets_steps_to_pass_on_and_a_call_back_is_no_payment(engine):
    turns = talk(engine, "web", "grandma", "我奶奶收到这个短信：【国家医保局】您的医保卡已被冻结，请于24小时内拨打010-53124567解冻",
                 "她说她已经打过去了 对方让她下载个app", "下了")
    assert not turns[1].slots["situation"]["paid"]  # 打过去 after 拨打 is a call, not money
    assert turns[2].slots["situation"]["installed_app"] and turns[2].escalation_id
    assert "转告您的家人" in turns[2].replies[-1].text
    turns = talk(engine, "web", "loan-mum", "俺娘想贷点款给俺弟盖房 在网上找了个贷款的 说不看征信",
                 "人家说她流水不够 要先打6000验资 她已经打过去了")
    assert turns[1].slots["situation"]["amount_paid"] == 6000


def test_a_warning_the_resident_corrects_is_withdrawn_but_a_defended_scammer_is_not(engine):
    turns = talk(engine, "web", "mine", "我想给我妈手机装个远程协助，她不会用的时候我能帮她弄，有啥安全的软件吗",
                 "不是 就是我自己想装", "我明天去银行给我妈转点生活费")
    assert "想多了" in turns[1].replies[0].text and not turns[2].escalation_id
    turns = talk(engine, "web", "defends", "公安局打电话说我涉嫌洗钱", "不是骗子 他有警官证", "我现在去银行转钱")
    assert turns[2].escalation_id  # "不是骗子" is what a deceived resident says: money leaving still escalates


def test_totals_and_several_further_payments_add_up(engine):
    turns = talk(engine, "web", "steps3", "有个炒股群 老师说有内部渠道能打新股 中签率百分之百", "我按他说的下了个app 先充了五千试试",
                 "后来又充了两万 上礼拜又加了三万")
    assert turns[-1].slots["situation"]["amount_paid"] == 55000 and turns[-1].slots["situation"]["installed_app"]
    turn = talk(engine, "web", "total", "游戏里说账号冻结了要家长转钱解冻 她偷偷拿我手机转了1200 后来又转了2000 一共三千二")[0]
    assert turn.slots["situation"]["amount_paid"] == 3200


def test_an_english_deposit_is_the_residents_own_words(engine):
    turns = talk(engine, "telegram", "dubai", "我在交友软件上认识个男的 说带我做外汇 有内部消息 稳赚不赔",
                 "I already deposited 20000 yuan on the platform he gave me, now I cant withdraw")
    assert turns[1].escalation_id and turns[1].slots["situation"]["amount_paid"] == 20000


def test_a_bare_number_right_after_we_asked_for_one_is_the_contact(engine):
    first = talk(engine, "web", "bare-number", "自称公安的人让我妈把存款转到安全账户，她现在在银行柜台")[0]
    assert first.escalation_id and "手机号" in first.replies[0].text
    later = talk(engine, "web", "bare-number", "13831726645 俺姓赵 你们快点")[0]
    assert "会尽快打给您" in "\n".join(r.text for r in later.replies)
    row = engine.store.query("select contact from escalations where id = :id", {"id": first.escalation_id})[0]
    assert "13831726645" in row["contact"]
