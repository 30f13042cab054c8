"""The kit inside Plane's real backend (../shared/plane/apps/api, Plane's own pinned requirements), served its
production way (gunicorn, 2 uvicorn workers, plane.asgi) and wired exactly by kriya_client's settings file for
Plane, with Kriya under gunicorn on PostgreSQL: sign-in by token exchange, what Plane's web app needs right after
it, revocations ending Plane's sessions, Bearer tokens on Plane's API (opt-in), closed sign-up, Kriya down, and
Plane restarted during a logout. The browser sign-in runs in headless Chromium against Kriya's own OpenID Connect
provider and hosted pages (screenshots: artifacts/screenshots/plane-*.png)."""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from selenium.webdriver.support.ui import WebDriverWait

from tests.plane import launch
from tests.otp_fixtures import code_in
from tests.servers import REPO, TCPProxy, call, free_port, gunicorn, production_env
from tests.test_browser import Page, browser  # noqa: F401 (browser: a fixture)
from tests.test_oidc_live import database_url, signing_key
from tests.test_relying_party import kriya, seconds_until, sign_in_at_kriya  # noqa: F401 (kriya: a fixture)

pytestmark = pytest.mark.postgres

KIT_SETTINGS = launch.KIT / "src" / "kriya_client" / "plane" / "settings.py"
SIGN_UP_CLOSED = ("Sign-up is closed here and this phone number has no account: ask an administrator for an "
                  "invitation")


def test_the_readme_shows_the_settings_file_the_tests_run_plane_with():
    readme = (launch.KIT / "README.md").read_text()
    assert f"```python\n{KIT_SETTINGS.read_text()}```" in readme
    assert launch.SETTINGS == "kriya_client.plane.settings"


@pytest.fixture(scope="session")
def plane_build():
    """Plane's venv, a working copy of its backend and its template database: built once per run (and cached)."""
    reason = launch.missing()
    if reason:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{reason}: CI has it, so its absence is a failure")
        pytest.skip(reason)
    db = connection.settings_dict
    postgres = launch.Postgres(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432), db["USER"], db["PASSWORD"])
    python = launch.venv() / "bin" / "python"
    source = launch.source()
    env = launch.environment("", "redis://127.0.0.1:6379/0", "", "")
    return {"python": python, "source": source, "postgres": postgres, "env": env,
            "template": postgres.template(python, source, env)}


