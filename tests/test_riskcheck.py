"""风险查询 and 举报: official, listed, unknown and lookalike values; reports confirmed by staff; imports."""

import json

import pytest

from bot.checks.riskcheck import normalise
from bot.checks.risklist import RiskList
from bot.store import Store
from tests.harness import OFFICER, STAFF_CHAT, RunningBot

RESIDENT, STRANGER = 5550009, 9999


def chat(run_bot, *lines, user="r1"):
    out = run_bot("chat", "--json", "--user", user, input_text="\n".join(lines) + "\n").stdout.decode()
    return [json.loads(line)["text"] for line in out.splitlines()]


@pytest.mark.parametrize("kind,raw,expected", [
    ("phone", "+86 138-1234-5678", "13812345678"), ("phone", "１３８ １２３４ ５６７８", "13812345678"),
    ("phone", "0315-612 3456", "03156123456"), ("phone", "+852 6123 4567", "0085261234567"),
    ("url", "ICBC-Verify.TOP/Login?x=1", "icbc-verify.top/login"), ("url", "http://t.cn/A6x，", "t.cn/a6x"),
    ("url", "icbc-verify.top/%E7%99%BB%E5%BD%95", "icbc-verify.top/登录"),
    ("url", "http://工商银行.com/a", "xn--czr93rq40bruk.com/a"),
    ("bank_card", "6222 0212 3456 7890 123", "6222021234567890123"),
])
def test_values_are_normalised(kind, raw, expected):
    assert normalise(kind, raw) == expected


def test_official_listed_unknown_and_lookalike_in_the_terminal(run_bot, tmp_path):
    store = Store(tmp_path / "bot.db")
    RiskList(store).add("phone", "0315-6123456", "fraud", "test", "冒充公安")
    store.close()
    official, listed, unknown, lookalike = chat(
        run_bot, "/check 95588", "这个号码 0315 612 3456 是骗子吗？", "帮我查一下这个电话 13912345678",
        "这个链接能点吗 icbc-verify.top/login。")
    assert "✅" in official and "中国工商银行客服的官方号码" in official
    assert "⛔" in listed and "冒充公安" in listed
    assert "❔" in unknown and "未在风险库中找到，不代表安全" in unknown
    assert "⚠️" in lookalike and "icbc" in lookalike and ".top" in lookalike
    assert not any("安全" in t and "不代表" not in t and "不要" not in t for t in (unknown, lookalike))


def test_a_report_confirmed_by_staff_changes_the_next_answer(run_bot):
    first = chat(run_bot, "我想举报一个号码", "骗子用 0851-66554433 打给我，说我涉嫌洗钱", user="a")
    assert "举报已记下" in first[1]
    listing = run_bot("reports", "--status", "new").stdout.decode()
    assert "0851-66554433" in listing
    report_id = int(listing.split()[0].lstrip("#"))
    assert run_bot("reports", "--confirm", str(report_id)).returncode == 0
    after = chat(run_bot, "/check 0851 6655 4433", user="b")
    assert "⛔" in after[0] and "群众举报" in after[0]


def test_import_reports_bad_rows_and_merges_duplicates(run_bot, tmp_path):
    csv_file = tmp_path / "list.csv"
    csv_file.write_text("kind,value,verdict,source,note\n"
                        "phone,+86 138 1234 5678,fraud,police,冒充客服\n"
                        ",13812345678,fraud,police,重复\n"
                        "url,icbc-verify.top/Login,fraud,police,\n"
                        "phone,not a number,fraud,police,\n"
                        "fax,123,fraud,police,\n"
                        "account,wxid_abc,maybe,police,\n", encoding="utf-8")
    proc = run_bot("risklist", "import", str(csv_file))
    errors = proc.stderr.decode()
    assert "list.csv:5:" in errors and "list.csv:6: unknown kind 'fax'" in errors and "list.csv:7: unknown verdict" in errors
    assert "imported 2 values (1 duplicates merged, 3 bad rows skipped)" in proc.stdout.decode()
    exported = run_bot("risklist", "export").stdout.decode()
    assert "13812345678" in exported and "icbc-verify.top/login" in exported


def test_two_hundred_numbers_and_sql_looking_text(run_bot):
    numbers = " ".join(f"1390000{i:04d}" for i in range(200))
    reply = chat(run_bot, f"帮我查一下这些号码 {numbers}")[0]  # 2,400 characters, read whole
    assert reply.count("❔") == 10 and "还有 190 个没有列出" in reply
    sneaky = chat(run_bot, "/check 13812345678'; DROP TABLE risk_list; --", "/check 13812345678")
    assert "❔" in sneaky[1]



def test_staff_block_and_report_review_on_telegram(settings, fake, db_target, understander, staff_env):
    bot = RunningBot(settings, fake, db_target, understander).start()
    try:
        fake.push_message(STRANGER, "/block 13800001111")
        assert "只供值班民警" in fake.wait_for(lambda: fake.sent(STRANGER))[0]["text"]
        fake.push_message(OFFICER, "/block 138-0000-1111 冒充京东客服")
        assert "已加入风险库" in fake.wait_for(lambda: fake.sent(OFFICER))[0]["text"]
        fake.push_message(RESIDENT, "这个号码 13800001111 是骗子吗")
        assert "⛔" in fake.wait_for(lambda: fake.sent(RESIDENT))[0]["text"]
        fake.push_message(RESIDENT, "/report")
        fake.wait_for(lambda: len(fake.sent(RESIDENT)) >= 2)
        fake.push_message(RESIDENT, "这个网址 http://jd-refund.vip/pay 说给我退款")
        fake.wait_for(lambda: len(fake.sent(RESIDENT)) >= 3)
        digest = fake.wait_for(lambda: [m for m in fake.sent(STAFF_CHAT) if "群众举报" in m["text"]], timeout=40)[0]
        assert "jd-refund.vip" in digest["text"]
        button = json.loads(digest["reply_markup"])["inline_keyboard"][0][0]["callback_data"]
        fake.push_callback(STAFF_CHAT, button, user_id=OFFICER)
        fake.wait_for(lambda: bot.store.query("select status from reports")[0]["status"] == "confirmed")
        fake.push_message(RESIDENT, "/check jd-refund.vip/pay")
        assert "⛔" in fake.wait_for(lambda: fake.sent(RESIDENT)[3:])[0]["text"]
        fake.push_message(OFFICER, "/unblock 13800001111")
        fake.wait_for(lambda: not bot.store.query("select * from risk_list where value = '13800001111'"))
    finally:
        bot.stop()
