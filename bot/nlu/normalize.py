"""Normalise what a resident typed before anything tries to understand it.

Residents paste SMS texts, type in Traditional characters, use full-width digits,
emoji, runs of "！！！", or dictate without punctuation. ``normalise`` turns all of
that into plain Simplified Chinese with half-width ASCII, and keeps, for every
character of the result, the index of the character it came from so entities can
be reported with offsets into the original text.
"""

from __future__ import annotations

import re

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

# Simplified-but-non-standard spellings that OpenCC leaves alone (帳戶 → 帐户).
# Each pair keeps its length, so offsets stay aligned.
VARIANTS = {
    "帐户": "账户",
    "帐号": "账号",
    "转帐": "转账",
    "到帐": "到账",
    "帐单": "账单",
    "对帐": "对账",
    "走帐": "走账",
}

PUNCTUATION = set("，。！？、；：,.!?;:~…—-·")
#: Input longer than this (in characters) is cut before any work is done.
HARD_LIMIT = 20_000


@dataclass
class Normalised:
    """Normalised text plus ``offsets[i]`` = index in ``original`` of ``text[i]``."""

    original: str
    text: str
    offsets: list[int] = field(default_factory=list)
    garbage: bool = False  # binary-looking input that should not be classified

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of ``text`` back onto ``original``."""
        if not self.offsets or start >= end:
            return (0, 0)
        return self.offsets[start], self.offsets[end - 1] + 1


@lru_cache(maxsize=1)
def _converter():
    import opencc

    # Taiwan standard → Simplified with phrase conversion (軟體 → 软件, 螢幕 → 屏幕).
    return opencc.OpenCC("tw2sp")


def _is_dropped(ch: str) -> bool:
    """Emoji, pictographs, variation selectors and control characters."""
    cat = unicodedata.category(ch)
    if cat == "So" or cat == "Cs" or cat == "Co" or cat == "Cn":
        return True
    if cat == "Cc" and ch not in "\t\n\r":
        return True
    if cat == "Cf":  # zero-width joiners, BOM, bidi marks
        return True
    return 0xFE00 <= ord(ch) <= 0xFE0F or 0x1F3FB <= ord(ch) <= 0x1F3FF


def _fold_width(ch: str) -> str:
    """Full-width ASCII and the ideographic space to their half-width forms."""
    code = ord(ch)
    if 0xFF01 <= code <= 0xFF5E:
        return chr(code - 0xFEE0)
    if code == 0x3000:
        return " "
    if ch == "￥":
        return "¥"
    return ch


def looks_binary(text: str) -> bool:
    """True when too much of the text is control characters or decoding debris."""
    if not text:
        return False
    sample = text[:2000]
    bad = sum(
        1
        for ch in sample
        if ch == "\ufffd" or (unicodedata.category(ch) == "Cc" and ch not in "\t\n\r")
    )
    return bad / len(sample) > 0.2


def normalise(original: str, max_chars: int = 2000, fix: Callable[[str], str] | None = None) -> Normalised:
    """Return the normalised form of ``original`` (see the module docstring).

    ``fix`` is a last, length-keeping correction such as ``HomophoneFixer.fix``.
    """
    if original is None:
        original = ""
    if looks_binary(original):
        return Normalised(original, "", [], garbage=True)
    source = original[:HARD_LIMIT]
    chars: list[str] = []
    offsets: list[int] = []
    for index, raw in enumerate(source):
        if _is_dropped(raw):
            continue
        ch = _fold_width(raw)
        if ch.isspace():
            # Collapse runs of whitespace (and drop it at the start).
            if not chars or chars[-1] == " ":
                continue
            ch = " "
        elif ch in PUNCTUATION and chars and chars[-1] == ch:
            continue  # "！！！" → "!"
        chars.append(ch)
        offsets.append(index)
    while chars and chars[-1] == " ":
        chars.pop()
        offsets.pop()
    if len(chars) > max_chars:
        chars, offsets = chars[:max_chars], offsets[:max_chars]
    text = "".join(chars)
    converted = _converter().convert(text) if text else text
    if len(converted) != len(text):
        # Phrase conversion changed the length: convert character by character
        # instead, which keeps the offsets aligned.
        converted = "".join(_converter().convert(ch)[:1] or ch for ch in text)
    for variant, standard in VARIANTS.items():
        if variant in converted:
            converted = converted.replace(variant, standard)
    if fix is not None:
        fixed = fix(converted)
        converted = fixed if len(fixed) == len(converted) else converted
    return Normalised(original, converted, offsets)


_UNSTORABLE = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def storable(text: str) -> str:
    """``text`` as it can be stored and logged: a lone surrogate (valid in JSON, not in UTF-8) becomes U+FFFD;
    NUL and other control characters (but tabs and line breaks) and the bidirectional overrides that reorder
    what a reader sees go; everything else is kept as the resident wrote it."""
    return _UNSTORABLE.sub(lambda m: "\ufffd" if "\ud800" <= m.group(0) <= "\udfff" else "", text) if text else text