def test_plane_s_worker_beat_and_migrator_load_the_kit_s_settings_from_the_documented_environment(plane_build):
    """Worker and beat are `celery -A plane …`: `celery -A plane report` loads the same app and settings without a
    broker. The migrator is manage.py: its system checks pass (the kit's logger is named in Plane's LOGGING)."""
    env = {**plane_build["env"], "KRIYA_PLANE_BEARER": "1"}
    result = subprocess.run([str(plane_build["python"].with_name("celery")), "-A", "plane", "report"],
                            cwd=plane_build["source"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "'kriya_client.plane']" in result.stdout
    assert "KRIYA_ADAPTER: 'kriya_client.plane.adapter.PlaneAdapter'" in result.stdout
    assert "KRIYA_PLANE_BEARER: True" in result.stdout

    result = subprocess.run([str(plane_build["python"]), "manage.py", "check"], cwd=plane_build["source"], env=env,
                            capture_output=True, text=True, timeout=120)  # the migrator's environment
    assert (result.returncode, result.stdout.strip()) == (0, "System check identified no issues (0 silenced).")


@contextlib.contextmanager
def planes(plane_build, kriya, redis_url, tmp_path):  # noqa: F811 (kriya: the fixture's value)
    """start_plane(port=None, **environment): Plane on a fresh copy of the template database, talking to Kriya
    through the cuttable proxy; stopped (and its database dropped) on the way out."""
    import redis

    started = []

    def start_plane(port=None, **variables):
        redis.Redis.from_url(redis_url).flushdb()  # Plane's cache: nothing from an earlier test
        database = stack.enter_context(plane_build["postgres"].copy(plane_build["template"]))
        env = launch.environment(database, redis_url, f"http://127.0.0.1:{kriya['proxy'].port}", kriya["key"],
                                 **variables)
        plane = launch.Plane(plane_build["python"], plane_build["source"], env, tmp_path / f"plane{len(started)}.log",
                             port)
        plane.database = database
        started.append(plane)
        plane.start()
        return plane

    with contextlib.ExitStack() as stack:
        try:
            yield start_plane
        finally:
            for plane in started:
                plane.stop()


@pytest.fixture
def start_plane(plane_build, kriya, redis_url, tmp_path):  # noqa: F811 (kriya: the fixture)
    with planes(plane_build, kriya, redis_url, tmp_path) as start:
        yield start


class Browser:
    """A browser of Plane: keeps its session cookie; answers are (status, JSON body)."""

    def __init__(self, plane):
        self.base = plane.base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def request(self, method, path, token=None, body=None, headers=None):
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=20) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def sign_in(self, token):
        return self.request("POST", "/auth/kriya/", token)

    def me(self, path="/api/users/me/"):
        return self.request("GET", path)[0]


def refused(check) -> bool:
    """Refused 6 times in a row: by both workers, not just one."""
    return all(check() == 401 for _ in range(6))


def digits(phone):
    return phone.lstrip("+")


def plane_sql(plane, query, *args):
    with psycopg.connect(plane.database) as db:
        return db.execute(query, args).fetchall()


def test_two_new_numbers_sign_in_to_plane_with_what_plane_s_web_app_needs_and_no_number_shown(kriya, start_plane):  # noqa: F811
    plane = start_plane()
    signed_in = {}
    for phone in ("+16502530001", "+16502530002"):
        browser = Browser(plane)
        status, body = browser.sign_in(sign_in_at_kriya(kriya, phone=phone)["token"])
        assert status == 200, body
        assert "session-id" in [cookie.name for cookie in browser.jar]
        for path in ("/api/users/me/", "/api/users/me/profile/", "/api/users/me/settings/"):
            assert browser.me(path) == 200, path
        _, me = browser.request("GET", "/api/users/me/")
        assert me["email"] == body["email"]
        assert digits(phone) not in me["email"] and digits(phone)[-7:] not in me["email"]
        assert digits(phone)[-7:] not in me["display_name"] and me["display_name"] == "Ada"
        assert (me["last_login_medium"], me["is_password_autoset"]) == ("kriya", False)
        signed_in[phone] = (browser, me)

    rows = plane_sql(plane, "SELECT u.username, u.mobile_number, u.last_login_time IS NOT NULL, p.id IS NOT NULL "
                            "FROM users u LEFT JOIN profiles p ON p.user_id = u.id ORDER BY u.mobile_number")
    assert [row[1:] for row in rows] == [("+16502530001", True, True), ("+16502530002", True, True)]
    assert len({row[0] for row in rows}) == 2 and all(re.fullmatch(r"[0-9a-f]{32}", row[0]) for row in rows)
    sessions = plane_sql(plane, "SELECT length(session_key), device_info FROM sessions")
    assert len(sessions) == 2
    assert all(length == 128 and info["user_agent"] and info["domain"] for length, info in sessions)

    browser, me = signed_in["+16502530001"]
    status, answer = browser.request("GET", "/auth/get-csrf-token/")
    assert status == 200
    csrf = {"X-CSRFToken": answer["csrf_token"]}
    status, answer = browser.request("POST", "/auth/set-password/", body={"password": "A-str0ng-pass phrase!"},
                                     headers=csrf)
    assert (status, answer["error_message"]) == (400, "PASSWORD_ALREADY_SET")  # no password around Kriya
    status, answer = browser.request("POST", "/auth/change-password/", headers=csrf,
                                     body={"old_password": "", "new_password": "A-str0ng-pass phrase!"})
    assert status == 400
    assert browser.me() == 200

    # Without KRIYA_PLANE_BEARER, Plane's API takes no Kriya token; anonymous is 401 (Plane's handler is kept).
    token = sign_in_at_kriya(kriya, phone="+16502530001")["token"]
    assert Browser(plane).request("GET", "/api/users/me/", token)[0] == 401
    assert Browser(plane).me() == 401


def test_a_logout_at_kriya_ends_the_plane_cookie_session_within_2_s(kriya, start_plane):  # noqa: F811
    plane = start_plane()
    delays = []
    for trial in range(5):
        token = sign_in_at_kriya(kriya, phone=f"+1650253000{trial + 1}")["token"]
        browser = Browser(plane)
        assert browser.sign_in(token)[0] == 200
        assert browser.me() == 200

        assert call(kriya["base"], "DELETE", f"/api/auth/logout?token={token}")[0] == 200
        delays.append(seconds_until(lambda: refused(browser.me)))
    print(f"\nKriya logout -> Plane cookie session 401, 5 trials: p50 {statistics.median(delays):.2f} s, "
          f"max {max(delays):.2f} s ({', '.join(f'{delay:.2f}' for delay in delays)})")
    assert max(delays) < 2
    assert plane_sql(plane, "SELECT count(*) FROM sessions") == [(0,)]


def test_revoking_one_kriya_session_ends_only_its_plane_session(kriya, start_plane):  # noqa: F811
    plane = start_plane()
    phone, laptop = sign_in_at_kriya(kriya, device="Phone"), sign_in_at_kriya(kriya, device="Laptop")
    phone_browser, laptop_browser = Browser(plane), Browser(plane)
    assert phone_browser.sign_in(phone["token"])[0] == laptop_browser.sign_in(laptop["token"])[0] == 200

    status = call(kriya["base"], "DELETE", f"/api/auth/sessions/{phone['session_id']}",
                  headers={"Authorization": f"Bearer {laptop['token']}"})[0]
    assert status == 200
    assert seconds_until(lambda: refused(phone_browser.me)) < 2
    assert laptop_browser.me() == laptop_browser.me("/api/users/me/profile/") == 200


def test_with_the_opt_in_a_kriya_token_works_on_plane_s_api_and_ends_with_its_session(kriya, start_plane):  # noqa: F811
    plane = start_plane(KRIYA_PLANE_BEARER="1")
    phone, laptop = sign_in_at_kriya(kriya, device="Phone"), sign_in_at_kriya(kriya, device="Laptop")
    api = Browser(plane)  # no cookie: the token alone
    for path in ("/api/users/me/", "/api/users/me/profile/", "/api/users/me/settings/"):
        assert api.request("GET", path, phone["token"])[0] == 200, path  # the first use creates the user
    assert api.request("GET", "/api/users/me/", laptop["token"])[0] == 200
    assert not api.jar  # no session was started
    status, body = api.request("GET", "/api/users/me/", "not.a.token")
    assert (status, body) == (401, {"detail": "Invalid or expired token"})
    assert api.me() == 401  # anonymous: still Plane's 401
    browser = Browser(plane)
    assert browser.sign_in(laptop["token"])[0] == 200 and browser.me() == 200  # cookies as before

    status = call(kriya["base"], "DELETE", f"/api/auth/sessions/{phone['session_id']}",
                  headers={"Authorization": f"Bearer {laptop['token']}"})[0]
    assert status == 200
    assert seconds_until(lambda: refused(lambda: api.request("GET", "/api/users/me/", phone["token"])[0])) < 2
    assert api.request("GET", "/api/users/me/", laptop["token"])[0] == 200

    assert call(kriya["base"], "DELETE", f"/api/auth/logout?token={laptop['token']}")[0] == 200
    assert seconds_until(lambda: refused(lambda: api.request("GET", "/api/users/me/", laptop["token"])[0])) < 2
    assert seconds_until(lambda: refused(browser.me)) < 2


def plane_shell(plane, script):
    """Run Python in Plane's manage.py shell, with Plane's environment (Plane's own models do the writing): its output."""
    return subprocess.run([str(plane.python), "manage.py", "shell", "-c", script], cwd=plane.source, env=plane.env,
                          check=True, capture_output=True, text=True, timeout=120).stdout.strip()


def synthetic_email(plane, phone):
    """The address Plane's administrator invites for a phone number (the kit's command, in Plane's environment)."""
    result = subprocess.run([str(plane.python), "manage.py", "kriya_synthetic_email", phone], cwd=plane.source,
                            env=plane.env, check=True, capture_output=True, text=True, timeout=120)
    return result.stdout.strip()


def test_with_plane_s_sign_up_off_only_invited_and_existing_people_get_in(kriya, start_plane):  # noqa: F811
    plane = start_plane(ENABLE_SIGNUP="0")
    status, body = Browser(plane).sign_in(sign_in_at_kriya(kriya, phone="+16502530001")["token"])
    assert (status, body) == (403, {"detail": SIGN_UP_CLOSED})
    assert plane_sql(plane, "SELECT count(*) FROM users") == [(0,)]

    invited = synthetic_email(plane, "+16502530002")
    old_timer = sign_in_at_kriya(kriya, phone="+16502530003")  # has an account an earlier kit made
    renamed = plane_shell(plane, f"""
from plane.db.models import Profile, User, Workspace, WorkspaceMemberInvite
from kriya_client.models import KriyaIdentity
owner = User.objects.create(email="owner@example.com", username="owner")
workspace = Workspace.objects.create(name="Acme", slug="acme", owner=owner)
WorkspaceMemberInvite.objects.create(workspace=workspace, email={invited!r}, role=15)
legacy = User.objects.create(email="16502530003@phone.kriya.invalid", username="legacy", first_name="Ada",
                             mobile_number="+16502530003")
Profile.objects.create(user=legacy)
KriyaIdentity.objects.create(kriya_user_id={old_timer["user"]["id"]!r}, user=legacy)
from kriya_client.adapter import synthetic_email
print(synthetic_email("+16502530003"))
""")
    browser = Browser(plane)
    status, body = browser.sign_in(sign_in_at_kriya(kriya, phone="+16502530002")["token"])
    assert (status, body["email"]) == (200, invited)
    assert browser.me("/api/users/me/settings/") == 200

    browser = Browser(plane)
    status, body = browser.sign_in(old_timer["token"])
    assert status == 200
    legacy_id = plane_sql(plane, "SELECT id::text FROM users WHERE username = 'legacy'")[0][0]
    assert body["id"] == legacy_id  # the same account ...
    _, me = browser.request("GET", "/api/users/me/")
    assert (me["email"], me["display_name"]) == (renamed, "Ada")  # ... without the digits
    assert "16502530003" not in renamed


def test_kriya_down_signed_in_people_keep_working_and_a_new_sign_in_gets_a_readable_503(kriya, start_plane):  # noqa: F811
    plane = start_plane(KRIYA_OIDC_CLIENT_ID="plane")
    browser = Browser(plane)
    assert browser.sign_in(sign_in_at_kriya(kriya)["token"])[0] == 200
    newcomer = sign_in_at_kriya(kriya, phone="+16502530002")["token"]

    kriya["proxy"].cut()
    log = Path(plane.log)
    seconds_until(lambda: "Kriya could not be reached" in log.read_text(errors="replace"), limit=10)  # the kit's logger
    for _ in range(6):
        assert browser.me() == browser.me("/api/users/me/profile/") == 200
    status, body = Browser(plane).sign_in(newcomer)
    assert (status, body) == (503, {"detail": "Authentication service unavailable"})
    status, page = Browser(plane).request("GET", "/auth/kriya/login/?next=/")  # the browser sign-in: a page
    assert status == 503 and "cannot be reached right now" in page and "<html" in page

    kriya["proxy"].restore()
    seconds_until(lambda: Browser(plane).sign_in(newcomer)[0] == 200, limit=10)


def test_plane_restarted_during_a_logout_comes_back_refusing_the_session(kriya, start_plane):  # noqa: F811
    plane = start_plane()
    token = sign_in_at_kriya(kriya)["token"]
    browser = Browser(plane)
    assert browser.sign_in(token)[0] == 200
    time.sleep(1.5)  # the followers saved their cursor

    plane.stop()
    assert call(kriya["base"], "DELETE", f"/api/auth/logout?token={token}")[0] == 200
    plane.start()
    seconds_until(lambda: refused(browser.me), limit=5)
    assert plane_sql(plane, "SELECT count(*) FROM sessions") == [(0,)]


def register_plane(kriya, callback):  # noqa: F811 (kriya: a fixture's value)
    """Plane registered at Kriya as the README says (manage.py create_oidc_client, first party): (id, secret)."""
    result = subprocess.run([sys.executable, "manage.py", "create_oidc_client", "Plane", "--redirect-uri", callback,
                             "--first-party"], cwd=REPO, env=kriya["env"], check=True, capture_output=True, text=True,
                            timeout=60)
    printed = dict(line.split("=", 1) for line in result.stdout.split())
    return printed["client_id"], printed["client_secret"]


@pytest.fixture
def oidc_kriya(transactional_db, tmp_path, provider, settings):
    """Kriya under gunicorn as an OpenID Connect provider: RS256 ID tokens, its hosted pages texting codes through
    the webhook sender to the fake SMS provider. Plane reaches it at `public`, a cuttable proxy under another host
    name than Plane's (a browser keeps their cookies apart, as it would two domains)."""
    env = production_env(DATABASE_URL=database_url(tmp_path), OIDC_RSA_PRIVATE_KEY=signing_key(),
                         OIDC_ALLOW_HTTP_REDIRECT_URIS="True", SMS_BACKEND="webhook",
                         SMS_WEBHOOK_URL=provider.url + "/sms", SMS_WEBHOOK_SECRET="s" * 32,
                         GUNICORN_THREADS="4")  # threads: Chromium's idle preconnections would hold sync workers
    with gunicorn(env, tmp_path / "kriya.log", workers=2) as base:
        proxy = TCPProxy(int(base.rsplit(":", 1)[1]))
        proxy.restore()
        yield {"base": base, "key": env["PLANE_API_KEY"], "proxy": proxy, "env": env,
               "public": f"http://localhost:{proxy.port}"}
        proxy.cut()


@pytest.fixture
def start_oidc_plane(plane_build, oidc_kriya, redis_url, tmp_path):
    """start_oidc_plane(**environment): Plane registered at Kriya for its callback URL, started with the printed
    client id and secret and KRIYA_OIDC_ISSUER = Kriya's public address."""
    with planes(plane_build, oidc_kriya, redis_url, tmp_path) as start:
        def start_oidc_plane(**variables):
            port = free_port()
            client_id, secret = register_plane(oidc_kriya, f"http://127.0.0.1:{port}/auth/kriya/callback/")
            return start(port, KRIYA_OIDC_ISSUER=oidc_kriya["public"], KRIYA_OIDC_CLIENT_ID=client_id,
                         KRIYA_OIDC_CLIENT_SECRET=secret, **variables)

        yield start_oidc_plane


class SignedIn(Browser):
    """A browser of Plane holding a session cookie given by hand (the one Chromium was given)."""

    def __init__(self, plane, session):
        super().__init__(plane)
        self.session = session

    def request(self, method, path, token=None, body=None, headers=None):
        return super().request(method, path, token, body, {"Cookie": f"session-id={self.session}", **(headers or {})})


class Journey(Page):
    """A person in headless Chromium going from Plane to Kriya's pages and back; the status of every response."""

    def __init__(self, driver, plane, kriya):  # noqa: F811 (kriya: a fixture's value)
        super().__init__(driver, plane.base)
        self.plane, self.kriya = plane, kriya
        self.statuses: dict[str, int] = {}
        driver.execute_cdp_cmd("Network.enable", {})
        driver.set_window_size(1280, 900)

    def collect_logs(self):
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                self.requests.append(message["params"]["request"]["url"])
            elif message["method"] == "Network.responseReceived":
                response = message["params"]["response"]
                self.statuses[response["url"].split("?")[0]] = response["status"]
        self.console += [entry for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def go(self, url):
        self.driver.get(url)
        self.collect_logs()

    def fill(self, css, text):
        field = self.wait_for(css)
        field.clear()
        field.send_keys(text)
        self.click("main form button[type=submit]")

    def sign_in(self, provider, phone, first_name, shots=False):
        """Plane's sign-in link -> Kriya's phone page -> the texted code -> first name; back at Plane after."""
        self.go(f"{self.plane.base}/auth/kriya/login/?next=/api/users/me/")
        self.wait_for("#phone")
        assert self.driver.current_url.startswith(f"{self.kriya['public']}/signin"), self.driver.current_url
        if shots:
            self.shot("plane-1-kriya-phone")
        texts = len(provider.requests)
        self.fill("#phone", phone)
        self.wait_for("#code")
        if shots:
            self.shot("plane-2-kriya-code")
        assert len(provider.requests) == texts + 1 and phone in provider.requests[-1]["body"]
        self.fill("#code", code_in(provider.texts()[-1]))
        self.wait_for("#first_name")
        if shots:
            self.shot("plane-3-kriya-name")
        self.fill("#first_name", first_name)

    def landed(self, path, timeout=15):
        WebDriverWait(self.driver, timeout).until(lambda driver: driver.current_url == self.plane.base + path)
        self.collect_logs()

    def cookie_browser(self):
        """Plane's API with the session cookie Chromium was given."""
        cookie = self.driver.get_cookie("session-id")
        assert cookie is not None, "Plane set no session cookie"
        return SignedIn(self.plane, cookie["value"])

    def forget(self):
        """Another person on this browser: no cookie of Plane's or Kriya's left."""
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})


