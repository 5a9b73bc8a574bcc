"""A local fake of the Telegram Bot API over HTTP (127.0.0.1), for end-to-end tests.

It speaks enough of the Bot API for python-telegram-bot's real ``Application``:
getMe, getUpdates (long polling), sendMessage, editMessageText,
editMessageReplyMarkup, answerCallbackQuery, setWebhook/deleteWebhook, sendVoice,
sendDocument and the like. Tests push updates in, read what the bot sent, and can
make a method fail with 500 or 429 (with retry_after) to test resilience.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote

BOT = {"id": 777000111, "is_bot": True, "first_name": "反诈助手", "username": "fanzha_test_bot",
       "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}


class QuietServer(ThreadingHTTPServer):
    """A client that hung up (the bot shutting down mid-call) is not an error worth a traceback."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class FakeTelegram:
    def __init__(self, token: str = "123456:TEST-TOKEN"):
        self.token = token
        self.lock = threading.Condition()
        self.updates: list[dict] = []
        self.update_ids = itertools.count(1)
        self.message_ids = itertools.count(1000)
        self.calls: list[tuple[str, dict]] = []
        self.failures: dict[str, list[tuple[int, int]]] = {}  # method -> [(status, retry_after)]
        self.failing_chats: dict[str, tuple[int, int]] = {}  # chat id -> (status, retry_after) until cleared
        self.blocked_chats: set[str] = set()  # these users blocked the bot: 403 Forbidden
        self.delays: dict[str, list[float]] = {}  # method -> seconds to stall the next calls (time-outs)
        self.down = False  # every request fails with 500 while True
        self.files: dict[str, bytes] = {}  # file_id -> what getFile's file_path serves
        self.polling = 0  # getUpdates requests being answered now
        self.conflicts = 0  # getUpdates while another was in progress (two pollers on one token: 409 on Telegram)
        self.server = QuietServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/bot"

    def start(self) -> "FakeTelegram":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- test side -----------------------------------------------------------------------------

    def push(self, update: dict) -> None:
        with self.lock:
            update["update_id"] = next(self.update_ids)
            self.updates.append(update)
            self.lock.notify_all()

    def push_message(self, chat_id: int, text: str, user_id: int | None = None, chat_type: str = "private",
                     **extra) -> int:
        message_id = next(self.message_ids)
        user = {"id": user_id or chat_id, "is_bot": False, "first_name": "居民"}
        message = {"message_id": message_id, "date": int(time.time()), "chat": {"id": chat_id, "type": chat_type},
                   "from": user, **extra}
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        self.push({"message": message})
        return message_id

    def add_file(self, data: bytes) -> str:
        with self.lock:
            file_id = f"file{len(self.files) + 1}"
            self.files[file_id] = data
        return file_id

    def push_photo(self, chat_id: int, data: bytes, caption: str | None = None, size: tuple[int, int] = (1080, 2400),
                   as_document: bool = False) -> int:
        """A resident sends a picture: as a photo (with a small thumbnail size first, as Telegram does) or as an
        image file."""
        file_id = self.add_file(data)
        extra: dict = {"caption": caption} if caption else {}
        if as_document:
            extra["document"] = {"file_id": file_id, "file_unique_id": "u" + file_id, "file_name": "screenshot.png",
                                 "mime_type": "image/png", "file_size": len(data)}
        else:
            thumb = self.add_file(data[:64])
            extra["photo"] = [{"file_id": thumb, "file_unique_id": "u" + thumb, "width": 90, "height": 200,
                               "file_size": 64},
                              {"file_id": file_id, "file_unique_id": "u" + file_id, "width": size[0],
                               "height": size[1], "file_size": len(data)}]
        return self.push_message(chat_id, None, **extra)

    def push_callback(self, chat_id: int, data: str, user_id: int | None = None, message_id: int = 1,
                      first_name: str = "居民") -> None:
        user = {"id": user_id or chat_id, "is_bot": False, "first_name": first_name}
        message = {"message_id": message_id, "date": int(time.time()), "chat": {"id": chat_id, "type": "private"},
                   "from": BOT, "text": "…"}
        self.push({"callback_query": {"id": str(next(self.message_ids)), "from": user, "chat_instance": "1",
                                      "message": message, "data": data}})

    def fail(self, method: str, status: int = 500, times: int = 1, retry_after: int = 1) -> None:
        with self.lock:
            self.failures.setdefault(method, []).extend([(status, retry_after)] * times)

    def stall(self, method: str, seconds: float, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer only after ``seconds`` (the client times out)."""
        with self.lock:
            self.delays.setdefault(method, []).extend([seconds] * times)

    def fail_chat(self, chat_id: int | str, status: int = 500, retry_after: int = 1) -> None:
        """Every send to ``chat_id`` fails with ``status`` until ``recover_chat``."""
        with self.lock:
            self.failing_chats[str(chat_id)] = (status, retry_after)

    def recover_chat(self, chat_id: int | str) -> None:
        with self.lock:
            self.failing_chats.pop(str(chat_id), None)

    def sent(self, chat_id: int | str | None = None, method: str = "sendMessage") -> list[dict]:
        with self.lock:
            return [p for m, p in self.calls if m == method and (chat_id is None or str(p.get("chat_id")) == str(chat_id))]

    def wait_for(self, predicate, timeout: float = 15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError("timed out waiting for the bot")

    # --- server side ---------------------------------------------------------------------------

    def _respond(self, method: str, params: dict):
        with self.lock:
            if self.down:
                return 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
            queue = self.failures.get(method)
            failing = self.failing_chats.get(str(params.get("chat_id"))) if method.startswith("send") else None
            if queue or failing:
                status, retry_after = failing or queue.pop(0)
                if status == 429:
                    return 429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry later",
                                 "parameters": {"retry_after": retry_after}}
                return status, {"ok": False, "error_code": status, "description": "Internal Server Error"}
            if method.startswith("send") and str(params.get("chat_id")) in self.blocked_chats:
                return 403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
            if method != "getUpdates":
                params["_at"] = time.monotonic()
                self.calls.append((method, params))
        if method == "getMe":
            return 200, {"ok": True, "result": BOT}
        if method == "getUpdates":
            with self.lock:
                if self.polling:  # Telegram would answer 409 Conflict; counted, so tests can see two pollers
                    self.conflicts += 1
                self.polling += 1
            try:
                return 200, {"ok": True, "result": self._poll(params)}
            finally:
                with self.lock:
                    self.polling -= 1
        if method in ("sendMessage", "sendVoice", "sendDocument", "sendPhoto", "sendAudio"):
            chat_id = params.get("chat_id")
            message = {"message_id": next(self.message_ids), "date": int(time.time()),
                       "chat": {"id": int(chat_id) if str(chat_id).lstrip("-").isdigit() else chat_id,
                                "type": "private"}, "from": BOT}
            if "text" in params:
                message["text"] = params["text"]
            return 200, {"ok": True, "result": message}
        if method == "getFile":
            file_id = str(params.get("file_id"))
            if file_id not in self.files:
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}
            return 200, {"ok": True, "result": {"file_id": file_id, "file_unique_id": "u" + file_id,
                                                "file_size": len(self.files[file_id]), "file_path": f"photos/{file_id}"}}
        if method in ("editMessageText", "editMessageReplyMarkup"):
            return 200, {"ok": True, "result": {"message_id": int(params.get("message_id") or 1),
                                                "date": int(time.time()), "chat": {"id": int(params.get("chat_id") or 0),
                                                                                   "type": "private"},
                                                "text": params.get("text", "…")}}
        return 200, {"ok": True, "result": True}

    def _poll(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + min(timeout, 2.0)
        with self.lock:
            while True:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                if self.updates or time.monotonic() >= deadline:
                    return list(self.updates[:100])
                self.lock.wait(max(0.0, deadline - time.monotonic()))

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.do_POST()

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if len(body) < length:  # the client gave up mid-request (a cancelled send): nothing arrived
                    return
                path = unquote(self.path.split("?")[0])  # PTB quotes the token's ":" in file URLs
                files = f"/file/bot{fake.token}/photos/"
                if path.startswith(files) and path[len(files):] in fake.files:
                    data = fake.files[path[len(files):]]
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                prefix = f"/bot{fake.token}/"
                if not path.startswith(prefix):
                    return self._send(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                method = path[len(prefix):]
                with fake.lock:
                    delay = fake.delays[method].pop(0) if fake.delays.get(method) else 0
                if delay:
                    time.sleep(delay)
                    return  # the client gave up: answer nothing, record nothing
                status, payload = fake._respond(method, self._params(body))
                self._send(status, payload)

            def _params(self, body: bytes) -> dict:
                kind = self.headers.get("Content-Type", "")
                if kind.startswith("application/json"):
                    return json.loads(body or b"{}")
                if kind.startswith("multipart/form-data"):
                    message = BytesParser(policy=email_policy).parsebytes(
                        f"Content-Type: {kind}\r\n\r\n".encode() + body)
                    params = {}
                    for part in message.iter_parts():
                        name = part.get_param("name", header="content-disposition")
                        if part.get_filename():
                            params[name] = {"filename": part.get_filename(), "bytes": len(part.get_payload(decode=True))}
                        else:
                            params[name] = part.get_content()
                    return params
                return {k: v[0] for k, v in parse_qs(body.decode("utf-8")).items()}

            def _send(self, status: int, payload: dict):
                data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
