"""Find amounts, phone numbers, bank cards, links, accounts, apps and impersonated bodies.

Rules, not a learned model: these things have shapes (a mobile number is 11 digits
starting with 1[3-9]) or come from lookup tables in ``nlu/lookups.yml``. The
extractor works on normalised text; the caller maps offsets back to the original.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.nlu.numbers import parse_amount

CN_NUM = "零〇一二两三四五六七八九十百千万亿几"
_SEP = r"[\s-]?"

PATTERNS: list[tuple[str, re.Pattern]] = [
    # Links first: digits inside a URL are not phone numbers.
    ("url", re.compile(
        r"(?:https?://|www\.)[^\s，。！？、；：“”‘’（）()<>\"'【】《》\u4e00-\u9fff]+"
        r"|(?<![\w@.])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
        r"(?:com|cn|net|org|top|xyz|vip|cc|co|io|me|info|site|online|shop|club|app|icu|wang|ltd|link|tk|ml|ga|cf|gq|bid|win|live|fun|pro|biz|asia|hk|tw)"
        r"(?::\d{2,5})?(?:/[^\s，。！？、；：“”‘’（）()<>\"'【】《》\u4e00-\u9fff]*)?",
        re.IGNORECASE)),
    ("url", re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?::\d{2,5})?(?:/[^\s，。！？\u4e00-\u9fff]*)?")),
    # Accounts "written as such": the label, then the id (only the id is the entity).
    ("account", re.compile(r"(?:QQ|qq|扣扣)(?:号码|号)?\s*[:：是为]?\s*([1-9]\d{4,11})(?!\d)")),
    ("account", re.compile(r"(?:微信|VX|vx|Vx|wx|WX|威信|V信|v信|薇信)(?:号|账号|id|ID)?\s*[:：是为]?\s*"
                           r"([a-zA-Z][-_a-zA-Z0-9]{5,19}|1[3-9]\d{9})(?![\w])")),
    ("account", re.compile(r"支付宝(?:账号|账户|号)?\s*[:：是为]?\s*"
                           r"(1[3-9]\d{9}|[\w.+-]+@[\w-]+\.[\w.]+)(?![\w])")),
    ("id_card", re.compile(r"(?<![\dA-Za-z])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![\dA-Za-z])")),
    ("bank_card", re.compile(r"(?<!\d)(?:\d{4}[\s-]?){3}\d{4}(?:[\s-]?\d{1,3})?(?!\d)")),
    ("phone", re.compile(r"(?<![\d+])(?:\+?86[\s-]?)?1[3-9]\d" + _SEP + r"\d{4}" + _SEP + r"\d{4}(?!\d)")),
    ("phone", re.compile(r"(?<![\d])\+(?!86)\d{1,4}(?:[\s-]?\d{2,8}){1,4}(?![\d])")),  # abroad
    ("phone", re.compile(r"(?<!\d)00\d{8,14}(?!\d)")),
    ("phone", re.compile(r"(?<!\d)0\d{2,3}" + _SEP + r"(?:\d{7,8}|\d{3,4}[\s-]\d{4})(?!\d)")),
    ("phone", re.compile(r"(?<!\d)[48]00" + _SEP + r"\d{3}" + _SEP + r"\d{4}(?!\d)")),
    ("phone", re.compile(r"(?<![\d.,])(?:9[56]\d{3,4}|1[01]\d{3}|12[0-9]{3}|110|119|120|122)"
                         r"(?!\d|[.,]\d|\s*[元块万千百wWkK多余个次号])")),
]

AMOUNT = re.compile(
    r"(?:[¥]\s*\d[\d,]*(?:\.\d+)?\s*(?:[十百千万亿wWkK]|多|余)*\s*(?:元|块钱|块)?)"
    r"|(?:(?<![\d.])\d[\d,]*(?:\.\d+)?\s*(?:多|余)?\s*(?:[十百千万亿]+|[wWkK](?![a-zA-Z]))\s*(?:多|余)?\s*(?:人民币|元|块钱|块)?)"
    r"|(?:(?<![\d.])\d[\d,]*(?:\.\d+)?\s*(?:多|余)?\s*(?:人民币|元|块钱|块|rmb|RMB|yuan|Yuan))"
)
# A bare number is money when a money word says so: "出价3800", "再充5000", "交198会员费", "只要2600".
_NOT_MONEY_AFTER = r"(?![\d.,:：年月日号点岁个单次张分秒天斤米%后])"
BARE_AMOUNT = re.compile(
    r"(?:转了?|充了?|交了?|付了?|垫了?|垫付了?|给了?|出价|报价|标价|售价|原价|价格|只要|才要|才卖|花了|赔了?|赚了|"
    r"提现|退款|收了?|卖了?|出|一共|总共|还差|押金|定金|订金|彩礼)\s*(\d{2,7})" + _NOT_MONEY_AFTER
    + r"|(?<![\d.])(\d{2,7})\s*(?=会员费|手续费|服务费|关税|保证金|押金|定金|订金|认证费|解冻费|佣金|彩礼|税费)")
# Chinese numerals are checked in code (see _chinese_amounts): 千万/万一/百万保障 are not amounts.
CN_AMOUNT = re.compile(rf"[{CN_NUM}多余来]+(?:人民币|元|块钱|块)?")
CN_DIGIT = set("一二两三四五六七八九十几")
CURRENCY = ("人民币", "元", "块钱", "块")

PLACE_SUFFIX = ("省", "市", "县", "区", "州", "旗", "盟")


@dataclass(frozen=True)
class Entity:
    type: str  # amount|phone|bank_card|url|account|app|organization|id_card
    text: str
    start: int
    end: int
    value: float | str | None = None

    def as_json(self) -> dict:
        return {"type": self.type, "text": self.text, "start": self.start, "end": self.end}


class EntityExtractor:
    """Rule-based extractor configured by the lookup tables (``app``, ``organization``)."""

    def __init__(self, lookups: dict[str, list[str]] | None = None):
        lookups = lookups or {}
        self.lookup_patterns: list[tuple[str, re.Pattern]] = []
        for kind in ("app", "organization"):
            words = sorted({w.strip() for w in lookups.get(kind, []) if w.strip()}, key=len, reverse=True)
            if words:
                alternation = "|".join(re.escape(w) for w in words)
                # ASCII names must not be part of a longer word (QQ in "QQ邮箱" is fine, "Line" in "Online" is not).
                self.lookup_patterns.append(
                    (kind, re.compile(rf"(?<![A-Za-z])(?:{alternation})(?![A-Za-z])", re.IGNORECASE)))
        self.app_phrase = re.compile(r"(?:下载|安装|装)(?:了)?(?:一个|个)?(?:叫|名叫|叫做)?[“\"「]?"
                                     r"([\u4e00-\u9fffA-Za-z0-9]{2,10}?)[”\"」]?的?(?:APP|App|app|软件|应用)")

    def extract(self, text: str, tokens: list[tuple[int, int]] | None = None) -> list[Entity]:
        """All entities in ``text`` (normalised), without overlaps, in order.

        ``tokens`` are the word spans of ``text``; with them an impersonated body
        grows to include its place name (北京市 + 公安局 → 北京市公安局).
        """
        found: list[Entity] = []
        for kind, pattern in PATTERNS:
            for m in pattern.finditer(text):
                group = 1 if m.groups() else 0
                start, end = m.span(group)
                value = m.group(group)
                if kind == "bank_card":
                    digits = re.sub(r"\D", "", value)
                    if not 16 <= len(digits) <= 19:
                        continue
                    if re.fullmatch(r"1[3-9]\d{9}", digits[:11]) and len(digits) < 16:
                        continue
                    value = digits
                elif kind in ("phone", "id_card"):
                    value = re.sub(r"[\s-]", "", value)
                found.append(Entity(kind, text[start:end], start, end, value))
        for m in AMOUNT.finditer(text):
            raw = m.group(0).strip()
            value = parse_amount(raw)
            if value is None or value <= 0:
                continue
            start = m.start() + (len(m.group(0)) - len(m.group(0).lstrip()))
            found.append(Entity("amount", raw, start, start + len(raw), value))
        for m in BARE_AMOUNT.finditer(text):
            group = 1 if m.group(1) else 2
            start, end = m.span(group)
            found.append(Entity("amount", text[start:end], start, end, float(m.group(group))))
        found.extend(_chinese_amounts(text))
        for kind, pattern in self.lookup_patterns:
            for m in pattern.finditer(text):
                start, end = m.span()
                if kind == "app" and text[end:end + 1] == "号":
                    continue  # "QQ号" labels an account, it is not the app
                if kind == "organization" and tokens:
                    start = _with_place(text, start, tokens)
                found.append(Entity(kind, text[start:end], start, end, text[start:end]))
        for m in self.app_phrase.finditer(text):
            start, end = m.span(1)
            found.append(Entity("app", text[start:end], start, end, m.group(1)))
        return _without_overlaps(found)


def _chinese_amounts(text: str) -> list[Entity]:
    """Amounts in Chinese numerals: 两千块, 三万多, 九十多万元, 十几万 (not 千万/万一/百万保障)."""
    found = []
    for m in CN_AMOUNT.finditer(text):
        raw = m.group(0)
        numeral = raw
        for unit in CURRENCY:
            numeral = numeral.removesuffix(unit)
        has_currency = numeral != raw
        numeral = numeral.lstrip("多余来")
        if not numeral or numeral[0] not in CN_DIGIT:
            continue
        if not has_currency and not any(u in numeral for u in "千万亿"):
            continue
        if numeral == "一" and raw.endswith("块") and re.match(r"[\u4e00-\u9fff]", text[m.end():m.end() + 1]) and text[m.end()] != "钱":
            continue  # "一块转过去", "连手机卡一块寄": together, not one yuan
        start = m.start() + raw.index(numeral)
        value = parse_amount(numeral)
        if value:
            found.append(Entity("amount", text[start:m.end()], start, m.end(), value))
    return found


def _with_place(text: str, start: int, tokens: list[tuple[int, int]]) -> int:
    """Grow an organisation leftwards over its place name, using word boundaries."""
    index = next((i for i, (s, e) in enumerate(tokens) if s <= start < e), None)
    if index is None:
        return start
    token_start = tokens[index][0]
    if token_start < start and text[token_start:start].endswith(PLACE_SUFFIX):
        start = token_start  # one word: 北京市公安局
    while index > 0:
        s, e = tokens[index - 1]
        if e != start or not (2 <= e - s <= 8) or not text[s:e].endswith(PLACE_SUFFIX):
            break
        start, index = s, index - 1
    return start


PRIORITY = {"url": 0, "account": 1, "id_card": 2, "bank_card": 3, "phone": 4, "amount": 5, "organization": 6, "app": 7}


def _without_overlaps(entities: list[Entity]) -> list[Entity]:
    """Keep the more specific (then longer) entity where two overlap."""
    ranked = sorted(entities, key=lambda e: (PRIORITY[e.type], -(e.end - e.start), e.start))
    kept: list[Entity] = []
    for entity in ranked:
        if all(entity.end <= k.start or entity.start >= k.end for k in kept):
            kept.append(entity)
    return sorted(kept, key=lambda e: e.start)
