"""A stand-in for Telegram's Bot API (this machine cannot reach Telegram): the methods the bot uses (getMe,
getUpdates, setWebhook, deleteWebhook, sendMessage, answerCallbackQuery) over HTTP as the Bot API documents
them, and Updates as Telegram sends them."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote

TOKEN = "123456:TEST-token"
SECRET = "s3cret_token-for-tests"


class BotApiStandIn:
    """A Bot API stand-in: records every call; sendMessage can be told to fail for a chat."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.updates: list[dict] = []
        self.failures: dict[int, int] = {}  # chat id -> sends to refuse (-1: every one)
        self.next_message_id = 1000
        self.files: dict[str, bytes] = {}  # file_id -> the file's bytes, served by getFile and /file/bot<token>/
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                if self.path.startswith("/file/bot"):
                    status, data = stand_in.download(self.path)
                    self.send_response(status)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    params = json.loads(body or "{}")
                else:
                    params = {k: v[0] for k, v in parse_qs(body).items()}
                method = self.path.rsplit("/", 1)[-1]
                status, payload = stand_in.answer(self.path, method, params)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/bot"

    def answer(self, path: str, method: str, params: dict) -> tuple[int, dict]:
        if not path.startswith(f"/bot{TOKEN}/"):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        self.calls.append((method, params))
        if method == "getMe":
            return 200, {"ok": True, "result": {"id": 123456, "is_bot": True, "first_name": "Akimat",
                                                "username": "akimat_bot"}}
        if method == "getUpdates":
            offset = int(params.get("offset") or 0)
            result = [u for u in self.updates if u["update_id"] >= offset]
            return 200, {"ok": True, "result": result}
        if method == "getFile":  # a File: its size and the path to download it from /file/bot<token>/<path>
            data = self.files.get(params.get("file_id"))
            if data is None:
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}
            return 200, {"ok": True, "result": {"file_id": params["file_id"], "file_unique_id": "u1",
                                                "file_size": len(data), "file_path": f"photos/{params['file_id']}.jpg"}}
        if method in ("setWebhook", "deleteWebhook", "answerCallbackQuery"):
            return 200, {"ok": True, "result": True}
        if method == "sendMessage":
            chat = int(params["chat_id"])
            left = self.failures.get(chat, 0)
            if left:
                self.failures[chat] = left - 1 if left > 0 else left
                return 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}
            self.next_message_id += 1
            return 200, {"ok": True, "result": {"message_id": self.next_message_id, "date": int(time.time()),
                                                "chat": {"id": chat, "type": "private"}, "text": params["text"]}}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}

    def download(self, path: str) -> tuple[int, bytes]:
        """GET /file/bot<token>/<file_path>: the file's bytes, as Telegram serves them."""
        path = unquote(path)  # the client may send the token's ":" as %3A
        prefix = f"/file/bot{TOKEN}/photos/"
        if not path.startswith(prefix) or path[len(prefix):].removesuffix(".jpg") not in self.files:
            return 404, b""
        self.calls.append(("download", {"path": path}))
        return 200, self.files[path[len(prefix):].removesuffix(".jpg")]

    def sent(self, chat: int) -> list[str]:
        return [p["text"] for m, p in self.calls if m == "sendMessage" and int(p["chat_id"]) == chat
                and not self._refused(p)]

    def _refused(self, params) -> bool:
        return False

    def close(self):
        self.server.shutdown()


def message_update(update_id: int, chat: int, text: str = "", *, message_id: int | None = None, photo: bool = False,
                   location: tuple[float, float] | None = None, first_name: str = "Aigerim", last_name: str = "Sadykova",
                   language_code: str = "ru") -> dict:
    """An Update with a private chat's Message, as the Bot API documents it."""
    message = {"message_id": message_id or update_id, "date": int(time.time()),
               "from": {"id": chat, "is_bot": False, "first_name": first_name, "last_name": last_name,
                        "language_code": language_code},
               "chat": {"id": chat, "type": "private", "first_name": first_name, "last_name": last_name}}
    if text:
        message["caption" if photo else "text"] = text
    if photo:
        message["photo"] = [{"file_id": "AgAD-small", "file_unique_id": "s1", "width": 90, "height": 60},
                            {"file_id": "AgAD-large", "file_unique_id": "l1", "width": 1280, "height": 853}]
    if location:
        message["location"] = {"latitude": location[0], "longitude": location[1]}
    return {"update_id": update_id, "message": message}


def button_update(update_id: int, chat: int, data: str) -> dict:
    """An Update with a CallbackQuery from an inline button under one of the bot's messages."""
    return {"update_id": update_id, "callback_query": {
        "id": f"cb{update_id}", "chat_instance": "ci1", "data": data,
        "from": {"id": chat, "is_bot": False, "first_name": "Aigerim", "last_name": "Sadykova", "language_code": "ru"},
        "message": {"message_id": 1, "date": int(time.time()), "chat": {"id": chat, "type": "private"},
                    "from": {"id": 123456, "is_bot": True, "first_name": "Akimat"}, "text": "..."}}}
