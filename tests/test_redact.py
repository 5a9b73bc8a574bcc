"""Masking: no mobile number, bank card or ID number survives, in any digit form (property-based)."""

import re

from hypothesis import given, settings, strategies as st

from bot.redact import mask

FULL = str.maketrans({str(i): chr(0xFF10 + i) for i in range(10)})
SEPARATORS = st.sampled_from(["", " ", "-", ".", "－", "．", "　"])


def digits(text: str) -> str:
    folded = text.translate({0xFF10 + i: str(i) for i in range(10)})
    return re.sub(r"\D", "", folded)


def spread(number: str, groups: list[int], sep: str, full: bool) -> str:
    parts, start = [], 0
    for size in groups:
        parts.append(number[start:start + size])
        start += size
    text = sep.join(p for p in parts if p)
    return text.translate(FULL) if full else text


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"1[3-9]\d{9}", fullmatch=True), SEPARATORS, st.booleans(),
       st.sampled_from(["我电话", "对方号码是", "他说打", ""]), st.sampled_from(["", "，快点", " 联系他"]))
def test_no_mobile_number_survives(number, sep, full, before, after):
    text = before + spread(number, [3, 4, 4], sep, full) + after
    assert number not in digits(mask(text)), (text, mask(text))


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"62\d{14,17}", fullmatch=True), SEPARATORS, st.booleans())
def test_no_bank_card_survives(card, sep, full):
    text = "转到这张卡" + spread(card, [4, 4, 4, 4, 3], sep, full)
    assert card not in digits(mask(text)), (text, mask(text))


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[1-6]\d{5}(19[5-9]\d|200\d)(0[1-9]|1[0-2])(0[1-9]|1\d|2[0-8])\d{3}[\dX]", fullmatch=True),
       st.booleans())
def test_no_id_number_survives(number, full):
    text = "身份证号" + (number.translate(FULL) if full else number)
    assert number[6:14] not in digits(mask(text)), (text, mask(text))


CN = dict(zip("0123456789", "零一二三四五六七八九"))


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.sampled_from(["", " ", "-"]), st.booleans(),
       st.sampled_from(["我手机", "他让我打", "号码是", ""]))
def test_no_mobile_number_read_out_in_chinese_numerals_survives(number, sep, yao, before):
    """一三八 一二三四 五六七八 (幺 for 一 as it is read out on the phone), also mixed with digits."""
    spoken = "".join("幺" if yao and d == "1" else CN[d] for d in number)
    mixed = number[:3] + spoken[3:]
    for form in (spoken, mixed):
        text = before + spread(form, [3, 4, 4], sep, False) + "，快回电"
        masked = mask(text)
        folded = digits(masked.translate(str.maketrans({"幺": "1", **{v: k for k, v in CN.items()}})))
        assert number not in folded, (text, masked)


def test_short_chinese_numerals_are_left_alone():
    assert mask("买了两三个，一二三木头人，三十万") == "买了两三个，一二三木头人，三十万"
