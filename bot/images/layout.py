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

STATUS = re.compile(r"^(\d{1,2}[:：.]\d{2}|中国(移动|联通|电信|广电)|[2-5]G\+?|HD|VoLTE|Wi-?Fi|\d{1,3}%|[-lI|.·•]+)$", re.I)
STAMP = re.compile(r"^((今天|昨天|前天|星期.|周.|上午|下午|晚上|凌晨|中午|\d{4}[年/-])?\s*(\d{1,2}[月/-]\d{1,2}日?)?\s*"
                   r"(上午|下午|晚上|凌晨|中午)?\s*\d{1,2}[:：]\d{2})$")
CHROME = re.compile(r"^(发送|按住\s*说话|短信|短信/彩信|彩信|iMessage|信息|输入消息|说点什么|[<>＜＞+＋…·•]+|[<＜].{0,2})$")
ASCII_END = re.compile(r"[A-Za-z0-9]$")
ASCII_START = re.compile(r"^[A-Za-z0-9]")


@dataclass
class Line:
    text: str
    box: list[list[float]]  # four corners, clockwise from top-left, in the image's pixels
    score: float

    def as_json(self) -> dict:
        return {"text": self.text, "box": [[round(x), round(y)] for x, y in self.box], "score": round(self.score, 3)}


@dataclass
class Block:
    text: str
    side: str = ""  # "left" (the other party), "right" (the resident), or "" when the layout does not say
    top: float = 0.0


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
            lines += [f"{'对方' if b.side == 'left' else '我'}：{b.text}" for b in self.blocks]
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
        rows.append(_Row(line.text.strip(), min(xs), max(xs), min(ys), max(ys)))
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
    for row in rows:
        where = (row.cy - top) / span
        centred = abs((row.x0 + row.x1) / 2 - width / 2) < 0.12 * width
        if where < STATUS_BAND and (all(STATUS.match(t) for t in row.text.split()) or len(row.text) <= 4):
            page.dropped.append(row.text)
        elif where > INPUT_BAND and (CHROME.match(row.text) or len(row.text) <= 3):
            page.dropped.append(row.text)
        elif STAMP.match(row.text) and centred:
            page.dropped.append(row.text)
        elif CHROME.match(row.text) and len(row.text) <= 2:
            page.dropped.append(row.text)
        elif where < TITLE_BAND and centred and not page.title and len(row.text) <= 24 and not body:
            page.title = row.text
        else:
            body.append(row)
    blocks = _blocks(body, width)
    page.blocks = blocks
    return page


def _blocks(rows: list[_Row], width: int) -> list[Block]:
    """Rows of one bubble or paragraph (close below each other, same left edge) become one block."""
    groups: list[list[_Row]] = []
    for row in rows:
        last = groups[-1][-1] if groups else None
        if (last is not None and row.y0 - last.y1 < 0.6 * last.height
                and abs(row.x0 - min(r.x0 for r in groups[-1])) < 0.03 * width):
            groups[-1].append(row)
        else:
            groups.append([row])
    if not groups:
        return []
    x0s = [g[0].x0 for g in groups]
    x1s = [max(r.x1 for r in g) for g in groups]
    left_edge, right_edge = min(x0s), max(x1s)
    d_left = [x - left_edge for x in x0s]
    d_right = [right_edge - x for x in x1s]
    # The other party's bubbles share one left edge; the resident's share the right edge and start clearly
    # further in. Long bubbles from both sides reach nearly as far right, so the left edge decides.
    anchor, clear = ANCHOR * width, CLEAR * width
    two_sided = any(dl <= anchor for dl in d_left) and any(dl > clear and dr <= anchor
                                                           for dl, dr in zip(d_left, d_right))
    blocks = []
    for group, dl, dr in zip(groups, d_left, d_right):
        text = group[0].text
        for row in group[1:]:
            text = _join(text, row.text)
        side = ("left" if dl <= anchor or (dr > anchor and dl < dr) else "right") if two_sided else ""
        blocks.append(Block(text, side, group[0].y0))
    return blocks
