"""The whole "Sign in with Kriya" journey in headless Chromium: a relying party (Authlib, tests/oidc_rp.py) sends the
browser to Kriya under gunicorn -> phone -> code (from the fake SMS provider) -> first name -> back at the relying
party signed in; a second client without a new code; a third-party client's consent; RP-initiated logout, which
validate-token and the revocation feed agree on. Every page is kept as a screenshot at 360 and 1280 px, in
English and Hindi (artifacts/screenshots/oidc-*.png). The test fails on a console error or on any request that
leaves the machine."""

import json

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from accounts.models import Session, User
from accounts.tokens import issue_token
from tests.otp_fixtures import code_in
from tests.test_browser import Page, browser  # noqa: F401  (the browser fixture)
from tests.test_oidc_live import kriya, register, relying_party  # noqa: F401  (fixtures)

pytestmark = pytest.mark.postgres
WIDTHS = (360, 1280)


class Journey(Page):
    def __init__(self, driver, base, language):
        super().__init__(driver, base)
        self.language = language
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Accept-Language": language}})

    def go(self, url):
        self.driver.get(url)
        self.collect_logs()

    def shots(self, name):
        """The page at each width; at 360 px nothing may need scrolling sideways."""
        for width in WIDTHS:
            self.driver.set_window_size(width, 900)
            self.shot(f"oidc-{self.language}-{width}-{name}")
            if width == 360:
                assert self.driver.execute_script(
                    "return document.documentElement.scrollWidth <= window.innerWidth + 1"), f"{name} overflows at 360 px"
        self.driver.set_window_size(WIDTHS[0], 900)

    def fill(self, css, text):
        field = self.wait_for(css)
        field.clear()
        field.send_keys(text)

    def submit(self, css="main form button[type=submit]"):
        self.click(css)

    def until(self, condition, timeout=5):
        WebDriverWait(self.driver, timeout).until(lambda driver: condition())

    def focused(self, attribute):
        return self.driver.switch_to.active_element.get_attribute(attribute)

    def error(self):
        try:
            return self.wait_for("#error-text").text
        except Exception:
            self.shot(f"oidc-{self.language}-failed")
            raise


def test_a_person_signs_in_with_their_phone_from_a_relying_party_and_signs_out(
        kriya, relying_party, provider, browser, api_key):  # noqa: F811
    plane, grafana = register(relying_party, "plane"), register(relying_party, "grafana")
    outline = register(relying_party, "outline", first_party=False)
    page = Journey(browser, kriya, "en")
    page.driver.set_window_size(360, 900)

    # The relying party sends the browser to Kriya's phone page.
    page.go(f"{relying_party.base}/plane/login")
    page.wait_for("#phone")
    page.until(lambda: page.focused("id") == "phone")  # focus where the typing goes
    page.shots("1-phone")
    page.fill("#phone", "12")
    page.submit()
    assert page.error() == "Enter a valid phone number."
    page.until(lambda: page.focused("aria-invalid") == "true")  # on the field to fix
    page.shots("2-phone-error")

    page.fill("#phone", "098765 43210")  # as people in India write it: the default region fills in +91
    page.submit()
    page.wait_for("#code")
    page.until(lambda: page.wait_for("#resend").get_attribute("disabled") == "true")  # the countdown runs
    page.shots("3-code")
    code = code_in(provider.texts()[-1])
    page.fill("#code", "000000" if code != "000000" else "111111")
    page.submit()
    assert page.error() == "That code is not right. You have 4 tries left."
    page.shots("4-code-error")
    page.fill("#code", code)
    page.submit()

    page.wait_for("#first_name")
    page.shots("5-name")
    page.fill("#first_name", "Asha")
    page.submit()
    page.wait_for_text("#signed-in", "Signed in to plane")
    user = User.objects.get(phone_number="+919876543210")
    assert page.wait_for("#sub").text == str(user.pk) and page.wait_for("#phone").text == "+919876543210"
    sid = page.wait_for("#sid").text

    # A second client: single sign-on, no new text.
    texts = len(provider.requests)
    page.go(f"{relying_party.base}/grafana/login")
    page.wait_for_text("#signed-in", "Signed in to grafana")
    assert len(provider.requests) == texts and grafana.signed_in["claims"]["sid"] == sid

    # A third-party client asks first.
    page.go(f"{relying_party.base}/outline/login")
    page.wait_for_text("h1", "Sign in to outline?")
    page.shots("6-consent")
    page.click("button[name=allow]")
    page.wait_for_text("#signed-in", "Signed in to outline")

    page.go(f"{kriya}/signin")
    page.wait_for_text("h1", "You are signed in")
    page.shots("7-signed-in")
    page.go(f"{kriya}/oauth/logout")
    page.wait_for_text("h1", "Sign out of Kriya?")
    page.shots("8-logout-confirm")
    page.go(relying_party.login_url(plane).replace("%2Fplane%2Fcallback", "%2Fevil"))
    page.wait_for_text("h1", "This sign-in request cannot be completed")
    page.shots("9-request-error")

    # RP-initiated logout: validate-token and the revocation feed agree that the session ended.
    session = Session.objects.get(pk=sid)
    token = issue_token(user, session=session).token
    cursor = requests.get(f"{kriya}/api/auth/revocations", headers={"X-API-Key": api_key}, timeout=10).json()["cursor"]
    validate = lambda: requests.post(f"{kriya}/api/auth/validate-token", json={"token": token},  # noqa: E731
                                     headers={"X-API-Key": api_key}, timeout=10).json()
    assert validate()["valid"] is True
    page.go(f"{relying_party.base}/plane/logout")
    page.wait_for_text("#signed-out", "Signed out of plane")
    assert validate()["valid"] is False
    feed = requests.get(f"{kriya}/api/auth/revocations", params={"after": cursor}, headers={"X-API-Key": api_key},
                        timeout=10).json()["events"]
    assert [(event["type"], event["session_id"]) for event in feed] == [("session_revoked", sid)]
    assert relying_party.refresh(grafana).json()["error"] == "invalid_grant"  # the other clients' tokens end too

    # Signed out of Kriya: the next sign-in asks for the phone again.
    page.go(f"{relying_party.base}/grafana/login")
    page.wait_for("#phone")

    page.collect_logs()
    local = (kriya + "/", relying_party.base + "/", "data:", "blob:", "about:", "chrome:", "chrome-untrusted:")
    assert sorted({url for url in page.requests if not url.startswith(local)}) == [], "requests that left the machine"
    assert [entry["message"] for entry in page.console if "/evil" not in entry["message"]
            and "status of 400" not in entry["message"]] == [], "browser console errors"


