"""Daily warnings to subscribers, staff /alert and /reload, the quiz and the case of the week."""

import asyncio
from pathlib import Path
from datetime import date

from telegram import Bot

from bot.channels.telegram import TelegramMessenger
from bot.outreach.broadcast import Broadcaster, parse_alert_command
from bot.outreach.subscriptions import Subscriptions
from bot.store import Store
from tests.harness import OFFICER, RunningBot

STRANGER, RESIDENT = 9999, 5550001




def run_broadcast(fake, store, day, rate, stop_after=None):
    async def main():
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            broadcaster = Broadcaster(Subscriptions(store), TelegramMessenger(bot), Path(__file__).parent / "no-alerts", "反诈咨询 96110", rate)
            task = asyncio.create_task(broadcaster.run(day))
            if stop_after is None:
                return await task
            while len(fake.sent()) < stop_after:
                await asyncio.sleep(0.01)
            task.cancel()  # a crash in the middle of the broadcast
            try:
                await task
            except asyncio.CancelledError:
                return None
    return asyncio.run(main())


def test_5000_subscribers_once_each_never_above_the_rate(fake, db_target):
    store = Store(db_target)
    subscriptions = Subscriptions(store)
    with store.transaction() as db:
        db["subscribers"].insert_all([{"channel": "telegram", "chat_id": str(100000 + i), "active": 1,
                                       "subscribed_at": "2026-01-01 00:00:00"} for i in range(5000)])
    fake.blocked_chats = {str(100000 + i) for i in range(0, 5000, 500)}  # ten blocked the bot
    day = str(date.today())
    subscriptions.add_staff_alert(day, "警惕“注销百万保障”骗局", "自称客服让您注销百万保障的，都是骗子。", "officer")
    rate = 400.0
    run_broadcast(fake, store, day, rate, stop_after=1500)  # the first run dies after about 1,500 messages
    result = run_broadcast(fake, store, day, rate)            # … and the next one resumes
    sends = fake.sent()
    per_chat = {}
    for message in sends:
        per_chat[message["chat_id"]] = per_chat.get(message["chat_id"], 0) + 1
    assert max(per_chat.values()) == 1                        # nobody got it twice
    assert len(per_chat) >= 5000 - 10 - 8                     # all but the blocked (and ≤ 8 cut off mid-send)
    # Messages cut off mid-send stay "sending" (unknown) and are never sent again.
    assert result["sent"] <= len(per_chat) <= result["sent"] + result.get("sending", 0)
    assert 10 - result.get("sending", 0) <= result["blocked"] <= 10  # blocked users are dropped …
    active = store.query("select count(*) n from subscribers where active = 1")[0]["n"]
    assert active == 5000 - result["blocked"]                                # … from the subscribers
    times = sorted(m["_at"] for m in sends)
    window, start = 0, 0
    for end in range(len(times)):
        while times[end] - times[start] >= 1.0:
            start += 1
        window = max(window, end - start + 1)
    assert window <= rate * 1.05, f"{window} messages in one second"
    assert "退订" in sends[0]["text"] and "96110" in sends[0]["text"]
    store.close()


def test_alert_command_parsing():
    assert parse_alert_command("/alert 警惕刷单\n兼职刷单都是骗局", date(2026, 12, 1)) == \
        ("2026-12-01", "警惕刷单", "兼职刷单都是骗局")
    assert parse_alert_command("/alert 2026-12-05 冒充医保局：医保局不会让您转账") == \
        ("2026-12-05", "冒充医保局", "医保局不会让您转账")
    assert parse_alert_command("/alert") is None and parse_alert_command("/alert 只有标题") is None


def test_subscribe_alert_broadcast_and_staff_reload_on_telegram(settings, fake, db_target, understander, staff_env):
    bot = RunningBot(settings, fake, db_target, understander).start()
    try:
        fake.push_message(RESIDENT, "/subscribe")
        assert "订阅成功" in fake.wait_for(lambda: fake.sent(RESIDENT))[0]["text"]
        fake.push_message(STRANGER, "/alert 假标题\n假正文")
        assert "只供值班民警" in fake.wait_for(lambda: fake.sent(STRANGER))[0]["text"]
        fake.push_message(OFFICER, "/alert 警惕冒充医保局\n医保局不会打电话让您转账，接到这种电话请直接挂断。")
        assert "已保存" in fake.wait_for(lambda: fake.sent(OFFICER))[0]["text"]
        fake.push_message(OFFICER, "/broadcast")
        pushed = fake.wait_for(lambda: fake.sent(RESIDENT)[1:])[0]
        assert "警惕冒充医保局" in pushed["text"]
        fake.push_message(OFFICER, "/broadcast")  # a second push reaches nobody twice
        fake.wait_for(lambda: len(fake.sent(OFFICER)) >= 3)
        assert len(fake.sent(RESIDENT)) == 2
        fake.push_message(RESIDENT, "退订")
        assert "已为您退订" in fake.wait_for(lambda: fake.sent(RESIDENT)[2:])[0]["text"]
        fake.push_message(STRANGER, "/reload")
        fake.wait_for(lambda: len(fake.sent(STRANGER)) >= 2)
        fake.push_message(OFFICER, "/reload")
        reply = fake.wait_for(lambda: [m for m in fake.sent(OFFICER) if "已重新加载" in m["text"]], timeout=60)[0]
        assert "测试集准确率" in reply["text"]
    finally:
        bot.stop()


def test_quiz_and_case_of_the_week(settings, fake, db_target, understander):
    bot = RunningBot(settings, fake, db_target, understander).start()
    try:
        fake.push_message(RESIDENT, "/quiz")
        first = fake.wait_for(lambda: fake.sent(RESIDENT))[0]
        assert "第 1/3 题" in first["text"]
        import json

        for number in range(3):
            question = fake.sent(RESIDENT)[-1]
            buttons = json.loads(question["reply_markup"])["inline_keyboard"]
            assert len(buttons) == 3
            fake.push_callback(RESIDENT, buttons[0][0]["callback_data"])
            fake.wait_for(lambda: len(fake.sent(RESIDENT)) >= 3 + 2 * number)
        texts = [m["text"] for m in fake.sent(RESIDENT)]
        assert any("答对了" in t or "正确答案是" in t for t in texts)
        assert "测验结束" in texts[-1]
        fake.wait_for(lambda: bot.store.query("select count(*) n from quiz_answers")[0]["n"] == 3)
        fake.push_message(RESIDENT, "/case")
        assert "本周典型案例" in fake.wait_for(lambda: [m for m in fake.sent(RESIDENT) if "本周典型案例" in m["text"]])[0]["text"]
    finally:
        bot.stop()
