"""End to end: the real python-telegram-bot Application against a local fake Bot API server."""

import json
import urllib.request

import pytest

from bot.channels.telegram import split_text
from tests.harness import RunningBot

PRIVATE = 5550001



@pytest.fixture()
def bot(settings, fake, tmp_path, understander):
    running = RunningBot(settings, fake, tmp_path / "bot.db", understander).start()
    yield running
    running.stop()


def texts(fake, chat_id):
    return [m["text"] for m in fake.sent(chat_id)]


def test_warning_with_buttons_then_answer_by_button(bot, fake):
    fake.push_message(PRIVATE, "自称淘宝客服说我开通了百万保障，不关闭每个月都要扣费")
    warning = fake.wait_for(lambda: fake.sent(PRIVATE))[0]
    assert "冒充电商物流客服" in warning["text"] and "96110" in warning["text"]
    assert "parse_mode" not in warning  # residents' words are never read as markup
    markup = json.loads(warning["reply_markup"])
    payloads = [row[0]["callback_data"] for row in markup["inline_keyboard"]]
    assert payloads == ["/affirm", "/deny"]
    fake.push_callback(PRIVATE, "/affirm")
    urgent = fake.wait_for(lambda: fake.sent(PRIVATE)[1:])[0]
    assert "110" in urgent["text"] and "值班民警" in urgent["text"]
    assert fake.sent(method="answerCallbackQuery")
    rows = fake.wait_for(lambda: bot.store.query("select * from escalations"))
    assert len(rows) == 1 and rows[0]["channel"] == "telegram" and rows[0]["chat_id"] == str(PRIVATE)


def test_commands_even_with_junk_arguments(bot, fake):
    for command in ("/start", "/help xyz 123", "/hotline !!!", "/report <b>x</b>", "/nonsense"):
        fake.push_message(PRIVATE, command)
    replies = fake.wait_for(lambda: len(fake.sent(PRIVATE)) >= 5 and texts(fake, PRIVATE))
    assert "反诈小助手" in replies[0]
    assert "我可以帮您" in replies[1]
    assert "96110" in replies[2] and "110" in replies[2]
    assert "12381" in replies[3]
    assert "我可以帮您" in replies[4]


def test_stickers_photos_and_voice_get_a_defined_answer(bot, fake):
    fake.push_message(PRIVATE, None, sticker={"file_id": "s1", "file_unique_id": "u1", "type": "regular",
                                              "width": 512, "height": 512, "is_animated": False,
                                              "is_video": False})
    fake.push_message(PRIVATE, None, voice={"file_id": "v1", "file_unique_id": "u2", "duration": 3})
    replies = fake.wait_for(lambda: len(fake.sent(PRIVATE)) >= 2 and texts(fake, PRIVATE))
    assert all("看不了" in r for r in replies)


def test_forwarded_sms_and_edited_messages_are_read(bot, fake):
    fake.push_message(PRIVATE, "【京东】您购买的商品存在质量问题，可申请双倍理赔，请加客服QQ 2834123456 办理",
                      forward_origin={"type": "hidden_user", "date": 1700000000, "sender_user_name": "某人"})
    first = fake.wait_for(lambda: texts(fake, PRIVATE))[0]
    assert "冒充电商物流客服" in first
    fake.push({"edited_message": {"message_id": 42, "date": 1700000000, "edit_date": 1700000100,
                                  "chat": {"id": PRIVATE, "type": "private"},
                                  "from": {"id": PRIVATE, "is_bot": False, "first_name": "居民"},
                                  "text": "有人出800块买我的银行卡，说只是走个账"}})
    second = fake.wait_for(lambda: texts(fake, PRIVATE)[1:])[0]
    assert "帮助信息网络犯罪活动罪" in second or "银行卡" in second


def test_groups_only_when_addressed(bot, fake):
    group = -100200300
    fake.push_message(group, "大家好，今天天气不错", user_id=8001, chat_type="supergroup")
    fake.push_message(group, "@fanzha_test_bot 有人让我把钱转到安全账户，是真的吗", user_id=8002,
                      chat_type="supergroup")
    replies = fake.wait_for(lambda: texts(fake, group))
    assert len(replies) == 1 and "110" in replies[0]


def test_long_replies_are_split_under_the_limit():
    text = "\n".join("这是一行很长的说明文字，" * 20 for _ in range(40))
    pieces = split_text(text)
    assert len(pieces) > 1 and all(len(p) <= 4096 for p in pieces)
    assert "".join(p.replace("\n", "") for p in pieces) == text.replace("\n", "")


