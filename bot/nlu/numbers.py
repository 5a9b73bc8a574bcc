"""Read amounts of money written the way residents write them.

``parse_amount("90多万元") == 900000``, ``parse_amount("两千块") == 2000``,
``parse_amount("1.2w") == 12000``, ``parse_amount("¥3,000") == 3000``.
"多/余/来" (a bit more than) and "几" (a few) are read as the lower bound,
except "十几" which is read as 15 and "几" alone as 5 so a rough size survives.
"""

from __future__ import annotations

import re

DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
          "六": 6, "七": 7, "八": 8, "九": 9, "几": 5}
SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
BIG_UNITS = {"万": 10_000, "亿": 100_000_000}
SUFFIX_UNITS = {"w": 10_000, "W": 10_000, "k": 1000, "K": 1000, **SMALL_UNITS, **BIG_UNITS}


def _chinese_section(text: str) -> float:
    """Value of a numeral below 万, e.g. 三千五百 → 3500, 十几 → 15."""
    total, digit, last_unit = 0.0, None, None
    for ch in text:
        if ch in "零〇":
            last_unit = None  # 一百零五: what follows a zero is units
        elif ch in DIGITS:
            digit = DIGITS[ch]
        elif ch in SMALL_UNITS:
            total += (1 if digit is None else digit) * SMALL_UNITS[ch]
            digit, last_unit = None, SMALL_UNITS[ch]
    if digit is not None:
        # 三千五 means 3500: a bare trailing digit takes the next lower unit.
        total += digit * (last_unit // 10 if last_unit and last_unit > 10 else 1)
    return total


def chinese_to_number(text: str) -> float:
    """Value of a Chinese numeral such as 九十多万 (→ 900000) or 一亿二千万."""
    text = text.replace("多", "").replace("余", "").replace("来", "")
    total, section, last_big = 0.0, "", None
    for ch in text:
        if ch in BIG_UNITS:
            total += (_chinese_section(section) or 1) * BIG_UNITS[ch]
            section, last_big = "", BIG_UNITS[ch]
        else:
            section += ch
    if last_big and len(section) == 1 and section in DIGITS:
        return total + DIGITS[section] * last_big // 10  # 一万二 means 12000
    return total + _chinese_section(section)


_ARABIC = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(多|余)?\s*([十百千万亿wWkK]*)")


def parse_amount(text: str) -> float | None:
    """The value in yuan of an amount expression, or None when none is readable."""
    text = text.replace("¥", "").replace("￥", "").replace("RMB", "").replace("rmb", "")
    match = _ARABIC.search(text)
    if match:
        try:
            value = float(match.group(1).replace(",", ""))
        except ValueError:
            return None
        for unit in match.group(3):
            value *= SUFFIX_UNITS[unit]
        # "3千多万" style: a Chinese unit after the first one is handled above.
        return value
    core = re.sub(r"[元块钱圆]|块钱", "", text)
    if not any(ch in DIGITS or ch in SMALL_UNITS for ch in core):
        return None
    return chinese_to_number(core)
