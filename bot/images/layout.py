"""From the OCR engine's lines to what was said, in reading order, and by whom.

A phone screenshot is more than its message: the status bar (time, carrier, battery), the app's title bar (the
sender's number or name, which we keep as the title), timestamps between messages and the input bar ("发送",
"按住 说话"). Those are dropped. Lines that belong to one bubble or paragraph are joined. In a chat with bubbles
from two sides — the other party's anchored at the left edge, the resident's at the right — each block keeps its
side: the other party's words are the scammer's.

A photographed screen is turned a little: the lines' own slope gives the angle, and every box is turned back
before anything is compared.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

STATUS_BAND = 0.05  # top share of the height where a phone's status bar is
TITLE_BAND = 0.11  # below it, the app's title bar
INPUT_BAND = 0.92  # from here down, the input bar
ANCHOR = 0.04  # a bubble is anchored at an edge when within this share of the width of it
CLEAR = 0.08  # and clearly not at the other edge beyond this share
NEUTRAL, TINTED = 0.12, 0.3  # saturation of a white/grey bubble, and of a coloured one

# What a phone's status bar shows; a row made of these only (OCR often reads "10:38中国电信" as one row) is chrome.
STATUS_TOKEN = re.compile(r"\d{1,2}[:：.]\d{2}|中国(移动|联通|电信|广电)|[2-5]G\+?|HD|VoLTE|Wi-?Fi|\d{1,3}\s?%?"
                          r"|[-lI|.·•\[\]()（）]|\s+", re.I)
STAMP = re.compile(r"^((今天|昨天|前天|星期.|周.|上午|下午|晚上|凌晨|中午|\d{4}[年/-])?\s*(\d{1,2}[月/-]\d{1,2}日?)?\s*"
                   r"(上午|下午|晚上|凌晨|中午)?\s*\d{1,2}[:：]\d{2})$")
CHROME = re.compile(r"^(发送|按住\s*说话|短信|短信/彩信|彩信|iMessage|信息|输入消息|说点什么|发送短信|请输入.{0,12}|"
                    r"[<>＜＞+＋…·•]+|[<＜].{0,2})$")
# The app's own lines between messages: not anybody's words.
SYSTEM = re.compile(r"发件人不在你的通讯录中|报告垃圾信息|你已添加了.{1,20}现在可以开始聊天了|以上是打招呼的内容|"
                    r"消息已发出，?但被对方拒收了|撤回了一条消息|人工客服.{0,8}为您服务|对方正在输入|以下为新消息|"
                    r"开启了朋友验证|你还不是他（她）朋友")
SENTENCE = re.compile(r"[，。！？；,.!?;：:“”]")
ASCII_END = re.compile(r"[A-Za-z0-9]$")
ASCII_START = re.compile(r"^[A-Za-z0-9]")


@dataclass
class Line:
    text: str
    box: list[list[float]]  # four corners, clockwise from top-left, in the image's pixels
    score: float
    tint: float = 0.0  # saturation of the background just around the text: a coloured bubble (WeChat's green) is high

    def as_json(self) -> dict:
        return {"text": self.text, "box": [[round(x), round(y)] for x, y in self.box], "score": round(self.score, 3)}


@dataclass
class Block:
    text: str
    side: str = ""  # "left" (the other party), "right" (the resident), or "" when the layout does not say
    top: float = 0.0
    speaker: str = ""  # in a group chat, the name shown above the bubble


@dataclass
class Page:
    title: str = ""
    blocks: list[Block] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # chrome: status bar, timestamps, input bar

    @property
    def two_sided(self) -> bool:
        return any(b.side == "right" for b in self.blocks) and any(b.side == "left" for b in self.blocks)

    def body(self) -> str:
        """What was said, without titles or speakers: what character accuracy is measured on."""
        return "\n".join(b.text for b in self.blocks)

    def text(self) -> str:
        """What the understanding reads: the title, then each block, with its speaker in a two-sided chat."""
        lines = [self.title] if self.title else []
        if self.two_sided:
            lines += [f"{'我' if b.side == 'right' else '对方' + (f'（{b.speaker}）' if b.speaker else '')}：{b.text}"
                      for b in self.blocks]
        else:
            lines += [b.text for b in self.blocks]
        return "\n".join(lines)

    def their_words(self) -> str:
        """The other party's words (all of it when the layout does not say who spoke)."""
        words = [b.text for b in self.blocks if b.side != "right"]
        return "\n".join(words or [b.text for b in self.blocks])


@dataclass
class _Row:
    text: str
    x0: float
    x1: float
    y0: float
    y1: float
    tint: float = 0.0

    @property
    def height(self) -> float:
        return max(self.y1 - self.y0, 1.0)

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


