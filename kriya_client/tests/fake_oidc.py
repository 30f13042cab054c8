"""A tiny OpenID Connect provider in a thread, standing in for Kriya's in the kit's own tests, which run without
Kriya (Kriya's suite runs the kit inside Plane against Kriya's real provider: tests/test_plane.py): discovery, JWKS,
an authorize step the test drives (approve()), and a token endpoint that checks PKCE (S256), the redirect URI and
the client's secret, and signs RS256 ID tokens."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

CLIENT_ID, CLIENT_SECRET = "plane", "plane-secret"


class FakeOIDC:
    def __init__(self, port: int = 0):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "k1"
        self.codes: dict[str, dict] = {}
        self.down = False
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.issuer = self.url
        self.claims_override: dict = {}
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def approve(self, authorize_url: str, user: dict, sid: str) -> str:
        """The person signs in at Kriya: the callback URL Kriya would redirect the browser to."""
        query = {name: values[0] for name, values in parse_qs(urlsplit(authorize_url).query).items()}
        assert authorize_url.startswith(f"{self.url}/oauth/authorize?")
        assert (query["response_type"], query["client_id"], query["code_challenge_method"]) == ("code", CLIENT_ID, "S256")
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"user": user, "sid": sid, **query}
        return f"{query['redirect_uri']}?code={code}&state={query['state']}"

    def id_token(self, grant: dict) -> str:
        now = int(time.time())
        user = grant["user"]
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "sub": user["id"], "iat": now, "exp": now + 300,
                  "nonce": grant["nonce"], "sid": grant["sid"], "phone_number": user["phone_number"],
                  "given_name": user["first_name"], "family_name": user["last_name"], "amr": ["sms"],
                  **self.claims_override}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if fake.down:
                    return self.answer(503, {"detail": "down"})
                path = urlsplit(self.path).path
                if path == "/.well-known/openid-configuration":
                    return self.answer(200, {"issuer": fake.issuer, "jwks_uri": f"{fake.url}/oauth/jwks",
                                             "authorization_endpoint": f"{fake.url}/oauth/authorize",
                                             "token_endpoint": f"{fake.url}/oauth/token"})
                if path == "/oauth/jwks":
                    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(fake.key.public_key()))
                    return self.answer(200, {"keys": [{**jwk, "kid": fake.kid, "use": "sig", "alg": "RS256"}]})
                self.answer(404, {})

            def do_POST(self):
                if fake.down:
                    return self.answer(503, {"detail": "down"})
                form = {name: values[0] for name, values in
                        parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()).items()}
                basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {basic}":
                    return self.answer(401, {"error": "invalid_client"})
                grant = fake.codes.pop(form.get("code", ""), None)
                challenge = base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
                if (grant is None or form.get("redirect_uri") != grant["redirect_uri"]
                        or challenge.rstrip(b"=").decode() != grant["code_challenge"]):
                    return self.answer(400, {"error": "invalid_grant"})
                self.answer(200, {"access_token": "a", "token_type": "Bearer", "id_token": fake.id_token(grant)})

        return Handler

