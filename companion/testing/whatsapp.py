"""A stand-in for Meta's WhatsApp Cloud API (this machine cannot reach Meta): the Graph API's /messages
endpoint, speaking its documented requests, answers and errors, and webhook notifications as Meta sends
them, signed as Meta signs them (X-Hub-Signature-256)."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "EAAG-test-token"
PHONE_ID = "106540352242922"
VERIFY = "verify-me-please"
APP_SECRET = "0123456789abcdef0123456789abcdef"


class GraphApiStandIn:
    """A Graph API stand-in: records every /messages body; can be told to fail the sends to a number."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.failures: dict[str, int] = {}  # wa_id -> sends to refuse (-1: every one)
        self.window_closed: set[str] = set()  # wa_ids to whom WhatsApp refuses free-form text (error 131047)
        self.media: dict[str, bytes] = {}  # media id -> the image's bytes (GET /{media-id}, then its URL)
        self.downloads: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                status, payload = stand_in.answer(self.path, self.headers.get("Authorization"), body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                status, payload = stand_in.media_answer(self.path, self.headers.get("Authorization"))
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "image/jpeg" if isinstance(payload, bytes) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/v23.0"

    def answer(self, path: str, auth: str | None, body: dict) -> tuple[int, dict]:
        if auth != f"Bearer {TOKEN}":
            return 401, {"error": {"message": "Invalid OAuth access token", "type": "OAuthException", "code": 190}}
        if path != f"/v23.0/{PHONE_ID}/messages" or body.get("messaging_product") != "whatsapp":
            return 400, {"error": {"message": "Unsupported post request", "type": "GraphMethodException", "code": 100}}
        self.bodies.append(body)
        if body["to"] in self.window_closed and body["type"] != "template":
            return 400, {"error": {"message": "Re-engagement message", "type": "OAuthException", "code": 131047}}
        left = self.failures.get(body["to"], 0)
        if left:
            self.failures[body["to"]] = left - 1 if left > 0 else left
            return 503, {"error": {"message": "Service temporarily unavailable", "code": 131000}}
        return 200, {"messaging_product": "whatsapp", "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                     "messages": [{"id": f"wamid.out{len(self.bodies)}"}]}

    def media_answer(self, path: str, auth: str | None) -> tuple[int, dict | bytes]:
        """GET /{media-id}: the media's URL, type and size, as the Graph API answers; GET that URL: the bytes.
        Both need the bearer token, as Meta's do."""
        if auth != f"Bearer {TOKEN}":
            return 401, {"error": {"message": "Invalid OAuth access token", "type": "OAuthException", "code": 190}}
        if path.startswith("/media/") and path[len("/media/"):] in self.media:
            self.downloads.append(path[len("/media/"):])
            return 200, self.media[path[len("/media/"):]]
        media_id = path.removeprefix("/v23.0/")
        if media_id not in self.media:
            return 400, {"error": {"message": "Unsupported get request", "type": "GraphMethodException", "code": 100}}
        return 200, {"messaging_product": "whatsapp", "url": f"{self.base_url.removesuffix('/v23.0')}/media/{media_id}",
                     "mime_type": "image/jpeg", "sha256": "abc=", "file_size": len(self.media[media_id]), "id": media_id}

    def texts(self, to: str) -> list[str]:
        """What reached `to`: texts, the bodies of button messages, and templates as "template:<name>"."""
        found = []
        for b in self.bodies:
            if b["to"] != to:
                continue
            if b["type"] == "text":
                found.append(b["text"]["body"])
            elif b["type"] == "interactive":
                found.append(b["interactive"]["body"]["text"])
            else:
                found.append(f"template:{b['template']['name']}")
        return found

    def close(self):
        self.server.shutdown()


def webhook(*messages: dict, name: str = "Aigerim Sadykova", wa_id: str = "77011234567") -> dict:
    """One webhook notification as Meta documents it, carrying `messages` from one resident."""
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "77172000000", "phone_number_id": PHONE_ID},
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "messages": list(messages)}}]}]}


def text(wamid: str, body: str, wa_id: str = "77011234567") -> dict:
    return {"from": wa_id, "id": wamid, "timestamp": str(int(time.time())), "type": "text", "text": {"body": body}}


def location(wamid: str, lat: float, long: float, wa_id: str = "77011234567") -> dict:
    return {"from": wa_id, "id": wamid, "timestamp": str(int(time.time())), "type": "location",
            "location": {"latitude": lat, "longitude": long, "name": "Abay St", "address": "Astana"}}


def image(wamid: str, media_id: str, caption: str, wa_id: str = "77011234567") -> dict:
    return {"from": wa_id, "id": wamid, "timestamp": str(int(time.time())), "type": "image",
            "image": {"caption": caption, "mime_type": "image/jpeg", "sha256": "abc=", "id": media_id}}


def button(wamid: str, ident: str, wa_id: str = "77011234567") -> dict:
    return {"from": wa_id, "id": wamid, "timestamp": str(int(time.time())), "type": "interactive",
            "context": {"from": "77172000000", "id": "wamid.out1"},
            "interactive": {"type": "button_reply", "button_reply": {"id": ident, "title": "I agree"}}}


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
