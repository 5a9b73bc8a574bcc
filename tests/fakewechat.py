"""A local fake of WeChat over HTTP (127.0.0.1), both sides of it, for end-to-end tests.

The API side (what the bot calls): ``/cgi-bin/token``, ``/cgi-bin/message/custom/send``, ``/cgi-bin/media/get``,
``/cgi-bin/menu/create`` and ``/cgi-bin/message/mass/sendall``. Every call is recorded; a test can make the
next calls answer an errcode (an expired token, a rate limit) or stall (a time-out).

The platform side (what WeChat sends the bot): ``WeChatUser`` builds requests exactly as WeChat does —
signed query strings, XML bodies, and in safe mode the body encrypted with wechatpy's own crypto.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlencode, urlparse

import xmltodict
from wechatpy.crypto import WeChatCrypto

from tests.fakebot import QuietServer

TOKEN, APP_ID, APP_SECRET = "wx-test-token", "wx1234567890abcdef", "app-secret"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat's console shows it


class LocalFake:
    """A fake HTTP service on 127.0.0.1 in a thread of its own: start, stop, and wait for what it recorded."""

    def __init__(self):
        self.lock = threading.Condition()
        self.server = QuietServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self):
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    wait_seconds = 20.0

    def wait_for(self, predicate, timeout: float | None = None):
        """``predicate()`` once it is true, or its last value after ``timeout`` seconds."""
        deadline = time.time() + (timeout or self.wait_seconds)
        with self.lock:
            while True:
                value = predicate()
                if value or time.time() >= deadline:
                    return value
                self.lock.wait(min(deadline - time.time(), 0.1))

    def _handler(self):
        raise NotImplementedError


class FakeWeChatAPI(LocalFake):
    def __init__(self):
        self.calls: list[tuple[str, dict, dict]] = []  # (path, query, json body)
        self.errors: dict[str, list[int]] = {}  # path -> errcodes for the next calls
        self.delays: dict[str, float] = {}
        self.tokens = itertools.count(1)
        self.valid_tokens: set[str] = set()
        self.media: dict[str, bytes] = {}  # media_id -> what /cgi-bin/media/get serves (pictures residents sent)
        super().__init__()

    @property
    def base_url(self) -> str:
        return self.address

    def sent(self, path: str = "/cgi-bin/message/custom/send") -> list[dict]:
        with self.lock:
            return [body for p, _, body in self.calls if p == path]

    def expire_tokens(self) -> None:
        with self.lock:
            self.valid_tokens.clear()

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _bytes(self, data: bytes):
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _answer(self, data: dict, status: int = 200):
                payload = json.dumps(data, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _handle(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                delay = api.delays.get(url.path)
                if delay:
                    time.sleep(delay)
                with api.lock:
                    api.calls.append((url.path, query, body))
                    api.lock.notify_all()
                    queued = api.errors.get(url.path) or []
                    errcode = queued.pop(0) if queued else 0
                if url.path == "/cgi-bin/token":
                    if query.get("appid") != APP_ID or query.get("secret") != APP_SECRET:
                        return self._answer({"errcode": 40125, "errmsg": "invalid appsecret"})
                    token = f"ACCESS_TOKEN_{next(api.tokens)}"
                    with api.lock:
                        api.valid_tokens.add(token)
                    return self._answer({"access_token": token, "expires_in": 7200})
                if query.get("access_token") not in api.valid_tokens:
                    return self._answer({"errcode": 42001, "errmsg": "access_token expired"})
                if errcode:
                    return self._answer({"errcode": errcode, "errmsg": f"fake error {errcode}"})
                if url.path == "/cgi-bin/media/get":
                    data = api.media.get(query.get("media_id", ""))
                    return self._bytes(data) if data else self._answer({"errcode": 40007, "errmsg": "invalid media_id"})
                if url.path == "/cgi-bin/message/mass/sendall":
                    return self._answer({"errcode": 0, "errmsg": "send job submission success", "msg_id": 34182})
                return self._answer({"errcode": 0, "errmsg": "ok"})

            do_GET = _handle
            do_POST = _handle

        return Handler


class WeChatUser:
    """A follower of the official account, sending what WeChat's servers would send for them."""

    ids = itertools.count(6_900_000_000_000_000_000)

    def __init__(self, bot_url: str, openid: str = "oResident0001", safe: bool = False, token: str = TOKEN):
        self.url, self.openid, self.safe, self.token = bot_url.rstrip("/") + "/wechat", openid, safe, token
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)

    def _query(self, body: str) -> tuple[dict, str]:
        timestamp, nonce = str(int(time.time())), str(next(self.ids) % 10**9)
        signature = hashlib.sha1("".join(sorted([self.token, timestamp, nonce])).encode()).hexdigest()
        query = {"signature": signature, "timestamp": timestamp, "nonce": nonce, "openid": self.openid}
        if self.safe:
            envelope = xmltodict.parse(self.crypto.encrypt_message(body, nonce, timestamp))["xml"]
            query.update(encrypt_type="aes", msg_signature=envelope["MsgSignature"])
            body = f"<xml><ToUserName><![CDATA[gh_centre]]></ToUserName><Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
        return query, body

    def xml(self, msg_type: str, fields: dict, msg_id: int | None = None) -> str:
        parts = [f"<ToUserName><![CDATA[gh_centre]]></ToUserName><FromUserName><![CDATA[{self.openid}]]></FromUserName>",
                 f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"]
        parts += [f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()]
        if msg_id is not None:
            parts.append(f"<MsgId>{msg_id}</MsgId>")
        return "<xml>" + "".join(parts) + "</xml>"

    def post(self, body: str, query: dict | None = None, timeout: float = 10) -> tuple[int, str]:
        signed, body = self._query(body)
        request = urllib.request.Request(f"{self.url}?{urlencode(query or signed)}", body.encode("utf-8"),
                                         {"Content-Type": "text/xml"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8")

    def send(self, text: str, msg_id: int | None = None) -> tuple[int, str, int]:
        msg_id = msg_id or next(self.ids)
        status, body = self.post(self.xml("text", {"Content": text}, msg_id))
        return status, self.reply_text(body), msg_id

    def voice(self, recognition: str) -> tuple[int, str]:
        status, body = self.post(self.xml("voice", {"MediaId": "media1", "Format": "amr", "Recognition": recognition},
                                          next(self.ids)))
        return status, self.reply_text(body)

    def image(self, media_id: str) -> tuple[int, str]:
        """A picture: WeChat sends its MediaId (the bot downloads it from the media API) and a PicUrl."""
        status, body = self.post(self.xml("image", {"PicUrl": f"http://mmbiz.qpic.cn/fake/{media_id}",
                                                    "MediaId": media_id}, next(self.ids)))
        return status, self.reply_text(body)

    def event(self, event: str, key: str = "") -> tuple[int, str]:
        fields = {"Event": event} | ({"EventKey": key} if key else {})
        status, body = self.post(self.xml("event", fields))
        return status, self.reply_text(body)

    def reply_text(self, body: str) -> str:
        """The text of a passive reply ("" for "success"), decrypted in safe mode."""
        if not body.startswith("<xml>"):
            return ""
        doc = xmltodict.parse(body)["xml"]
        if "Encrypt" in doc:
            plain = self.crypto.decrypt_message(body, doc["MsgSignature"], doc["TimeStamp"], doc["Nonce"])
            doc = xmltodict.parse(plain)["xml"]
        assert doc["ToUserName"] == self.openid and doc["MsgType"] == "text", doc
        return doc["Content"]


class FakeWeComRobot(LocalFake):
    """A WeCom group robot's webhook: records every post; can answer an errcode (45009: over the limit)
    while ``refusing`` is true, and enforces its 20-a-minute limit like the real one."""

    wait_seconds = 30.0

    def __init__(self, per_minute: int = 20):
        self.posts: list[dict] = []
        self.accepted: list[str] = []
        self.refusing = False
        self.per_minute = per_minute
        self.times: list[float] = []
        super().__init__()

    @property
    def url(self) -> str:
        return f"{self.address}/cgi-bin/webhook/send?key=test-robot-key"

    def _handler(self):
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                with robot.lock:
                    robot.posts.append(body)
                    recent = [t for t in robot.times if time.time() - t < 60]
                    if robot.refusing or len(recent) >= robot.per_minute:
                        answer = {"errcode": 45009, "errmsg": "api freq out of limit"}
                    else:
                        robot.times = recent + [time.time()]
                        robot.accepted.append(body[body["msgtype"]]["content"])
                        answer = {"errcode": 0, "errmsg": "ok"}
                    robot.lock.notify_all()
                payload = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler
