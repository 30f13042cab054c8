"""Kriya under gunicorn on PostgreSQL, and a relying party (tests/relying_party, Plane-shaped) under gunicorn
using kriya_client as its README says: sign-in by token exchange, a DRF endpoint behind KriyaTokenAuthentication,
revocations reaching it within 2 s, and failing closed when Kriya goes away."""

import contextlib
import http.cookiejar
import json
import time
import urllib.request

import pytest
from django.db import connection

from tests.relying_party.launch import migrate, rp_env, serve
from tests.servers import TCPProxy, call, gunicorn, production_env

pytestmark = pytest.mark.postgres


@pytest.fixture
def kriya(transactional_db, tmp_path):
    """Kriya's base URL and API key, with a cuttable proxy in front of it for the relying party."""
    db = connection.settings_dict
    env = production_env(DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}")
    with gunicorn(env, tmp_path / "kriya.log", workers=2) as base:
        proxy = TCPProxy(int(base.rsplit(":", 1)[1]))
        proxy.restore()
        yield {"base": base, "key": env["PLANE_API_KEY"], "proxy": proxy}
        proxy.cut()


@contextlib.contextmanager
def relying_party(kriya, tmp_path, **settings):
    env = rp_env(f"http://127.0.0.1:{kriya['proxy'].port}", kriya["key"], tmp_path / "rp.sqlite3", **settings)
    migrate(env)
    with serve(env, tmp_path / "rp.log") as base:
        yield base


@pytest.fixture
def rp(kriya, tmp_path):
    with relying_party(kriya, tmp_path) as base:
        yield base


def sign_in_at_kriya(kriya, phone="+16502530001", device="Laptop"):
    body = json.dumps({"phone_number": phone, "first_name": "Ada", "device_name": device}).encode()
    status, _, answer = call(kriya["base"], "POST", "/api/auth/register", body)
    assert status == 200, answer
    return json.loads(answer)


class Browser:
    """A browser of the relying party: keeps its session cookie."""

    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def request(self, method, path, token=None):
        request = urllib.request.Request(self.base + path, method=method,
                                         headers={"Authorization": f"Bearer {token}"} if token else {})
        try:
            with self.opener.open(request, timeout=15) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


def me(rp, token):
    return Browser(rp).request("GET", "/api/me", token)[0]


def refused_everywhere(rp, token, browser=None) -> bool:
    """The token (and the browser's session) refused 8 times in a row: by every worker, not just one."""
    return all(me(rp, token) == 401 and (browser is None or browser.request("GET", "/api/me")[0] == 401)
               for _ in range(8))


def seconds_until(condition, limit=5.0):
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < limit, "not within the limit"
        time.sleep(0.02)
    return time.monotonic() - started


def test_sign_in_then_logout_at_kriya_ends_the_token_and_the_session_within_2_s(kriya, rp):
    signed_in = sign_in_at_kriya(kriya)
    token = signed_in["token"]
    browser = Browser(rp)
    status, body = browser.request("POST", "/auth/kriya", token)
    assert status == 200
    assert body["email"].endswith("@phone.kriya.invalid") and "2530001" not in body["email"]  # no digit shown
    assert [cookie.name for cookie in browser.jar] == ["session-id"]
    assert browser.request("GET", "/api/me") == (200, {"id": int(body["id"]), "email": body["email"]})
    for _ in range(5):
        assert me(rp, token) == 200

    assert call(kriya["base"], "DELETE", f"/api/auth/logout?token={token}")[0] == 200
    delay = seconds_until(lambda: refused_everywhere(rp, token, browser))
    assert delay < 2


def test_deactivation_in_kriyas_admin_ends_the_token_and_the_session_within_2_s(kriya, rp, settings):
    from django.test import Client

    from accounts.models import User

    token = sign_in_at_kriya(kriya)["token"]
    browser = Browser(rp)
    assert browser.request("POST", "/auth/kriya", token)[0] == 200
    assert me(rp, token) == 200
    admin = Client()
    admin.force_login(User.objects.create_superuser("+16502539999", first_name="Admin", password="x" * 12))

    user = User.objects.get(phone_number="+16502530001")
    response = admin.post(f"/{settings.ADMIN_URL}accounts/user/", {"action": "deactivate", "_selected_action": [user.pk]})
    assert response.status_code == 302
    delay = seconds_until(lambda: refused_everywhere(rp, token, browser))
    assert delay < 2


