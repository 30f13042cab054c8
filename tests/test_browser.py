"""The staff console and the docs in headless Chromium, against Kriya under gunicorn with DEBUG=False.

Debian's chromium and chromium-driver (CI installs them; a newcomer without them gets a skip). Selenium is
given both paths, so it downloads nothing. Screenshots go to artifacts/screenshots/. The test fails on any
browser console error and on any request to anything but this Kriya.
"""

import contextlib
import json
import subprocess
import sys
import tempfile
import time

import pytest
from django.db import connection

from tests.conftest import require_program
from tests.servers import REPO, call, gunicorn, production_env

SCREENSHOTS = REPO / "artifacts" / "screenshots"
ADMIN_PHONE, ADMIN_PASSWORD = "+16502530009", "a-strong-pass-for-the-browser-1"
WIDTH, HEIGHT = 1400, 1000
USER_AGENT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "KriyaBrowserTest/1.0 Mobile/15E148")

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def kriya(transactional_db, tmp_path):
    """Kriya under gunicorn with DEBUG=False: on the test database when it is PostgreSQL, else a migrated SQLite file."""
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
        url = f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        env = production_env(DATABASE_URL=url)
    else:
        env = production_env(DATABASE_URL=f"sqlite:///{tmp_path / 'kriya.sqlite3'}")
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True)
    staff = dict(env, DJANGO_SUPERUSER_PHONE_NUMBER=ADMIN_PHONE, DJANGO_SUPERUSER_FIRST_NAME="Admin",
                 DJANGO_SUPERUSER_PASSWORD=ADMIN_PASSWORD)
    subprocess.run([sys.executable, "manage.py", "createsuperuser", "--noinput"], cwd=REPO, env=staff, check=True,
                   stdout=subprocess.DEVNULL)
    with gunicorn(env, tmp_path / "gunicorn.log", workers=2) as base:
        body = json.dumps({"phone_number": "+16502530002", "first_name": "Grace", "last_name": "Hopper"}).encode()
        assert call(base, "POST", "/api/auth/register", body, {"User-Agent": USER_AGENT})[0] == 200
        yield base


@pytest.fixture
def browser():
    chromium = require_program("chromium")
    chromedriver = require_program("chromedriver", "chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.TemporaryDirectory(prefix="kriya-chromium-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-default-apps",
                 "--metrics-recording-only", "--disable-features=Translate,OptimizationHints,MediaRouter",
                 f"--window-size={WIDTH},{HEIGHT}", f"--user-data-dir={profile.name}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    service = webdriver.ChromeService(executable_path=chromedriver)  # a path: Selenium Manager is never asked
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        profile.cleanup()


class Page:
    """The steps a staff member takes, each one waited for; screenshots as it goes."""

    def __init__(self, driver, base):
        self.driver, self.base = driver, base
        self.requests: list[str] = []
        self.console: list[dict] = []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def open(self, path):
        self.driver.get(self.base + path)
        self.collect_logs()

    def wait_for(self, css, timeout=10):
        return WebDriverWait(self.driver, timeout).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))

    def wait_for_text(self, css, text, timeout=10):
        WebDriverWait(self.driver, timeout).until(expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))

    def click(self, css):
        element = self.wait_for(css)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def shot(self, name):
        path = SCREENSHOTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        self.collect_logs()
        return path

    def no_horizontal_overflow(self, css):
        """True when nothing in the element is cut off or needs scrolling sideways at this width."""
        return self.driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e.scrollWidth <= e.clientWidth + 1;", css)

    def collect_logs(self):
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                self.requests.append(message["params"]["request"]["url"])
        self.console += [entry for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]


@pytest.fixture
def page(kriya, browser):
    page = Page(browser, kriya)
    yield page
    with contextlib.suppress(Exception):
        page.shot("last")  # where the browser was when the test ended, failed or not


