"""axe-core finds no WCAG 2.1 A/AA problem, and nothing scrolls sideways at 320 or 390 px, on the trust pages
and the sign-in, sign-up and password-reset pages, in English and in Danish."""

from typing import Any

import pytest
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP

from portal.accounts.models import User
from tests.browser.a11y import check_page
from tests.conftest import ADMIN_TOTP_SECRET, PASSWORD, admin_totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = [
    ("help", "/help/", "help-page"),
    ("contact", "/contact/", "contact-page"),
    ("privacy", "/privacy/", "privacy-page"),
    ("accessibility", "/accessibility/", "accessibility-page"),
    ("sign-in", "/accounts/login/", "login-page"),
    ("sign-up", "/accounts/signup/", "signup-page"),
    ("password-reset", "/accounts/password/reset/", "password-reset-page"),
]
# Signed in. The password change and the authenticator pages ask for the password again first (that
# re-authentication page is checked too).
SIGNED_IN_PAGES = [
    ("account-email", "/accounts/email/", "email-page"),
    ("account-two-factor", "/accounts/2fa/", "mfa-index-page"),
    ("account-sign-out", "/accounts/logout/", "logout-page"),
    ("account-reauthenticate", "/accounts/reauthenticate/", "reauthenticate-page"),
    ("account-password-change", "/accounts/password/change/", "password-change-page"),
]


def test_trust_and_account_pages_are_accessible_in_both_languages(
    page: Any, live_server: Any, settings: Any, citizen: User
) -> None:
    # A configured contact, so the pages show their longest form (a long address must wrap on a phone).
    # The code is read here and checked by the server a browser round trip later: one step either side, so a
    # 30-second boundary in between cannot refuse it.
    settings.MFA_TOTP_TOLERANCE = 1
    settings.SERVICE_OPERATOR = "Region Testland, Sundhedsdatastyrelsens Borgerportal"
    settings.SERVICE_CONTACT_EMAIL = "borgerservice.sundhedsdataportalen@region-testland.example.dk"
    settings.SERVICE_CONTACT_PHONE = "+45 70 20 30 40"
    settings.SERVICE_CONTACT_ADDRESS = "Testvej 1\n8000 Aarhus C"
    settings.SERVICE_CONTACT_HOURS = "Mon-Fri 8-16"
    problems: list[str] = []
    for language, locale in (("en", "en-GB"), ("da", "da-DK")):
        context = page.context.browser.new_context(locale=locale)
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        for name, path, testid in PAGES:
            tab.goto(f"{live_server.url}{path}")
            assert tab.locator("html").get_attribute("lang") == language
            assert tab.get_by_test_id(testid).count() == 1, (name, language)
            assert tab.locator("h1").count() == 1, (name, language)
            problems += check_page(tab, name, language)
        # Signed in: the form's own fields, then allauth's pages for the account.
        tab.goto(f"{live_server.url}/accounts/login/")
        tab.fill("input[name=login]", citizen.email)
        tab.fill("input[name=password]", PASSWORD)
        tab.click("main form button[type=submit]")
        tab.wait_for_url(lambda url: not url.endswith("/accounts/login/"))
        if tab.get_by_test_id("mfa-authenticate-page").count():  # the second pass: the citizen has MFA now
            problems += check_page(tab, "account-enter-code", language)
            tab.fill("input[name=code]", admin_totp_code())
            tab.click("main form button[type=submit] >> nth=0")
        tab.wait_for_url(f"{live_server.url}/")
        # A signed-in citizen's language is their profile's; the header's switch sets it.
        if tab.locator("html").get_attribute("lang") != language:
            tab.click(f"button[name=language][value={language}]")
            tab.wait_for_selector(f"html[lang={language}]")
        # With the app on (the second pass), its set-up page gives way to the page that turns it off.
        totp_page = (
            ("account-totp-turn-off", "/accounts/2fa/totp/deactivate/", "totp-deactivate-page")
            if citizen.authenticator_set.exists()
            else ("account-totp-set-up", "/accounts/2fa/totp/activate/", "totp-activate-page")
        )
        for name, path, testid in [*SIGNED_IN_PAGES, totp_page]:
            tab.goto(f"{live_server.url}{path}")
            if tab.get_by_test_id("reauthenticate-page").count() and testid != "reauthenticate-page":
                tab.fill("input[name=password]", PASSWORD)
                tab.click("main form button[type=submit]")
                tab.wait_for_url(f"{live_server.url}{path}")
            assert tab.get_by_test_id(testid).count() == 1, (name, language)
            assert tab.locator("html").get_attribute("lang") == language
            problems += check_page(tab, name, language)
        # Recovery codes: "Download codes" and "Generate new codes" are two controls with space between.
        if not citizen.authenticator_set.exists():
            TOTP.activate(citizen, ADMIN_TOTP_SECRET)
            RecoveryCodes.activate(citizen)
        tab.goto(f"{live_server.url}/accounts/2fa/recovery-codes/")
        assert tab.get_by_test_id("recovery-codes-page").count() == 1, language
        download = tab.get_by_test_id("download-codes").bounding_box()
        generate = tab.get_by_test_id("generate-codes").bounding_box()
        assert download is not None
        assert generate is not None
        apart_sideways = generate["x"] >= download["x"] + download["width"] + 8
        apart_downwards = generate["y"] >= download["y"] + download["height"] + 8
        assert apart_sideways or apart_downwards, (download, generate)
        problems += check_page(tab, "account-recovery-codes", language)
        context.close()
    assert not problems, "\n".join(problems)