def test_two_new_numbers_sign_in_to_plane_through_kriya_s_pages_and_a_kriya_logout_ends_each_plane_session(
        oidc_kriya, start_oidc_plane, provider, browser):  # noqa: F811
    plane = start_oidc_plane()
    page = Journey(browser, plane, oidc_kriya)
    signed_in = {}
    for number, (phone, name) in enumerate((("+919876543210", "Asha"), ("+919876543211", "Ravi"))):
        if number:
            page.forget()
        page.sign_in(provider, phone, name, shots=not number)
        page.landed("/api/users/me/")
        if not number:
            page.shot("plane-4-signed-in")
        plane_browser = page.cookie_browser()
        for path in ("/api/users/me/", "/api/users/me/profile/", "/api/users/me/settings/"):
            assert plane_browser.me(path) == 200, path
        _, me = plane_browser.request("GET", "/api/users/me/")
        assert me["display_name"] == name and me["first_name"] == name
        assert digits(phone)[-7:] not in me["email"] and digits(phone)[-7:] not in me["display_name"]
        assert (me["last_login_medium"], me["is_password_autoset"]) == ("kriya", False)
        assert json.loads(page.wait_for("pre").text)["id"] == me["id"]  # what Chromium was shown: the same person
        signed_in[phone] = plane_browser
    assert sorted(plane_sql(plane, "SELECT mobile_number FROM users")) == [("+919876543210",), ("+919876543211",)]
    assert plane_sql(plane, "SELECT count(*) FROM sessions WHERE user_id IS NOT NULL AND device_info IS NOT NULL") == [(2,)]

    # Asha revokes her browser's Kriya session from her phone: only her Plane session ends.
    asha, ravi = signed_in["+919876543210"], signed_in["+919876543211"]
    phone = sign_in_at_kriya(oidc_kriya, phone="+919876543210", device="Phone")
    bearer = {"Authorization": f"Bearer {phone['token']}"}
    _, _, listed = call(oidc_kriya["base"], "GET", "/api/auth/sessions", headers=bearer)
    [browser_session] = [row["id"] for row in json.loads(listed)["sessions"] if not row["current"]]
    assert call(oidc_kriya["base"], "DELETE", f"/api/auth/sessions/{browser_session}", headers=bearer)[0] == 200
    revoked = seconds_until(lambda: refused(asha.me))
    assert ravi.me() == ravi.me("/api/users/me/profile/") == 200

    # Ravi signs out at Kriya (RP-initiated logout, in the browser): his Plane session ends too.
    page.go(f"{oidc_kriya['public']}/oauth/logout")
    page.wait_for_text("h1", "Sign out of Kriya?")
    page.shot("plane-5-kriya-logout")
    page.click("button[name=allow]")
    logged_out = seconds_until(lambda: refused(ravi.me))
    print(f"\nPlane session 401 after the Kriya session ended: DELETE {revoked:.2f} s, RP-initiated logout "
          f"{logged_out:.2f} s")
    assert revoked < 2 and logged_out < 2
    assert plane_sql(plane, "SELECT count(*) FROM sessions WHERE user_id IS NOT NULL") == [(0,)]

    page.collect_logs()
    local = (plane.base + "/", oidc_kriya["public"] + "/", "data:", "about:", "chrome:")
    assert sorted({url for url in page.requests if not url.startswith(local)}) == [], "requests that left the machine"


