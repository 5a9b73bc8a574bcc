"""Phone screenshots drawn with Pillow, for the OCR tests and ``bench --ocr``.

Each one is drawn like the app it imitates — an SMS app (grey bubbles from one sender) or a chat app (the other
party's white bubbles on the left, the resident's green ones on the right) — with the status bar, the title bar,
a timestamp, avatars and the input bar around the text, at a phone's 1080×2400. ``photographed`` turns one into a
photo of a screen: turned a little, blurred, darker at one side, speckled and JPEG-compressed. Nothing is downloaded:
the font is Debian's Noto Sans CJK (``bot.fonts``).

The ``truth`` of a screenshot is what a reader should keep, in reading order: the title (the sender, the chat's name
or the page's heading) and the bubbles' or paragraphs' text, not the chrome.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field

from bot.fonts import chinese_font

WIDTH, HEIGHT = 1080, 2400
TEXT_PX, SMALL_PX, TITLE_PX = 44, 34, 48
INK, GREY_INK, WHITE = (25, 25, 25), (140, 140, 140), (255, 255, 255)


@dataclass
class Screenshot:
    kind: str  # sms | chat | notice (a printed page), and photo_* for the photographed ones
    image: object  # a PIL.Image
    truth: list[tuple[str, str]] = field(default_factory=list)  # (side, text): "left" the other party, "right" self
    title: str = ""

    @property
    def text(self) -> str:
        """The title and every block, as accuracy is measured."""
        return self.title + "".join(text for _, text in self.truth)

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.image.save(buffer, format="PNG")
        return buffer.getvalue()

    def jpeg(self, quality: int = 85) -> bytes:
        buffer = io.BytesIO()
        self.image.convert("RGB").save(buffer, format="JPEG", quality=quality)
        return buffer.getvalue()


def _fonts():
    from PIL import ImageFont

    regular = chinese_font()
    return {size: ImageFont.truetype(regular.path, size, index=regular.face) for size in (TEXT_PX, SMALL_PX, TITLE_PX)}


CLOSING = set("，。、；：？！）」』】》…,.;:?!)")


def _wrap(text: str, font, width: int) -> list[str]:
    """Lines no wider than ``width``; closing punctuation never starts a line (as phones lay Chinese out)."""
    lines, line = [], ""
    for char in text:
        if font.getlength(line + char) > width and line and char not in CLOSING:
            lines.append(line)
            line = char
        else:
            line += char
    return lines + [line] if line else lines


def _status_bar(draw, fonts, rng: random.Random, background) -> None:
    draw.rectangle((0, 0, WIDTH, 110), fill=background)
    draw.text((48, 36), f"{rng.randint(7, 21)}:{rng.randint(0, 59):02d}", font=fonts[SMALL_PX], fill=INK)
    draw.text((200, 36), rng.choice(("中国移动", "中国联通", "中国电信")), font=fonts[SMALL_PX], fill=INK)
    for i in range(4):  # signal bars
        draw.rectangle((760 + i * 16, 70 - i * 10, 770 + i * 16, 80), fill=INK)
    draw.text((840, 36), "5G", font=fonts[SMALL_PX], fill=INK)
    draw.rounded_rectangle((920, 44, 1000, 78), 6, outline=INK, width=3)  # battery
    draw.rectangle((926, 50, 926 + rng.randint(20, 68), 72), fill=INK)


def _bubble(draw, fonts, y: int, side: str, text: str, colour, x_left: int, x_right: int) -> int:
    font = fonts[TEXT_PX]
    lines = _wrap(text, font, int(WIDTH * 0.6))
    width = max(int(font.getlength(line)) for line in lines) + 64
    height = len(lines) * 62 + 44
    x0 = x_left if side == "left" else x_right - width
    draw.rounded_rectangle((x0, y, x0 + width, y + height), 22, fill=colour)
    for i, line in enumerate(lines):
        draw.text((x0 + 32, y + 22 + i * 62), line, font=font, fill=INK)
    return y + height + 48


def sms(messages: list[str], sender: str, seed: int = 0) -> Screenshot:
    """An SMS app: messages from one sender, each in a grey bubble."""
    from PIL import Image, ImageDraw

    rng, fonts = random.Random(seed), _fonts()
    image = Image.new("RGB", (WIDTH, HEIGHT), (246, 246, 246))
    draw = ImageDraw.Draw(image)
    _status_bar(draw, fonts, rng, (246, 246, 246))
    draw.text((40, 150), "<", font=fonts[TITLE_PX], fill=INK)
    draw.text(((WIDTH - fonts[TITLE_PX].getlength(sender)) / 2, 150), sender, font=fonts[TITLE_PX], fill=INK)
    draw.line((0, 240, WIDTH, 240), fill=(220, 220, 220), width=2)
    y = 290
    truth = []
    for message in messages:
        stamp = f"{rng.choice(('今天', '昨天', '星期二'))} {rng.randint(8, 20)}:{rng.randint(0, 59):02d}"
        draw.text(((WIDTH - fonts[SMALL_PX].getlength(stamp)) / 2, y), stamp, font=fonts[SMALL_PX], fill=GREY_INK)
        y = _bubble(draw, fonts, y + 70, "left", message, (229, 229, 234), 40, WIDTH - 40)
        truth.append(("left", message))
    _input_bar(draw, fonts, "短信", "发送")
    return Screenshot("sms", image, truth, sender)


def chat(bubbles: list[tuple[str, str]], title: str, seed: int = 0) -> Screenshot:
    """A chat app: ``bubbles`` as (side, text), "left" for the other party and "right" for the resident."""
    from PIL import Image, ImageDraw

    rng, fonts = random.Random(seed), _fonts()
    background = (237, 237, 237)
    image = Image.new("RGB", (WIDTH, HEIGHT), background)
    draw = ImageDraw.Draw(image)
    _status_bar(draw, fonts, rng, background)
    draw.text((40, 150), "<", font=fonts[TITLE_PX], fill=INK)
    draw.text(((WIDTH - fonts[TITLE_PX].getlength(title)) / 2, 150), title, font=fonts[TITLE_PX], fill=INK)
    for i in range(3):  # the "more" dots
        draw.ellipse((980 + i * 22, 172, 992 + i * 22, 184), fill=INK)
    y = 280
    stamp = f"{rng.randint(8, 20)}:{rng.randint(0, 59):02d}"
    draw.text(((WIDTH - fonts[SMALL_PX].getlength(stamp)) / 2, y), stamp, font=fonts[SMALL_PX], fill=GREY_INK)
    y += 80
    for side, text in bubbles:
        avatar_x = 30 if side == "left" else WIDTH - 150
        colour = tuple(rng.randint(80, 200) for _ in range(3))
        draw.rounded_rectangle((avatar_x, y, avatar_x + 120, y + 120), 14, fill=colour)
        draw.ellipse((avatar_x + 30, y + 20, avatar_x + 90, y + 80), fill=(240, 220, 200))
        fill = WHITE if side == "left" else (149, 236, 105)
        y = _bubble(draw, fonts, y, side, text, fill, 180, WIDTH - 180)
    _input_bar(draw, fonts, "", "发送")
    return Screenshot("chat", image, list(bubbles), title)


def notice(title: str, paragraphs: list[str], seed: int = 0) -> Screenshot:
    """A printed page (a notice, a leaflet, a "逮捕令"): a title and full-width paragraphs on white."""
    from PIL import Image, ImageDraw

    fonts = _fonts()
    image = Image.new("RGB", (WIDTH, HEIGHT), WHITE)
    draw = ImageDraw.Draw(image)
    draw.text(((WIDTH - fonts[TITLE_PX].getlength(title)) / 2, 160), title, font=fonts[TITLE_PX], fill=INK)
    y, truth = 300, []
    for paragraph in paragraphs:
        for line in _wrap(paragraph, fonts[TEXT_PX], WIDTH - 160):
            draw.text((80, y), line, font=fonts[TEXT_PX], fill=INK)
            y += 66
        y += 40
        truth.append(("left", paragraph))
    return Screenshot("notice", image, truth, title)


def _input_bar(draw, fonts, placeholder: str, button: str) -> None:
    draw.rectangle((0, HEIGHT - 170, WIDTH, HEIGHT), fill=(247, 247, 247))
    draw.rounded_rectangle((40, HEIGHT - 140, WIDTH - 240, HEIGHT - 50), 16, fill=WHITE)
    if placeholder:
        draw.text((70, HEIGHT - 122), placeholder, font=fonts[SMALL_PX], fill=GREY_INK)
    draw.rounded_rectangle((WIDTH - 210, HEIGHT - 140, WIDTH - 40, HEIGHT - 50), 16, fill=(7, 193, 96))
    draw.text((WIDTH - 170, HEIGHT - 122), button, font=fonts[SMALL_PX], fill=WHITE)


def photographed(shot: Screenshot, seed: int = 0) -> Screenshot:
    """A photo of the screen: turned up to 3°, blurred, lit unevenly, speckled, smaller and JPEG-compressed."""
    import numpy as np
    from PIL import Image, ImageFilter

    rng = random.Random(seed)
    image = shot.image.rotate(rng.uniform(-3, 3), resample=Image.BICUBIC, expand=True, fillcolor=(60, 60, 60))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 1.4)))
    pixels = np.asarray(image).astype(np.float32)
    ramp = np.linspace(rng.uniform(0.75, 0.9), 1.0, pixels.shape[1], dtype=np.float32)[None, :, None]
    noise = np.random.default_rng(seed).normal(0, 6, pixels.shape).astype(np.float32)
    image = Image.fromarray(np.clip(pixels * ramp + noise, 0, 255).astype(np.uint8))
    scale = rng.uniform(0.7, 0.85)
    image = image.resize((int(image.width * scale), int(image.height * scale)), Image.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=rng.randint(55, 70))
    buffer.seek(0)
    return Screenshot(f"photo_{shot.kind}", Image.open(buffer).convert("RGB"), shot.truth, shot.title)


# The generated set for ``bench --ocr`` and the tests: what residents send most (an SMS from a "bank" or "police",
# a chat with a "police officer", a "new number" message from a child, an ordinary parcel notice) and a printed
# "逮捕令". Written for reading, not for judging: the understanding's held-out sets are elsewhere.
SMS = [
    (["【公安局】您的身份证涉嫌一起洗钱案件，请于今日内联系王警官配合调查，电话010-58561234，逾期将冻结您名下全部账户。"],
     "10690000110"),
    (["【中通快递】您的包裹已到菜鸟驿站，请凭取件码6-3-2041到小区东门驿站领取，营业时间8:00-21:00。"], "95311"),
    (["妈，我换新号码了，这是我新的微信号，旧手机坏了。你先别打电话，我在开会，方便的话加我一下。",
      "妈，我这边急用钱交房租，你先转两万到这个账户，晚上就还你。"], "17099871234"),
    (["【建设银行】您尾号6621的储蓄卡11月28日15:20转账支出人民币500.00元，余额12,380.55元。"], "95533"),
    (["您的医保卡因异常使用即将被停用，请立即点击 http://yb-gov.cc/check 进行身份认证，否则将影响报销。"],
     "10659876543"),
]
CHATS = [
    ([("left", "我是市公安局刑侦支队的张警官，你的银行卡涉嫌一起洗钱案。"),
      ("right", "啊？我没做过这种事啊"),
      ("left", "这个案子是保密的，不要告诉家人，现在把钱转到安全账户接受资金核查。"),
      ("right", "好的，我马上去银行")], "张警官"),
    ([("left", "亲，您好，您在我们平台的订单已发货，预计明天送达。"),
      ("right", "好的谢谢"),
      ("left", "不客气，收到货有问题随时联系我们。")], "家居旗舰店"),
    ([("left", "导师带单，今天这只股票稳赚，跟着操作收益翻倍。"),
      ("left", "先在这个平台充值五万，明天就能提现。"),
      ("right", "真的能赚吗？")], "财富交流群"),
]
NOTICES = [
    ("刑事逮捕令", ["犯罪嫌疑人李某某，因涉嫌洗钱罪，经本院批准，决定予以逮捕。",
                    "请于收到通知后立即缴纳保证金二十万元至指定账户，否则依法执行。"]),
]


def generated_set(photos: bool = True) -> list[Screenshot]:
    """The screenshots of the tests and the bench: every SMS, chat and notice, and (``photos``) each one
    photographed."""
    shots = [sms(messages, sender, seed=i) for i, (messages, sender) in enumerate(SMS)]
    shots += [chat(bubbles, title, seed=10 + i) for i, (bubbles, title) in enumerate(CHATS)]
    shots += [notice(title, paragraphs, seed=20 + i) for i, (title, paragraphs) in enumerate(NOTICES)]
    if photos:
        shots += [photographed(shot, seed=30 + i) for i, shot in enumerate(list(shots))]
    return shots
