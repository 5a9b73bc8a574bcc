"""The Telegram inbox: updates kept until handled, one chat in order, shared by workers, none lost."""

import time

from telegram import Update

from bot.channels.telegram_inbox import MAX_ATTEMPTS, TelegramInbox
from bot.store import Store


def update(update_id: int, chat: int, text: str) -> Update:
    return Update.de_json({"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "text": text,
        "chat": {"id": chat, "type": "private"}, "from": {"id": chat, "is_bot": False, "first_name": "居民"}}}, None)


def test_two_workers_share_the_inbox_one_chat_at_a_time_in_order(db_target):
    stores = [Store(db_target), Store(db_target)]
    a, b = (TelegramInbox(store, app=None) for store in stores)
    batch = [update(1, 11, "对方让我转到安全账户"), update(2, 22, "你好"), update(3, 11, "我已经转了"),
             update(4, 33, "验证码告诉他了"), update(5, 22, "谢谢")]
    assert a.put(batch) == 5
    assert b.put(batch[:2]) == 0  # fetched again after a poller died: stored once
    first = a.claim()
    assert [r["update_id"] for r in first] == [1, 2, 4]  # the oldest of each chat
    assert b.claim() == []  # chat 11's and 22's next wait for the ones being handled
    a.done(first[0]["id"])
    assert [r["update_id"] for r in b.claim()] == [3]  # chat 11 goes on, in order, on the other worker
    with stores[0].transaction() as db:  # worker a dies: its claims lapse
        db.execute("update telegram_inbox set claimed_until = 0 where update_id in (2, 4)")
    again = b.claim()
    assert [r["update_id"] for r in again] == [2, 4] and all(r["attempts"] == 1 for r in again)
    assert a.waiting() == 4
    for store in stores:
        store.close()


def test_an_update_that_keeps_killing_its_worker_is_left_aside_and_its_chat_goes_on(db_target):
    store = Store(db_target)
    inbox = TelegramInbox(store, app=None)
    inbox.put([update(7, 44, "\u202e" * 50), update(8, 44, "我被骗了怎么办")])
    for _ in range(MAX_ATTEMPTS):
        assert [r["update_id"] for r in inbox.claim()] == [7]
        with store.transaction() as db:
            db.execute("update telegram_inbox set claimed_until = 0 where update_id = 7")
    assert [r["update_id"] for r in inbox.claim()] == [8]
    store.close()