def test_flood_from_one_user_is_calmed_but_nothing_is_lost(bot, fake):
    for i in range(20):
        fake.push_message(PRIVATE, f"你好 {i}")
    fake.push_message(PRIVATE, "那个警官还在电话里让我把钱转到安全账户，我现在就在银行柜台")
    # Wait for each thing asserted, not for something else: the urgent reply, the notice, the rows.
    fake.wait_for(lambda: any("值班民警" in r for r in texts(fake, PRIVATE)), timeout=30)  # always goes out
    fake.wait_for(lambda: any("慢一点" in r or "稍等" in r for r in texts(fake, PRIVATE)), timeout=30)
    fake.wait_for(lambda: bot.store.query("select * from escalations"), timeout=30)
    fake.wait_for(lambda: bot.store.query("select count(*) n from messages where direction='in'")[0]["n"] == 21,
                  timeout=30)
    assert len(texts(fake, PRIVATE)) <= 9  # every message was handled by now: the calmed replies stayed calm


def test_429_and_500_from_telegram_are_retried(bot, fake):
    fake.fail("sendMessage", status=429, retry_after=1)
    fake.fail("sendMessage", status=500)
    fake.push_message(PRIVATE, "你好")
    reply = fake.wait_for(lambda: texts(fake, PRIVATE), timeout=30)
    assert "反诈小助手" in reply[0]


def test_a_timed_out_send_is_retried(bot, fake):
    fake.stall("sendMessage", 7)  # longer than python-telegram-bot's 5 s read timeout
    fake.push_message(PRIVATE, "你好")
    reply = fake.wait_for(lambda: texts(fake, PRIVATE), timeout=40)
    assert "反诈小助手" in reply[0]


def test_checks_answer_official_unknown_and_lookalike(bot, fake):
    for text in ("/check 95588", "这个号码 13912345678 是骗子吗", "这个链接能点吗 http://icbc-verify.top/login"):
        fake.push_message(PRIVATE, text)
    replies = fake.wait_for(lambda: len(fake.sent(PRIVATE)) >= 3 and texts(fake, PRIVATE))
    assert "✅" in replies[0] and "工商银行" in replies[0]
    assert "❔" in replies[1] and "不代表安全" in replies[1]
    assert "⚠️" in replies[2] and "icbc.com.cn" in replies[2]


def test_state_survives_a_restart(settings, fake, db_target, understander):
    first = RunningBot(settings, fake, db_target, understander).start()
    fake.push_message(PRIVATE, "网上贷款说我银行卡号填错了资金被冻结，要先交解冻费才能放款")
    fake.wait_for(lambda: texts(fake, PRIVATE))
    first.stop()
    second = RunningBot(settings, fake, db_target, understander).start()
    try:
        fake.push_callback(PRIVATE, "/affirm")  # "已经交了" to the question asked before the restart
        reply = fake.wait_for(lambda: texts(fake, PRIVATE)[1:])[0]
        assert "110" in reply and "止付" in reply
    finally:
        second.stop()


def test_webhook_checks_the_secret_token(settings, fake, db_target, understander, monkeypatch):
    monkeypatch.setenv("BOT_WEB_PORT", "0")
    from bot.config import load_settings

    local = load_settings(settings.root / "config.yml")
    local.web_port = 0
    running = RunningBot(local, fake, db_target, understander,
                         webhook_url="https://example.invalid/telegram/webhook", secret="s3cret").start()
    try:
        assert fake.sent(method="setWebhook")[0]["secret_token"] == "s3cret"
        url = f"http://127.0.0.1:{running.service.port}/telegram/webhook"
        update = {"update_id": 1, "message": {"message_id": 1, "date": 1700000000, "text": "你好",
                                             "chat": {"id": PRIVATE, "type": "private"},
                                             "from": {"id": PRIVATE, "is_bot": False, "first_name": "居民"}}}
        body = json.dumps(update).encode()
        bad = urllib.request.Request(url, body, {"Content-Type": "application/json",
                                                 "X-Telegram-Bot-Api-Secret-Token": "wrong"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bad, timeout=10)
        assert refused.value.code == 403
        good = urllib.request.Request(url, body, {"Content-Type": "application/json",
                                                  "X-Telegram-Bot-Api-Secret-Token": "s3cret"})
        assert urllib.request.urlopen(good, timeout=10).status == 200
        assert "反诈小助手" in fake.wait_for(lambda: texts(fake, PRIVATE))[0]
    finally:
        running.stop()
