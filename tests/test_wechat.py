"""The WeChat Official Account channel end to end: signed (and encrypted) requests as WeChat sends them,
through the real HTTP service, against a local fake of WeChat's API."""

from __future__ import annotations

import hashlib
import time
import urllib.error
import urllib.request
from dataclasses import replace

import pytest

from tests.fakewechat import AES_KEY, APP_ID, APP_SECRET, TOKEN, FakeWeChatAPI, WeChatUser
from tests.harness import RunningBot

URGENT = "自称公安局的人说我涉嫌洗钱，让我把存款转到安全账户，我现在在银行柜台正在转"


@pytest.fixture()
def wechat_api():
    api = FakeWeChatAPI().start()
    yield api
    api.stop()


def start_bot(settings, tmp_path, understander, monkeypatch, api, safe=False, secret=APP_SECRET):
    monkeypatch.setenv("WECHAT_TOKEN", TOKEN)
    monkeypatch.setenv("WECHAT_APP_ID", APP_ID)
    monkeypatch.setenv("WECHAT_APP_SECRET", secret)
    monkeypatch.setenv("WECHAT_API_BASE_URL", api.base_url)
    if safe:
        monkeypatch.setenv("WECHAT_AES_KEY", AES_KEY)
    else:
        monkeypatch.delenv("WECHAT_AES_KEY", raising=False)
    bot = RunningBot(replace(settings, web_port=0), None, tmp_path / "bot.db", understander, web=True).start()
    bot.url = f"http://127.0.0.1:{bot.service.port}"
    return bot


@pytest.fixture()
def bot(settings, tmp_path, understander, monkeypatch, wechat_api):
    running = start_bot(settings, tmp_path, understander, monkeypatch, wechat_api)
    yield running
    running.stop()


def test_server_verification_echoes_only_for_a_valid_signature(bot):
    timestamp, nonce = str(int(time.time())), "12345"
    good = hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce])).encode()).hexdigest()
    url = f"{bot.url}/wechat?timestamp={timestamp}&nonce={nonce}&echostr=hello123"
    with urllib.request.urlopen(f"{url}&signature={good}", timeout=10) as response:
        assert response.read() == b"hello123"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{url}&signature={'0' * 40}", timeout=10)
    assert refused.value.code == 403


def test_a_fake_police_chat_is_warned_and_escalates_on_the_same_queue(bot):
    user = WeChatUser(bot.url)
    status, reply, _ = user.send(URGENT)
    assert status == 200 and "110" in reply and "会尽快联系您" in reply  # the desk can write back (below)
    rows = bot.store.query("select channel, chat_id, contact, risk from escalations")
    assert rows and rows[0]["channel"] == "wechat" and rows[0]["chat_id"] == user.openid
    assert rows[0]["risk"] in ("high", "urgent")
    assert bot.store.query("select kind from outbox")[0]["kind"] == "staff_alert"


def test_without_the_customer_service_api_no_contact_is_promised(settings, tmp_path, understander, monkeypatch,
                                                                   wechat_api):
    running = start_bot(settings, tmp_path, understander, monkeypatch, wechat_api, secret="")
    try:
        status, reply, _ = WeChatUser(running.url).send(URGENT)
        assert status == 200 and "110" in reply and "会尽快联系您" not in reply  # the desk could not write back
        assert "手机号" in reply  # … so it asks for a phone number instead
    finally:
        running.stop()


def test_the_desk_writes_back_through_the_customer_service_api(bot, wechat_api):
    user = WeChatUser(bot.url)
    user.send(URGENT)
    escalation = bot.store.query("select id from escalations")[0]["id"]
    bot.engine.escalations.say(escalation, "您好，我是县反诈中心民警。请先别转账，把柜台电话告诉我。", "officer")
    sent = wechat_api.wait_for(lambda: [b for b in wechat_api.sent() if "县反诈中心民警" in str(b)])
    assert sent[0]["touser"] == user.openid and sent[0]["msgtype"] == "text"
    assert "值班民警】您好" in sent[0]["text"]["content"]
    status, reply, _ = user.send("好的我没转，柜台电话是0315-1234567")
    assert status == 200 and reply  # the bot still answers …
    notes = bot.wait_rows("select note from escalation_events where action = 'reply'")
    assert "我没转" in notes[0]["note"]  # … and the desk gets the answer
    assert bot.store.query("select count(*) n from outbox where kind = 'staff_update'")[0]["n"] >= 1