def test_with_plane_s_redis_as_the_cache_a_logout_ends_token_and_session_within_2_s(kriya, tmp_path):
    with relying_party(kriya, tmp_path, KRIYA_CACHE="default", RP_REDIS_URL="redis://127.0.0.1:6379/14",
                       RP_REDIS_PREFIX=f"rp-{time.monotonic_ns()}") as rp:
        token = sign_in_at_kriya(kriya)["token"]
        browser = Browser(rp)
        assert browser.request("POST", "/auth/kriya", token)[0] == 200
        seconds_until(lambda: all(me(rp, token) == 200 for _ in range(4)))

        assert call(kriya["base"], "DELETE", f"/api/auth/logout?token={token}")[0] == 200
        delay = seconds_until(lambda: refused_everywhere(rp, token, browser))
        assert delay < 2


def test_revoking_one_kriya_session_ends_that_devices_token_and_session_only(kriya, rp):
    phone, laptop = sign_in_at_kriya(kriya, device="Phone"), sign_in_at_kriya(kriya, device="Laptop")
    phone_browser, laptop_browser = Browser(rp), Browser(rp)
    assert phone_browser.request("POST", "/auth/kriya", phone["token"])[0] == 200
    assert laptop_browser.request("POST", "/auth/kriya", laptop["token"])[0] == 200
    assert me(rp, phone["token"]) == me(rp, laptop["token"]) == 200

    status = call(kriya["base"], "DELETE", f"/api/auth/sessions/{phone['session_id']}",
                  headers={"Authorization": f"Bearer {laptop['token']}"})[0]
    assert status == 200
    delay = seconds_until(lambda: refused_everywhere(rp, phone["token"], phone_browser))
    assert delay < 2
    assert me(rp, laptop["token"]) == 200
    assert laptop_browser.request("GET", "/api/me")[0] == 200


def test_kriya_gone_the_relying_party_fails_closed_after_the_bound(kriya, tmp_path):
    with relying_party(kriya, tmp_path, KRIYA_MAX_STALENESS_SECONDS=2) as rp:
        token = sign_in_at_kriya(kriya)["token"]
        seconds_until(lambda: me(rp, token) == 200)
        time.sleep(1.5)  # every worker's follower has polled: their caches answer
        kriya["proxy"].cut()
        started = time.monotonic()
        while time.monotonic() - started < 2 + 1.5:  # the bound, plus a poll and a request's own time
            assert me(rp, token) in (200, 503)  # cached answers while the follower is within the bound
            time.sleep(0.05)
        for _ in range(10):  # then every worker refuses: nothing unchecked gets through
            assert Browser(rp).request("GET", "/api/me", token) == (503, {"detail": "Authentication service unavailable"})

        kriya["proxy"].restore()
        seconds_until(lambda: all(me(rp, token) == 200 for _ in range(4)))


def test_a_cursor_past_kriyas_retention_drops_the_cache_and_the_signed_in_sessions(kriya, rp, tmp_path):
    from accounts.models import RevocationEvent

    ada = sign_in_at_kriya(kriya)
    browser = Browser(rp)
    assert browser.request("POST", "/auth/kriya", ada["token"])[0] == 200
    bob = sign_in_at_kriya(kriya, phone="+16502530002")
    assert call(kriya["base"], "DELETE", f"/api/auth/logout?token={bob['token']}")[0] == 200
    time.sleep(1.5)  # every follower's cursor is at Bob's logout
    for _ in range(6):
        assert me(rp, ada["token"]) == 200
    asked = (tmp_path / "kriya.log").read_text().count("POST /api/auth/validate-token")

    RevocationEvent.objects.all().delete()  # purged: older than REVOCATION_RETENTION_DAYS
    seconds_until(lambda: browser.request("GET", "/api/me")[0] == 401, limit=3)  # on_reset ended the session

    def asked_again():  # every worker drops its cache at its next poll; the access log is written after the answer
        assert me(rp, ada["token"]) == 200  # the token itself is still valid
        return (tmp_path / "kriya.log").read_text().count("POST /api/auth/validate-token") > asked

    seconds_until(asked_again, limit=3)
