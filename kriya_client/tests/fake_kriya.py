"""A tiny Kriya in a thread: validate-token and the revocation feed, exactly as the contract says, in memory."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

API_KEY = "test-api-key"


def make_token(user_id: str, sid: str | None = None, exp: float | None = None, version: int = 0) -> str:
    """A JWT-shaped token (unsigned: the fake checks it by lookup, as Kriya checks signatures)."""
    claims = {"user_id": user_id, "token_version": version, "exp": int(exp or time.time() + 3600), "jti": uuid.uuid4().hex}
    if sid:
        claims["sid"] = sid
    encode = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{encode({'alg': 'HS256'})}.{encode(claims)}.c2lnbmF0dXJl"


class FakeKriya:
    def __init__(self):
        self.users: dict[str, dict] = {}
        self.tokens: dict[str, tuple[str, str | None, int]] = {}  # token -> (user_id, sid, version)
        self.versions: dict[str, int] = {}
        self.revoked_sessions: set[str] = set()
        self.inactive: set[str] = set()
        self.events: list[dict] = []
        self.purged_before = 0  # events with id <= this are gone: their cursors answer 410
        self.max_age = 60
        self.cache_control: str | None = None  # overrides the header when set
        self.down = False  # answer 503 to everything
        self.feed_down = False
        self.validate_calls = 0
        self.feed_calls = 0
        self.connections: set = set()
        self.validate_gate: threading.Event | None = None  # when set: validate waits on it, after deciding
        self.deciding = threading.Event()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # --- the world --------------------------------------------------------------------------------

    def add_user(self, phone="+16502530001", first_name="Ada", last_name="Lovelace") -> dict:
        user = {"id": str(uuid.uuid4()), "phone_number": phone, "first_name": first_name, "last_name": last_name,
                "email": "ada@example.com", "created_at": "2026-11-26T00:00:00Z"}
        self.users[user["id"]] = user
        self.versions[user["id"]] = 0
        return user

    def issue(self, user: dict, sid: str | None = "new", exp: float | None = None) -> str:
        sid = str(uuid.uuid4()) if sid == "new" else sid
        token = make_token(user["id"], sid, exp, self.versions[user["id"]])
        self.tokens[token] = (user["id"], sid, self.versions[user["id"]])
        return token

    def _event(self, type_, user_id, session_id=None):
        with self.lock:
            event = {"id": len(self.events) + 1, "type": type_, "user_id": user_id, "session_id": session_id,
                     "token_version": self.versions[user_id],
                     "at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")}
            self.events.append(event)
        return event

    def logout(self, user: dict) -> dict:
        self.versions[user["id"]] += 1
        return self._event("logout", user["id"])

    def revoke_session(self, user: dict, sid: str) -> dict:
        self.revoked_sessions.add(sid)
        return self._event("session_revoked", user["id"], sid)

    def deactivate(self, user: dict) -> dict:
        self.inactive.add(user["id"])
        self.versions[user["id"]] += 1
        return self._event("user_deactivated", user["id"])

    def purge(self):
        self.purged_before = len(self.events)

    def is_valid(self, token) -> bool:
        if token not in self.tokens:
            return False
        user_id, sid, version = self.tokens[token]
        return (version == self.versions[user_id] and sid not in self.revoked_sessions
                and user_id not in self.inactive)

    # --- HTTP --------------------------------------------------------------------------------------

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as gunicorn with keepalive

            def log_message(self, *args):
                pass

            def answer(self, status, body, cache_control=None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if cache_control:
                    self.send_header("Cache-Control", cache_control)
                self.end_headers()
                self.wfile.write(data)

            def setup(self):
                super().setup()
                fake.connections.add(self.client_address)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if urlsplit(self.path).path != "/api/auth/validate-token":
                    return self.answer(404, {"detail": "Not found."})
                if fake.down:
                    return self.answer(503, {"detail": "Service temporarily unavailable"})
                if self.headers.get("X-API-Key") != API_KEY:
                    return self.answer(403, {"detail": "Invalid API key"})
                fake.validate_calls += 1
                token = body.get("token")
                if not isinstance(token, str):
                    return self.answer(400, {"token": ["This field is required."]})
                valid = fake.is_valid(token)
                if fake.validate_gate is not None:
                    fake.deciding.set()
                    fake.validate_gate.wait(10)
                if not valid:
                    return self.answer(200, {"valid": False, "user": None, "message": "Token has been revoked"},
                                       fake.cache_control or "no-store")
                user = fake.users[fake.tokens[token][0]]
                self.answer(200, {"valid": True, "user": user, "message": "Token is valid"},
                            fake.cache_control or f"private, max-age={fake.max_age}")

            def do_GET(self):
                url = urlsplit(self.path)
                if url.path != "/api/auth/revocations":
                    return self.answer(404, {"detail": "Not found."})
                if fake.down or fake.feed_down:
                    return self.answer(503, {"detail": "Service temporarily unavailable"})
                if self.headers.get("X-API-Key") != API_KEY:
                    return self.answer(403, {"detail": "Invalid API key"})
                fake.feed_calls += 1
                query = parse_qs(url.query)
                limit = int(query.get("limit", ["100"])[0])
                head = str(len(fake.events))
                if "after" not in query:
                    return self.answer(200, {"events": [], "cursor": head})
                after = int(query["after"][0])
                if after < fake.purged_before:
                    return self.answer(410, {"detail": "Cursor expired: start again without after"})
                events = fake.events[after:after + limit]
                cursor = str(events[-1]["id"]) if events else str(after)
                self.answer(200, {"events": events, "cursor": cursor})

        return Handler