def _angle(lines: list[Line]) -> float:
    """The median slope of the lines' top edges, in radians (a photo of a screen is turned a little)."""
    slopes = sorted(math.atan2(l.box[1][1] - l.box[0][1], l.box[1][0] - l.box[0][0])
                    for l in lines if l.box[1][0] - l.box[0][0] > 40)
    return slopes[len(slopes) // 2] if slopes else 0.0


def _rows(lines: list[Line], width: int, height: int) -> list[_Row]:
    angle = _angle(lines)
    if abs(angle) > math.radians(15):  # not a small tilt: leave the geometry as it is
        angle = 0.0
    cos, sin, cx, cy = math.cos(-angle), math.sin(-angle), width / 2, height / 2
    rows = []
    for line in lines:
        points = [((x - cx) * cos - (y - cy) * sin + cx, (x - cx) * sin + (y - cy) * cos + cy) for x, y in line.box]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        rows.append(_Row(line.text.strip(), min(xs), max(xs), min(ys), max(ys), line.tint))
    return sorted((r for r in rows if r.text), key=lambda r: (r.cy, r.x0))


def _join(a: str, b: str) -> str:
    return f"{a} {b}" if ASCII_END.search(a) and ASCII_START.search(b) else a + b


def arrange(lines: list[Line], width: int, height: int) -> Page:
    """The page a screenshot shows: its title, its blocks in reading order with their sides, and what was chrome."""
    page = Page()
    rows = _rows(lines, width, height)
    if not rows:
        return page
    top = min(r.y0 for r in rows)
    bottom = max(r.y1 for r in rows)
    # Measure the bands from the content's own extent: a photo has a margin around the screen.
    span = max(bottom - top, 1.0)
    body: list[_Row] = []
    titles: list[str] = []
    for row in rows:
        where = (row.cy - top) / span
        centred = abs((row.x0 + row.x1) / 2 - width / 2) < 0.12 * width
        if where < STATUS_BAND and (len(STATUS_TOKEN.sub("", row.text)) <= 1 or len(row.text) <= 4):
            page.dropped.append(row.text)
        elif where > INPUT_BAND and (CHROME.match(row.text) or (len(row.text) <= 8 and row.cy > 0.9 * height)):
            page.dropped.append(row.text)
        elif (STAMP.match(row.text) and centred) or SYSTEM.search(row.text):
            page.dropped.append(row.text)
        elif CHROME.match(row.text):
            page.dropped.append(row.text)
        elif where < TITLE_BAND and not body and len(row.text) <= 24 and len(titles) < 2:
            titles.append(row.text)  # the sender or the chat's name (Android puts a name under the number)
        else:
            body.append(row)
    page.title = " ".join(t.rstrip(">＞ ") for t in titles)
    blocks = _blocks(body, width)
    page.blocks = blocks
    return page


def _blocks(rows: list[_Row], width: int) -> list[Block]:
    """Rows of one bubble or paragraph (close below each other, same left edge) become one block. In a group chat
    the small name above a bubble is its speaker, not its words."""
    groups: list[list[_Row]] = []
    speakers: dict[int, str] = {}
    label = ""
    for index, row in enumerate(rows):
        following = rows[index + 1] if index + 1 < len(rows) else None
        if following is not None and _speaker_label(row, following, width):
            label = row.text  # "物业-小王" over the bubble that follows
            continue
        last = groups[-1][-1] if groups else None
        if (last is not None and not label and row.y0 - last.y1 < 0.6 * last.height
                and abs(row.x0 - min(r.x0 for r in groups[-1])) < 0.03 * width):
            groups[-1].append(row)
        else:
            groups.append([row])
            if label:
                speakers[len(groups) - 1] = label
        label = ""
    if not groups:
        return []
    x0s = [g[0].x0 if len(g) == 1 else min(r.x0 for r in g) for g in groups]
    x1s = [max(r.x1 for r in g) for g in groups]
    anchor, clear = ANCHOR * width, CLEAR * width
    # The other party's bubbles share one left edge. The resident's start clearly further in and reach at least
    # as far right as the other party's longest: a long bubble of either side spans most of the width, so the
    # left edge decides, and the right edge only confirms.
    left_edge = _edge(x0s, anchor, min)
    lefts = {i for i, x in enumerate(x0s) if x - left_edge <= anchor}
    reach = max((x1s[i] for i in lefts), default=0.0)
    rights = {i for i, x in enumerate(x0s) if x - left_edge > anchor and x1s[i] >= reach - anchor
              and (x - left_edge > clear or x1s[i] > reach + anchor)}
    # Colour settles what the geometry cannot (a one-line reply nearly as wide as the other side's bubbles): the
    # resident's bubbles are coloured (green, blue), the other party's white or grey.
    tints = [sorted(r.tint for r in g)[len(g) // 2] for g in groups]
    neutral = [i for i in lefts if tints[i] < NEUTRAL]
    if neutral:
        rights |= {i for i, x in enumerate(x0s) if tints[i] > TINTED and i not in rights
                   and (x - left_edge > 0.02 * width or x1s[i] > reach)}
    two_sided = bool(lefts - rights) and bool(rights)
    blocks = []
    for index, group in enumerate(groups):
        text = group[0].text
        for row in group[1:]:
            text = _join(text, row.text)
        side = ("right" if index in rights else "left") if two_sided else ""
        blocks.append(Block(text, side, group[0].y0, speakers.get(index, "")))
    return blocks


def _speaker_label(row: _Row, following: _Row, width: int) -> bool:
    """A group chat's sender name: a short name (no sentence punctuation) just above a bubble, at its left edge,
    smaller than its text or outside the bubble's padding (so starting left of the text)."""
    gap = following.y0 - row.y1
    return (len(row.text) <= 10 and not SENTENCE.search(row.text) and 0 <= gap < 1.2 * following.height
            and abs(following.x0 - row.x0) < 0.05 * width
            and (row.height < 0.8 * following.height or (gap > 0.6 * following.height
                                                          and row.x0 < following.x0 - 0.01 * width)))


def _edge(values: list[float], anchor: float, pick) -> float:
    """The edge most blocks share: the outermost value that another block also has (within ``anchor``), so one
    stray line (a badge, a leftover of the chrome) does not move it."""
    shared = [v for v in values if sum(abs(v - w) <= anchor for w in values) >= 2]
    return pick(shared or values)