def test_the_browser_sign_in_s_refusals_are_readable_pages_kriya_down_and_plane_s_sign_up_off(
        oidc_kriya, start_oidc_plane, provider, browser):  # noqa: F811
    plane = start_oidc_plane(ENABLE_SIGNUP="0")
    page = Journey(browser, plane, oidc_kriya)
    oidc_kriya["proxy"].cut()  # Kriya down before Plane ever read its discovery document: a page, not an error
    page.go(f"{plane.base}/auth/kriya/login/?next=/")
    page.wait_for_text("h1", "Sign-in did not finish")
    page.shot("plane-0-kriya-down")
    assert page.statuses[f"{plane.base}/auth/kriya/login/"] == 503
    assert "cannot be reached right now" in page.wait_for("body").text
    oidc_kriya["proxy"].restore()

    page.sign_in(provider, "+919876543212", "Meera")

    page.wait_for_text("h1", "Sign-in did not finish")
    page.shot("plane-6-sign-up-closed")
    page.driver.set_window_size(360, 900)  # on a phone, where this sign-in mostly happens
    page.shot("plane-6-sign-up-closed-360")
    assert page.no_horizontal_overflow("body")
    assert page.driver.current_url.startswith(f"{plane.base}/auth/kriya/callback/")
    assert page.statuses[f"{plane.base}/auth/kriya/callback/"] == 403
    text = page.wait_for("body").text
    assert "Sign-up is closed here and this phone number has no account" in text and "Try again" in text
    assert plane_sql(plane, "SELECT count(*) FROM users") == [(0,)]
    assert page.driver.get_cookie("session-id") is None or page.cookie_browser().me() == 401
