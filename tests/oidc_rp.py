"""A small OpenID Connect relying party for the live tests, written with Authlib (nobody here wrote the protocol
side): discovery, PKCE S256, the code exchange, the ID token verified against the JWKS, userinfo, refresh and
RP-initiated logout. It serves /<name>/login, /<name>/callback, /<name>/logout, /<name>/bye for each client on
one loopback port, like an app's backend that a browser visits.
"""

import contextlib
import html
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken


@dataclass
class Client:
    """One registered client of Kriya, as the relying party holds it."""

    name: str
    client_id: str
    client_secret: str | None
    base: str  # the relying party's own base URL
    pending: dict = field(default_factory=dict)  # state -> (nonce, code_verifier), like a server-side session
    signed_in: dict = field(default_factory=dict)  # the last sign-in: claims, userinfo, tokens

    @property
    def redirect_uri(self) -> str:
        return f"{self.base}/{self.name}/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        return f"{self.base}/{self.name}/bye"


class OidcRelyingParty:
    def __init__(self, issuer: str):
        self.issuer = issuer
        self.metadata = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
        self.clients: dict[str, Client] = {}
        self.errors: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    # --- the protocol, with Authlib ---

    def session(self, client: Client, **kwargs) -> OAuth2Session:
        return OAuth2Session(client.client_id, client.client_secret, scope="openid profile phone email",
                             redirect_uri=client.redirect_uri, code_challenge_method="S256",
                             token_endpoint_auth_method="client_secret_basic" if client.client_secret else "none",
                             **kwargs)

    def login_url(self, client: Client, **extra) -> str:
        verifier, nonce = generate_token(48), generate_token(20)
        url, state = self.session(client).create_authorization_url(
            self.metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **extra)
        client.pending[state] = (nonce, verifier)
        return url

    def complete(self, client: Client, callback_url: str) -> dict:
        """The callback: state checked (and spent), code exchanged with the verifier, ID token verified, userinfo."""
        state = dict(part.split("=", 1) for part in urlsplit(callback_url).query.split("&"))["state"]
        nonce, verifier = client.pending.pop(state)  # KeyError: a replayed or forged state
        session = self.session(client, state=state)
        token = session.fetch_token(self.metadata["token_endpoint"], authorization_response=callback_url,
                                    code_verifier=verifier)
        claims = self.verify_id_token(client, token["id_token"], nonce=nonce, access_token=token["access_token"])
        userinfo = session.get(self.metadata["userinfo_endpoint"]).json()
        client.signed_in = {"claims": claims, "userinfo": userinfo, "token": dict(token)}
        return client.signed_in

    def verify_id_token(self, client: Client, id_token: str, *, nonce: str | None, access_token: str | None) -> dict:
        keys = JsonWebKey.import_key_set(requests.get(self.metadata["jwks_uri"], timeout=10).json())
        claims = jwt.decode(id_token, keys, claims_cls=CodeIDToken,
                            claims_options={"iss": {"essential": True, "value": self.metadata["issuer"]}},
                            claims_params={"nonce": nonce, "client_id": client.client_id, "access_token": access_token})
        claims.validate(leeway=5)
        return dict(claims)

    def refresh(self, client: Client) -> requests.Response:
        """The token endpoint's answer to a refresh of the last sign-in's tokens (raw: a refusal is a result)."""
        return requests.post(self.metadata["token_endpoint"], timeout=10, auth=(client.client_id, client.client_secret),
                             data={"grant_type": "refresh_token", "refresh_token": client.signed_in["token"]["refresh_token"]})

    def logout_url(self, client: Client) -> str:
        return self.metadata["end_session_endpoint"] + "?" + urlencode({
            "id_token_hint": client.signed_in["token"]["id_token"],
            "post_logout_redirect_uri": client.post_logout_redirect_uri, "state": "bye"})

    # --- the relying party's pages ---

    def _handler(self):
        rp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/favicon.ico":
                    return self.answer(204, "")
                name, _, action = self.path.lstrip("/").partition("/")
                client = rp.clients.get(name)
                action = action.split("?", 1)[0]
                try:
                    if client is None:
                        return self.answer(404, "no such client")
                    if action == "login":
                        return self.redirect(rp.login_url(client))
                    if action == "callback":
                        result = rp.complete(client, rp.base + self.path)
                        claims = result["claims"]
                        return self.answer(200, f'<h1 id="signed-in">Signed in to {html.escape(client.name)}</h1>'
                                                f'<p id="sub">{html.escape(claims["sub"])}</p>'
                                                f'<p id="phone">{html.escape(claims.get("phone_number", ""))}</p>'
                                                f'<p id="sid">{html.escape(claims.get("sid", ""))}</p>')
                    if action == "logout":
                        return self.redirect(rp.logout_url(client))
                    if action == "bye":
                        return self.answer(200, f'<h1 id="signed-out">Signed out of {html.escape(client.name)}</h1>')
                    return self.answer(404, "not found")
                except Exception as error:  # shown to the test, which fails on it
                    rp.errors.append(f"{type(error).__name__}: {error}")
                    return self.answer(500, f'<h1 id="rp-error">{html.escape(type(error).__name__)}</h1>')

            def redirect(self, location):
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def answer(self, status, body):
                data = f"<!doctype html><title>Relying party</title>{body}".encode() if status != 204 else b""
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler

    @contextlib.contextmanager
    def running(self):
        thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()

