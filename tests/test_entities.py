import pytest

from bot.nlu.numbers import parse_amount


@pytest.mark.parametrize("text,value", [
    ("90多万元", 900_000), ("5万", 50_000), ("两千块", 2_000), ("三万多", 30_000), ("¥3,000", 3_000),
    ("1.2w", 12_000), ("十几万", 150_000), ("一万二", 12_000), ("三千五", 3_500), ("一百零五", 105),
])
def test_amounts_in_chinese_forms(text, value):
    assert parse_amount(text) == value


def entities(understander, text):
    return [(e["type"], e["text"]) for e in understander.understand(text).to_json()["entities"]]


def test_amounts_found_with_offsets_into_original(understander):
    text = "他让我先转１.２w，后来又要了两千块，一共90多万元，不是千万也不是百万保障"
    result = understander.understand(text).to_json()
    amounts = [e for e in result["entities"] if e["type"] == "amount"]
    assert [a["text"] for a in amounts] == ["１.２w", "两千块", "90多万元"]
    for a in amounts:
        assert text[a["start"]:a["end"]] == a["text"]


def test_phone_numbers_of_every_kind(understander):
    found = entities(understander, "对方号码 138-1234-5678，座机0315-6123456，还有400-123-4567和95588，境外+85261234567")
    phones = [t for kind, t in found if kind == "phone"]
    assert phones == ["138-1234-5678", "0315-6123456", "400-123-4567", "95588", "+85261234567"]


def test_bank_card_url_and_accounts(understander):
    found = entities(understander, "卡号6222 0212 3456 7890 123，QQ号：123456789，微信号wxid_abc123，"
                                   "链接 http://icbc-verify.top/login?a=1 和 t.cn/A6abcd")
    assert ("bank_card", "6222 0212 3456 7890 123") in found
    assert ("account", "123456789") in found and ("account", "wxid_abc123") in found
    assert ("url", "http://icbc-verify.top/login?a=1") in found and ("url", "t.cn/A6abcd") in found


def test_apps_and_impersonated_bodies(understander):
    found = entities(understander, "自称上海市浦东新区公安分局的人让我下载腾讯会议，又让我装一个叫安心贷的APP")
    assert ("organization", "上海市浦东新区公安分局") in found
    assert ("app", "腾讯会议") in found and ("app", "安心贷") in found


def test_id_numbers_are_not_reported_as_bank_cards(understander):
    found = entities(understander, "他要我的身份证号110101199003071234")
    assert not any(kind == "bank_card" for kind, _ in found)