def test_a_staff_member_revokes_a_user_and_the_docs_try_it_out_works(kriya, browser, page):
    started = time.monotonic()

    # Log in with the phone number formatted as people write it.
    page.open("/admin/")
    page.wait_for("#id_username").send_keys("+1 (650) 253-0009")
    browser.find_element(By.ID, "id_password").send_keys(ADMIN_PASSWORD)
    page.shot("01-login")
    browser.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
    page.wait_for_text("#site-name", "Kriya administration")
    assert browser.title == "Staff console | Kriya"

    # The front page's charts: codes texted, verified, conversion by country, the budget, sign-ins.
    for number in ("+16502530003", "+16502540004", "+917012345678"):
        assert call(kriya, "POST", "/api/auth/otp/request", json.dumps({"phone_number": number}).encode())[0] == 200
    page.open("/admin/")
    page.wait_for_text("#sms-dashboard .kriya-conversion", "IN")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#sms-dashboard figure.kriya-chart svg")) == 4
    bars = browser.find_elements(By.CSS_SELECTOR, "#sms-dashboard figure.kriya-chart rect.sent")
    assert max(bar.size["height"] for bar in bars) > 20, "the texts sent are not drawn"
    assert page.no_horizontal_overflow("#content-main"), "the front page is cut off at 1400 px"
    page.shot("01b-front-page")

    # Find the user by a formatted phone number.
    page.open("/admin/accounts/user/")
    page.wait_for("#searchbar").send_keys("(650) 253-0002\n")
    page.wait_for_text(".paginator", "1 user")
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert [row.find_element(By.CSS_SELECTOR, "th").text for row in rows] == ["+16502530002"]
    page.shot("02-users-search")
    assert page.no_horizontal_overflow("#changelist .results"), "a column of the users list is cut off at 1400 px"

    # Revoke from the user's page, through the confirmation step.
    page.click("#result_list tbody th a")
    page.wait_for_text("#content h2", "+16502530002")
    page.shot("03-user-page")
    browser.execute_script("document.querySelector('table.issued-tokens').scrollIntoView({block: 'center'})")
    page.wait_for_text("table.issued-tokens", "Mozilla/5.0 (iPhone")
    page.shot("03-user-page-tokens")
    page.click("a.kriya-operation[href$='/revoke/']")
    page.wait_for_text("#content", "Every token the user holds stops working")
    page.shot("04-confirm-revoke")
    page.click("#content form [type=submit]")
    page.wait_for_text(".messagelist", "Revoked all tokens of 1 user.")

    # The History shows it.
    page.click("a.historylink")
    page.wait_for_text("#change-history", "Revoked all tokens")
    page.shot("05-history")

    # The token list: one user's token, the user agent, no column cut off.
    page.open("/admin/accounts/audittoken/?state=revoked")
    page.wait_for_text("#result_list", "Mozilla/5.0 (iPhone")
    page.shot("06-token-list")
    assert page.no_horizontal_overflow("#changelist .results"), "a column of the token list is cut off at 1400 px"

    # /docs: "Try it out" on register, with the example as shown, answers 200.
    page.open("/docs")
    page.click("#operations-Users-api_auth_register_create .opblock-summary-control")
    page.click("#operations-Users-api_auth_register_create .try-out__btn")
    body = page.wait_for("#operations-Users-api_auth_register_create textarea.body-param__text")
    assert json.loads(body.get_attribute("value")) == {
        "phone_number": "+16502530001", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}
    page.click("#operations-Users-api_auth_register_create .execute")
    try:
        page.wait_for_text("#operations-Users-api_auth_register_create .live-responses-table tr.response .response-col_status", "200")
    finally:
        browser.execute_script("document.querySelector('#operations-Users-api_auth_register_create .live-responses-table')"
                               "?.scrollIntoView({block: 'center'})")
        page.shot("07-docs-try-it-out")

    page.open("/redoc")
    page.wait_for_text("body", "Log out: every token and session of the user", timeout=15)
    page.shot("08-redoc")
    page.open("/api/schema/")
    page.wait_for_text("body", "openapi: 3.")
    page.open("/no-such-page")
    page.wait_for_text("h1", "Page not found")
    page.shot("09-not-found")

    page.collect_logs()
    # chrome:// pages are the browser's own (its start page), served from inside it.
    local = (kriya + "/", "data:", "blob:", "about:", "chrome:", "chrome-untrusted:")
    foreign = sorted({url for url in page.requests if not url.startswith(local)})
    assert foreign == [], "requests that left the machine"
    # The deliberate 404 above is the one console error expected.
    errors = [entry["message"] for entry in page.console if "/no-such-page" not in entry["message"]]
    assert errors == [], "browser console errors"
    assert time.monotonic() - started < 60