def test_the_pages_in_hindi(kriya, relying_party, provider, browser):  # noqa: F811
    register(relying_party, "plane")
    outline = register(relying_party, "outline", first_party=False)  # noqa: F841
    page = Journey(browser, kriya, "hi")
    page.driver.set_window_size(360, 900)

    page.go(f"{relying_party.base}/plane/login")
    page.wait_for_text("h1", "अपने फ़ोन से साइन इन करें")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "hi"
    page.shots("1-phone")
    page.fill("#phone", "12")
    page.submit()
    assert page.error() == "सही फ़ोन नंबर डालें।"
    page.shots("2-phone-error")
    page.fill("#phone", "+91 98765 43219")
    page.submit()
    page.wait_for_text("h1", "कोड डालें")
    page.shots("3-code")
    code = code_in(provider.texts()[-1])
    assert "साइन इन" in json.loads(provider.requests[-1]["body"])["body"]  # the text in Hindi too
    page.fill("#code", "000000" if code != "000000" else "111111")
    page.submit()
    assert page.error() == "यह कोड सही नहीं है। आपके पास 4 कोशिशें बची हैं।"
    page.shots("4-code-error")
    page.fill("#code", code)
    page.submit()
    page.wait_for_text("h1", "Kriya में आपका स्वागत है")
    page.shots("5-name")
    page.fill("#first_name", "आशा")
    page.submit()
    page.wait_for_text("#signed-in", "Signed in to plane")

    page.go(f"{relying_party.base}/outline/login")
    page.wait_for_text("h1", "outline में साइन इन करें?")
    page.shots("6-consent")
    page.go(f"{kriya}/signin")
    page.wait_for_text("h1", "आप साइन इन हैं")
    page.shots("7-signed-in")
    page.go(f"{kriya}/oauth/logout")
    page.wait_for_text("h1", "Kriya से साइन आउट करें?")
    page.shots("8-logout-confirm")
    page.go(relying_party.login_url(relying_party.clients["plane"]).replace("%2Fplane%2Fcallback", "%2Fevil"))
    page.wait_for_text("h1", "यह साइन-इन अनुरोध पूरा नहीं हो सकता")
    page.shots("9-request-error")
