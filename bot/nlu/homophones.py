"""Read same-sounding misspellings of scam vocabulary as the word meant.

Residents type with pinyin input methods and pick the wrong character: 验正码,
银航, 保正金, 冲值, 公按局. For each window of 2–6 characters whose pinyin
(ignoring tones; the usual reading of the typed characters, any reading of the
word's) equals a vocabulary word, the window is replaced by the word, unless it
is itself a common word (jieba's dictionary) or its edge forms one with the
character next to it. Replacements keep the length, so offsets into the
original stay valid.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from itertools import product
from pathlib import Path

_TONES = str.maketrans("āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹḿ", "aaaaeeeeiiiioooouuuuvvvvvnnnm")
_HAN = re.compile(r"^[\u4e00-\u9fff]+$")
# Grammatical characters are never the mistyped character of a word: "很快地" is not "快递".
_FUNCTION_CHARS = set("的地得了着过吗呢吧啊呀是在有和与就也都还又不没很")


@lru_cache(maxsize=1)
def _readings() -> dict[int, tuple[str, ...]]:
    """Toneless readings of every character, from pypinyin's single-character table.

    The table is read from its file without importing the ``pypinyin`` package,
    whose import also loads a phrase dictionary of about 50 MB we do not need.
    """
    spec = importlib.util.find_spec("pypinyin")
    table = json.loads(Path(spec.origin).with_name("pinyin_dict.json").read_text(encoding="utf-8"))
    readings: dict[int, tuple[str, ...]] = {}
    interned: dict[tuple[str, ...], tuple[str, ...]] = {}
    for code, value in table.items():
        key = tuple(dict.fromkeys(r.translate(_TONES) for r in value.split(",")))  # most common first
        readings[int(code)] = interned.setdefault(key, key)
    return readings


class HomophoneFixer:
    """Replaces non-word, same-sounding spellings of ``words`` (see module docstring)."""

    def __init__(self, words: Iterable[str], is_common: Callable[[str], bool]):
        self.is_common = is_common
        readings = _readings()
        self.index: dict[tuple[str, str], list[tuple[str, tuple[tuple[str, ...], ...]]]] = {}
        self.lengths: set[int] = set()
        for word in sorted(set(words)):
            if not (2 <= len(word) <= 6 and _HAN.match(word)):
                continue
            sounds = tuple(readings.get(ord(ch), (ch,)) for ch in word)
            for first, second in product(sounds[0], sounds[1]):
                self.index.setdefault((first, second), []).append((word, sounds))
            self.lengths.add(len(word))
        self.vocabulary = {w for entries in self.index.values() for w, _ in entries}

    def _straddles(self, chars: list[str], start: int, end: int) -> bool:
        """The window's edge belongs to a real word outside it (验证|身份, 诈骗|一般, 为|什么, 备|用金)."""
        left = "".join(chars[max(0, start - 1):start + 1])
        right = "".join(chars[end - 1:end + 1])
        return (start > 0 and self.is_common(left)) or (end < len(chars) and self.is_common(right))

    def fix(self, text: str) -> str:
        if not self.index or len(text) < 2:
            return text
        readings = _readings()
        # The message's characters by their usual reading; the vocabulary's by any reading
        # (银航 is 银行 read "hang", but 嫌洗 is not 探探, although 探 has a rare reading "xian").
        sounds = [readings.get(ord(ch), ())[:1] for ch in text]
        chars = list(text)
        i = 0
        while i < len(chars) - 1:
            replaced = 0
            for first, second in product(sounds[i], sounds[i + 1]):
                for word, word_sounds in self.index.get((first, second), ()):
                    end = i + len(word)
                    window = "".join(chars[i:end])
                    if end > len(chars) or window == word or window in self.vocabulary:
                        continue
                    if any(a != b and a in _FUNCTION_CHARS for a, b in zip(window, word)):
                        continue
                    if self._straddles(chars, i, end):
                        continue
                    if all(set(sounds[i + k]) & set(word_sounds[k]) for k in range(2, len(word))) \
                            and not self.is_common(window):
                        chars[i:end] = word
                        replaced = len(word)
                        break
                if replaced:
                    break
            i += replaced or 1
        return "".join(chars)
