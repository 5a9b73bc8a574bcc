"""Screenshots and photos, read offline: the reader on generated phone screenshots (drawn with Pillow and Debian's
Noto CJK font, some photographed), its bounds on bad pictures, the `ocr` command, and a picture sent through every
channel — the web API and page (headless Chromium), Telegram's fake Bot API, WeChat's fake media API, the terminal."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from bot.images.decode import Limits, Unreadable, open_image
from bot.images.reader import BUSY, Reader, Reading, ReadingQueue
from bot.measure import screenshots
from bot.measure.ocr_bench import accuracy
from tests.harness import BROWSER_REQUIRED, CHROMIUM, RunningBot, phone_page



def _missing() -> str:
    from bot.fonts import NoFont, chinese_font

    try:
        chinese_font()
        import rapidocr_onnxruntime  # noqa: F401  (OpenCV under it needs libGL)
    except NoFont as exc:
        return str(exc)
    except ImportError as exc:
        return f"the OCR engine cannot load ({exc}): apt-get install libgl1 libglib2.0-0"
    return ""


pytestmark = pytest.mark.skipif(bool(_missing()) and not BROWSER_REQUIRED, reason=_missing() or "-")
POLICE_SMS = screenshots.SMS[0]
PARCEL_SMS = screenshots.SMS[1]
POLICE_CHAT = screenshots.CHATS[0]
SHOP_CHAT = screenshots.CHATS[1]


@pytest.fixture(scope="module")
def reader():
    return Reader()


@pytest.fixture(scope="module")
def police_png():
    return screenshots.sms(*POLICE_SMS, seed=1).png()


@pytest.fixture(scope="module")
def parcel_png():
    return screenshots.sms(*PARCEL_SMS, seed=2).png()


def png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# --- the reader -------------------------------------------------------------------------------------------------

def test_a_chat_screenshot_keeps_who_said_what_and_drops_the_phone_chrome(reader):
    shot = screenshots.chat(*POLICE_CHAT, seed=3)
    reading = reader.read(shot.png())
    page = reading.page
    assert page.title == "张警官"
    assert [b.side for b in page.blocks] == ["left", "right", "left", "right"]
    assert page.blocks[2].text.startswith("这个案子是保密的") and "安全账户" in page.blocks[2].text
    assert "发送" in page.dropped and any(":" in d for d in page.dropped)  # input bar, status-bar clock
    assert "中国" not in reading.text and "发送" not in reading.text
    assert reading.text.splitlines()[1].startswith("对方：我是市公安局")
    assert accuracy(page.title + page.body(), shot.text) >= 0.97


def test_a_photographed_screen_is_read_and_sided_like_the_screenshot(reader):
    shot = screenshots.photographed(screenshots.chat(*POLICE_CHAT, seed=4), seed=5)
    assert shot.image.size != (screenshots.WIDTH, screenshots.HEIGHT)  # turned, scaled, JPEG
    reading = reader.read(shot.jpeg(90))
    assert [b.side for b in reading.page.blocks] == ["left", "right", "left", "right"]
    assert accuracy(reading.page.title + reading.page.body(), shot.text) >= 0.90


def test_an_sms_screenshot_is_one_sided_text_in_reading_order(reader):
    shot = screenshots.sms(*screenshots.SMS[2], seed=6)  # two messages from a "new number"
    reading = reader.read(shot.png())
    assert reading.page.title == "17099871234" and not reading.page.two_sided
    assert [b.side for b in reading.page.blocks] == ["", ""]
    assert reading.page.blocks[0].text.startswith("妈，我换新号码了")
    assert "转两万" in reading.page.blocks[1].text


def test_reading_needs_no_network_and_no_download(reader, police_png, monkeypatch):
    import rapidocr_onnxruntime

    models = Path(rapidocr_onnxruntime.__file__).parent / "models"
    assert {p.name for p in models.glob("*.onnx")} >= {"ch_PP-OCRv4_det_infer.onnx", "ch_PP-OCRv4_rec_infer.onnx"}

    def refuse(*args, **kwargs):
        raise AssertionError("the reader tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    fresh = Reader()  # loads its engine here, with the network refused
    assert "洗钱" in fresh.read(police_png).text


# --- bad pictures -------------------------------------------------------------------------------------------------

def test_bad_pictures_get_a_reason_and_a_bounded_cost(reader, police_png):
    from PIL import Image

    bomb = io.BytesIO()  # 40,000 × 40,000 of one colour: a few KB that would decode to 4.8 GB
    Image.new("1", (40_000, 40_000)).save(bomb, format="PNG")
    cases = {
        "empty": b"",
        "not_image": "这不是图片".encode() * 50,
        "truncated": police_png[: len(police_png) // 3],
        "too_many_pixels": bomb.getvalue(),
        "too_big": b"\x89PNG" + b"\0" * (Limits().max_bytes + 1),
    }
    for reason, data in cases.items():
        started = time.perf_counter()
        reading = reader.read(data)
        assert reading.error == reason and reading.text == "", reason
        assert time.perf_counter() - started < 2.0, reason


def test_an_animated_gif_is_read_by_its_first_frame_and_a_blank_picture_has_no_text(reader):
    from PIL import Image

    first = screenshots.sms(*POLICE_SMS, seed=7).image.convert("P")
    second = Image.new("P", first.size, 255)
    gif = io.BytesIO()
    first.save(gif, format="GIF", save_all=True, append_images=[second], duration=500, loop=0)
    reading = reader.read(gif.getvalue())
    assert not reading.error and "洗钱" in reading.text
    blank = reader.read(png(Image.new("RGB", (1080, 2400), (240, 240, 240))))
    assert blank.error == "" and blank.text == "" and blank.lines == []


def test_a_50_megapixel_photo_is_decoded_reduced():
    from PIL import Image

    photo = io.BytesIO()
    Image.new("RGB", (8660, 5774), (200, 200, 200)).save(photo, format="JPEG", quality=80)
    started = time.perf_counter()
    image = open_image(photo.getvalue())
    assert max(image.size) <= Limits().max_side
    assert time.perf_counter() - started < 3.0
    with pytest.raises(Unreadable) as refused:
        open_image(photo.getvalue(), Limits(max_pixels=10_000_000))
    assert refused.value.reason == "too_many_pixels"


def test_the_queue_answers_busy_at_once_instead_of_piling_up(police_png):
    class SlowReader:
        limits = Limits()

        def read(self, data):
            time.sleep(0.5)
            return Reading()

    queue = ReadingQueue(SlowReader(), waiting=1)

    async def flood():
        started = time.perf_counter()
        readings = await asyncio.gather(*[queue.read(police_png) for _ in range(5)])
        return readings, time.perf_counter() - started

    readings, seconds = asyncio.run(flood())
    queue.close()
    assert [r.error for r in readings].count(BUSY) == 3  # one being read, one waiting, three told "busy"
    assert seconds < 1.6


def test_typed_messages_are_answered_while_pictures_are_being_read(engine, police_png):
    class SlowReader:
        limits = Limits()

        def read(self, data):
            time.sleep(3)
            return Reading()

    engine._pictures = ReadingQueue(SlowReader(), waiting=4)

    async def both():
        picture = asyncio.ensure_future(engine.handle_picture_async("web", "slowpic", police_png))
        await asyncio.sleep(0.2)
        started = time.perf_counter()
        typed = await engine.handle_async("web", "typist", "自称公安局的让我把存款转到安全账户，我正在银行转")
        typed_after = time.perf_counter() - started
        return typed, typed_after, await picture

    typed, typed_after, picture = asyncio.run(both())
    assert typed.escalation_id is not None and typed_after < 2.5  # not queued behind the picture
    assert "没有找到文字" in picture.replies[0].text


# --- the ocr command ------------------------------------------------------------------------------------------------

def test_ocr_command_prints_one_json_object_per_file(run_bot, tmp_path, police_png):
    good, bad = tmp_path / "sms.png", tmp_path / "broken.png"
    good.write_bytes(police_png)
    bad.write_bytes(b"GIF89a broken")
    done = run_bot("ocr", str(good), str(bad))
    lines = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [l["file"] for l in lines] == [str(good), str(bad)]
    assert "洗钱" in lines[0]["text"] and lines[0]["ms"] > 0 and "error" not in lines[0]
    assert all(set(l) == {"text", "box", "score"} and len(l["box"]) == 4 for l in lines[0]["lines"])
    assert lines[1]["text"] == "" and lines[1]["error"] in ("not_image", "truncated")
    assert done.returncode == 1  # one file could not be read


# --- through the engine -------------------------------------------------------------------------------------------

def picture_turn(engine, data: bytes, caption: str = "", user: str | None = None):
    return asyncio.run(engine.handle_picture_async("web", user or uuid.uuid4().hex[:12], data, caption))


def test_a_fake_police_sms_screenshot_is_warned_about_and_quoted(engine, police_png):
    result = picture_turn(engine, police_png)
    texts = [r.text for r in result.replies]
    assert texts[0].startswith("我从截图里看到：“【公安局】您的身份证涉嫌")
    assert result.slots["scam_type"] == "fake_police" and "⚠️" in texts[1]
    assert result.escalation_id is None  # received, not acted on: warn, do not escalate
    assert "洗钱" in result.read_text and "挂断电话" not in "".join(texts)  # a text message: nobody on the line


def test_an_ordinary_parcel_notice_or_shop_chat_gets_no_warning(engine, parcel_png):
    for data in (parcel_png, screenshots.chat(*SHOP_CHAT, seed=8).png()):
        result = picture_turn(engine, data)
        assert result.escalation_id is None and result.slots.get("risk") in (None, "none", "low")
        assert not any("⚠️ 这" in r.text or "请立刻停下" in r.text for r in result.replies), result.replies


def test_the_residents_own_side_of_a_chat_or_caption_decides_escalation(engine, police_png):
    chat = picture_turn(engine, screenshots.chat(*POLICE_CHAT, seed=9).png())  # "好的，我马上去银行"
    assert chat.escalation_id is not None and chat.slots["scam_type"] == "fake_police"
    assert any(r.urgent and "110" in r.text for r in chat.replies)
    moving = picture_turn(engine, police_png, "我已经按他说的去银行转了五万")
    assert moving.escalation_id is not None
    asking = picture_turn(engine, screenshots.sms(*screenshots.SMS[2], seed=10).png(), "这是我儿子吗")
    assert asking.escalation_id is None and asking.slots["scam_type"] == "impersonate_acquaintance"


def test_a_picture_nothing_can_be_read_from_is_answered_kindly_and_its_caption_still_counts(engine):
    unreadable = picture_turn(engine, b"\x89PNG broken")
    assert "打不开" in unreadable.replies[0].text and "110" in unreadable.replies[0].text
    with_caption = picture_turn(engine, b"\x89PNG broken", "对方让我把验证码告诉他，我已经说了")
    assert "打不开" in with_caption.replies[0].text
    assert with_caption.escalation_id is not None  # the caption alone escalates


def test_pictures_are_not_kept_unless_configured_then_purged(engine, police_png, settings, tmp_path, run_bot):
    from bot.images import keep

    picture_turn(engine, police_png, user="keeper")
    assert engine.store.query("select count(*) n from pictures")[0]["n"] == 0
    stored = engine.store.query("select text from messages where direction = 'in'")
    assert stored and "洗钱" in stored[-1]["text"]  # the text read is in the conversation, the picture is not
    engine.settings = replace(settings, raw={**settings.raw, "images": {"keep_days": 7}},
                              database=tmp_path / "bot.db")
    picture_turn(engine, police_png, user="keeper")
    rows = engine.store.query("select file from pictures")
    assert len(rows) == 1 and (keep.folder(engine.settings) / rows[0]["file"]).read_bytes() == police_png
    with engine.store.transaction() as db:
        db.execute("update pictures set created_at = '2000-01-01 00:00:00'")
    done = run_bot("purge")  # the same database file; config.yml keeps pictures 0 days
    assert done.returncode == 0 and "deleted 1 kept pictures" in done.stdout.decode()
    assert engine.store.query("select count(*) n from pictures")[0]["n"] == 0
    assert not any(keep.folder(engine.settings).rglob("*.png"))


# --- through the channels -----------------------------------------------------------------------------------------

def multipart(fields: dict[str, str], image: bytes | None) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    if image is not None:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="s.png"\r\n'
                     f'Content-Type: image/png\r\n\r\n'.encode() + image + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post(url: str, body: bytes, content_type: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, body, {"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_web_api_takes_a_screenshot_as_multipart(web, police_png, parcel_png):
    status, data = post(web.url + "/api/messages", *multipart({"user": "pic1"}, police_png))
    assert status == 200 and "洗钱" in data["read_text"] and data["scam_type"] == "fake_police"
    assert data["replies"][0]["text"].startswith("我从截图里看到")
    status, data = post(web.url + "/api/messages", *multipart({"user": "pic2", "text": "这个是真的吗"}, parcel_png))
    assert status == 200 and "菜鸟驿站" in data["read_text"] and data["risk"] in ("none", "low")
    status, data = post(web.url + "/api/messages", *multipart({"user": "pic3"}, None))
    assert status == 400 and "image" in data["error"]
    status, data = post(web.url + "/api/messages", *multipart({"user": "bad user!"}, police_png))
    assert status == 400
    # An 11 MB picture: the 413 comes as soon as the headers arrive, before the body is sent.
    port = int(web.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        conn.sendall(f"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                     f"Content-Length: {11 * 1024 * 1024}\r\n\r\n".encode())
        answer = b""
        while b"}" not in answer:
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and "10 MB" in json.loads(body)["error"]


@pytest.mark.skipif(CHROMIUM is None and not BROWSER_REQUIRED, reason="Debian's chromium is installed by .ci/run")
def test_web_page_sends_a_screenshot_from_the_button(web, police_png, tmp_path):
    from playwright.sync_api import sync_playwright

    shot = tmp_path / "sms.png"
    shot.write_bytes(police_png)
    with sync_playwright() as p:
        page = phone_page(p)
        page.goto(web.url + "/")
        assert page.is_visible("text=发截图")
        page.set_input_files("#image", str(shot))
        page.wait_for_selector(".msg.bot >> text=我从截图里看到", timeout=60_000)
        page.wait_for_selector(".msg.bot >> text=冒充公检法", timeout=20_000)
        assert page.locator(".msg.me >> text=[截图]").count() == 1
        assert page.locator("a.tel[href='tel:110']").count() >= 1
        assert page.locator("a.tel[href='tel:010-58561234']").count() == 0  # the "officer's" number: not tappable
        assert page.locator("text=正在看您发来的截图").count() == 0  # the waiting note is replaced
        page.screenshot(path=str(tmp_path / "picture.png"), full_page=True)


def test_telegram_photo_and_image_file_are_read(settings, fake, db_target, understander, police_png, parcel_png):
    bot = RunningBot(settings, fake, db_target, understander).start()
    try:
        fake.push_photo(6660001, police_png)
        texts = fake.wait_for(lambda: len(fake.sent(6660001)) >= 2 and [m["text"] for m in fake.sent(6660001)],
                              timeout=60)
        assert texts[0].startswith("我从截图里看到") and "冒充公检法" in texts[1]
        fake.push_photo(6660002, parcel_png, as_document=True)
        texts = fake.wait_for(lambda: len(fake.sent(6660002)) >= 2 and [m["text"] for m in fake.sent(6660002)],
                              timeout=60)
        assert "菜鸟驿站" in texts[0] and not any("⚠️ 这" in t for t in texts)
        assert fake.sent(method="getFile")
    finally:
        bot.stop()


def test_wechat_image_is_downloaded_from_the_media_api_and_read(settings, tmp_path, understander, monkeypatch,
                                                                 police_png):
    from tests.fakewechat import FakeWeChatAPI, WeChatUser
    from tests.test_wechat import start_bot

    api = FakeWeChatAPI().start()
    bot = start_bot(settings, tmp_path, understander, monkeypatch, api)
    try:
        api.media["mediaPolice1"] = police_png
        user = WeChatUser(bot.url, openid="oPicture0001")
        status, passive = user.image("mediaPolice1")
        assert status == 200
        said = passive or api.wait_for(lambda: api.sent(), timeout=60)[0]["text"]["content"]
        said = said if isinstance(said, str) else ""
        assert "我从截图里看到" in said and "冒充公检法" in said
        assert any(path == "/cgi-bin/media/get" for path, _, _ in api.calls)
        status, passive = user.image("no-such-media")
        said = passive or api.wait_for(lambda: api.sent()[1:], timeout=30)[0]["text"]["content"]
        assert "打不开" in said
    finally:
        bot.stop()
        api.stop()


def test_terminal_chat_reads_a_picture_file(run_bot, tmp_path, police_png):
    shot = tmp_path / "sms.png"
    shot.write_bytes(police_png)
    done = run_bot("chat", "--json", input_text=f"/image {shot}\n/image {tmp_path / 'missing.png'}\n")
    replies = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert replies[0]["text"].startswith("我从截图里看到") and "洗钱" in replies[0]["read_text"]
    assert replies[1]["scam_type"] == "fake_police"
    assert any("打不开" in r["text"] for r in replies[2:])
