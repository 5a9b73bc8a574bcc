"""Mask personal data before it reaches alerts, summaries and logs.

Phone numbers keep their first three and last four digits (138****5678), bank
cards their first and last four, ID numbers (身份证号) their first six and last
four; house numbers in addresses (12号楼3单元502室) are starred. The full text
stays only in the conversation store, which is purged after its retention period.
"""

from __future__ import annotations

import re

# Full-width digits and separators fold to ASCII first (１３８ → 138), so every digit form is masked.
_FOLD = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)}, "－": "-", "．": ".", "　": " ", "＋": "+",
                       "—": "-", "·": "."})
_SEP = r"[\s\-.]?"  # a space, dash or dot between digit groups (138 1234 5678, 138-1234-5678, 138.1234.5678)
_ID = re.compile(r"(?<![\dA-Za-z])([1-9]\d{5})(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}([\dXx])(?![\dA-Za-z])")
_CARD = re.compile(r"(?<!\d)\d(?:[ \-.]?\d){15,18}(?![ \-.]?\d)")
_MOBILE = re.compile(r"(?<!\d)(\+?86" + _SEP + r")?(1[3-9]\d)" + _SEP + r"(\d{4})" + _SEP + r"(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})" + _SEP + r"(\d{3,4})" + _SEP + r"?(\d{4})(?!\d)")
_ADDRESS = re.compile(r"(\d+|[一二三四五六七八九十百]+)(?=\s*(?:号楼|号院|号|栋|幢|单元|室|楼|弄|层|组))")
# A number read out digit by digit in Chinese numerals (幺三八…, 一三八 一二三四 五六七八): unambiguous once it is
# seven digits or more, so such a run is folded to ASCII digits and masked like any other number.
_CN_DIGIT = {"〇": "0", "零": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5",
             "六": "6", "七": "7", "八": "8", "九": "9"}
_CN_RUN = re.compile(r"[0-9〇零一幺二两三四五六七八九](?:[\s\-.]?[0-9〇零一幺二两三四五六七八九]){6,}")
# What must never reach a log line as is: line breaks (a forged line), other control characters and the
# bidirectional overrides that reorder what an operator reads.
_UNLOGGABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ACCOUNT = re.compile(r"((?:QQ|qq|微信|VX|vx|wx|支付宝)(?:号|账号)?\s*[:：是为]?\s*)([A-Za-z0-9_\-@.]{5,})")


def _mask_card(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return f"{digits[:4]} **** **** {digits[-4:]}"


def mask(text: str, keep_address: bool = False) -> str:
    """``text`` with phone, card, ID, account and house numbers masked.

    ``keep_address`` leaves house numbers readable: for the duty desk's own record of a grid worker's visit,
    whose household label is how the officer finds the home (logs and everything else stay masked).
    """
    if not text:
        return text
    text = text.translate(_FOLD)
    text = _CN_RUN.sub(lambda m: "".join(_CN_DIGIT.get(c, c) for c in m.group(0)), text)
    text = _ID.sub(lambda m: f"{m.group(1)}********{m.group(0)[-4:]}", text)
    text = _CARD.sub(_mask_card, text)
    text = _MOBILE.sub(lambda m: f"{m.group(2)}****{m.group(4)}", text)
    text = _LANDLINE.sub(lambda m: f"{m.group(1)}-****{m.group(3)}", text)
    text = _ACCOUNT.sub(lambda m: m.group(1) + m.group(2)[:2] + "****", text)
    return text if keep_address else _ADDRESS.sub(lambda m: "*" * min(len(m.group(1)), 3), text)


def loggable(text: str) -> str:
    """``text`` safe for one log line: control and bidirectional characters shown as escapes (\\n, \\u202e)."""
    return _UNLOGGABLE.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text or "")