def test_outside_the_48_hour_window_the_desk_is_told_to_call(bot, wechat_api):
    user = WeChatUser(bot.url)
    user.send(URGENT)
    wechat_api.errors["/cgi-bin/message/custom/send"] = [45015]
    bot.engine.escalations.say(1, "您好，我是反诈中心民警", "officer")
    events = bot.wait_rows("select note from escalation_events where action = 'message_undelivered'")
    assert "48" in events[0]["note"]
    assert not bot.store.query("select 1 from escalation_events where action = 'message_sent'")


def test_a_bad_signature_gets_403_and_is_not_processed(bot):
    user = WeChatUser(bot.url, token="not-the-token")
    status, _, _ = user.send(URGENT)
    assert status == 403
    assert bot.store.query("select count(*) n from messages")[0]["n"] == 0


def test_a_message_retried_three_times_is_answered_once(bot):
    user = WeChatUser(bot.url)
    first = user.send("有人加我微信说刷单返利，先垫付三百", msg_id=424242)
    retries = [user.send("有人加我微信说刷单返利，先垫付三百", msg_id=424242) for _ in range(3)]
    assert first[1] and all(status == 200 and text == "" for status, text, _ in retries)
    assert bot.store.query("select count(*) n from messages where direction = 'in'")[0]["n"] == 1


def test_follow_up_choices_become_numbers(bot):
    user = WeChatUser(bot.url)
    _, reply, _ = user.send("有个自称客服的人说我的快递丢了要理赔，让我下载一个会议软件")
    assert "回复数字：" in reply, reply
    _, answer, _ = user.send("１")  # a full-width digit, as a phone keyboard may send it
    assert answer and "回复数字" not in answer.split("\n")[0]
    said = bot.store.query("select text from messages where direction = 'in' order by id")
    assert said[-1]["text"].startswith("/"), said  # the number was read as the choice's payload


def test_a_slow_reply_goes_out_through_the_customer_service_api(bot, wechat_api):
    bot.service.wechat.passive_seconds = 0.0  # as if understanding took longer than WeChat waits
    user = WeChatUser(bot.url)
    status, passive, _ = user.send(URGENT)
    assert status == 200 and passive == ""
    sent = wechat_api.wait_for(lambda: wechat_api.sent())
    assert sent and sent[0]["touser"] == user.openid and "110" in sent[0]["text"]["content"]


def test_an_expired_token_is_refreshed_and_the_send_retried_once(bot, wechat_api):
    bot.service.wechat.passive_seconds = 0.0
    user = WeChatUser(bot.url)
    user.send("你好")
    wechat_api.wait_for(lambda: wechat_api.sent())
    tokens_before = len(wechat_api.sent("/cgi-bin/token"))
    wechat_api.expire_tokens()
    user.send("反诈热线是多少")
    # the refused call, a new token, the same call again
    assert wechat_api.wait_for(lambda: len(wechat_api.sent()) >= 3 and len(wechat_api.sent("/cgi-bin/token")) > tokens_before)
    assert len(wechat_api.sent("/cgi-bin/token")) == tokens_before + 1
    assert wechat_api.sent()[-1]["text"]["content"] == wechat_api.sent()[-2]["text"]["content"]
    token = bot.store.query("select value from kv")[0]["value"]
    assert "ACCESS_TOKEN_" in token  # kept in the database, shared by every worker


def test_voice_with_and_without_recognition(bot):
    user = WeChatUser(bot.url)
    _, heard = user.voice("自称公安的人让我把钱转到安全账户我正在转")
    assert "110" in heard
    _, unheard = user.voice("")
    assert "没听清" in unheard and "打字" in unheard


def test_subscribe_welcomes_and_unsubscribe_stops_pushes(bot):
    user = WeChatUser(bot.url, openid="oFollower42")
    _, welcome = user.event("subscribe")
    assert "反诈" in welcome and "长辈模式" in welcome
    assert bot.store.query("select active from subscribers where channel = 'wechat'")[0]["active"] == 1
    status, nothing = user.event("unsubscribe")
    assert status == 200 and nothing == ""
    assert bot.store.query("select active from subscribers where channel = 'wechat'")[0]["active"] == 0


def test_an_image_gets_a_kind_answer(bot):
    user = WeChatUser(bot.url)
    status, body = user.post(user.xml("image", {"PicUrl": "http://127.0.0.1/x.jpg", "MediaId": "m1"}, 99))
    assert status == 200 and "复制" in user.reply_text(body)


def test_safe_mode_decrypts_and_encrypts(settings, tmp_path, understander, monkeypatch, wechat_api):
    running = start_bot(settings, tmp_path, understander, monkeypatch, wechat_api, safe=True)
    try:
        user = WeChatUser(running.url, safe=True)
        status, reply, _ = user.send(URGENT)
        assert status == 200 and "110" in reply
        forged = WeChatUser(running.url, safe=True)
        forged.crypto = type(user.crypto)(TOKEN, "B" * 43, APP_ID)  # the wrong key: the signature fails
        assert forged.send(URGENT)[0] == 403
    finally:
        running.stop()


def test_the_menu_file_is_checked_and_installed(bot, wechat_api, tmp_path):
    from bot.channels.wechat import install_menu, load_menu
    from bot.config import PROJECT_ROOT
    from bot.dialogue.engine import COMMANDS
    from bot.problems import InvalidFiles

    menu = load_menu(PROJECT_ROOT / "content" / "wechat_menu.yml", PROJECT_ROOT, set(COMMANDS))
    assert [b["name"] for b in menu["button"]] == ["我要求助", "查号码", "更多"]
    install_menu(bot.service.wechat, menu)
    assert wechat_api.sent("/cgi-bin/menu/create")[-1] == menu
    bad = tmp_path / "wechat_menu.yml"
    bad.write_text("button:\n  - name: 一个太长太长的菜单名字\n    key: /nothing\n", encoding="utf-8")
    with pytest.raises(InvalidFiles) as refused:
        load_menu(bad, tmp_path, set(COMMANDS))
    assert sorted(p.line for p in refused.value.problems) == [2, 3]


def test_a_menu_click_and_todays_warning(bot):
    from datetime import date

    bot.engine.subscriptions.add_staff_alert(str(date.today()), "警惕冒充客服", "自称客服让您退款、共享屏幕的，都是骗子。", "officer")
    user = WeChatUser(bot.url)
    _, reply = user.event("CLICK", "/today")
    assert "警惕冒充客服" in reply and "96110" in reply


def test_the_daily_warning_is_mass_sent_once(bot, wechat_api):
    from datetime import date

    from bot.channels.wechat import mass_send

    bot.engine.subscriptions.add_staff_alert(str(date.today()), "警惕刷单", "先垫付再返利的刷单都是诈骗。", "officer")
    first = mass_send(bot.service.wechat, "反诈咨询 96110")
    again = mass_send(bot.service.wechat, "反诈咨询 96110")
    sent = wechat_api.sent("/cgi-bin/message/mass/sendall")
    assert first["status"] == "sent" and again["status"] == "already sent" and len(sent) == 1
    assert sent[0]["filter"]["is_to_all"] is True and "警惕刷单" in sent[0]["text"]["content"]


def test_malformed_bodies_with_a_valid_signature_get_a_defined_answer(bot):
    user = WeChatUser(bot.url)
    assert user.post("<xml><not closed")[0] == 400
    assert user.post("\x00\x01 binary")[0] == 400
    status, body = user.post(user.xml("text", {"Content": ""}, 777))  # an empty text message
    assert status == 200 and (body == "success" or user.reply_text(body))
    assert user.post("<xml>" + "x" * 70_000 + "</xml>")[0] == 413
