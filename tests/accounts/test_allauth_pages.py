"""allauth's pages are the portal's own templates: plain words, visible labels, errors next to their field,
the portal's buttons, in English and Danish."""

import re
from typing import Any

import pytest
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.core import mail
from django.test import Client

from portal.accounts.models import User
from tests.conftest import ADMIN_TOTP_SECRET, PASSWORD

pytestmark = pytest.mark.django_db

PASSPHRASE = "a long enough passphrase"


def html_of(client: Client, path: str, language: str = "en") -> str:
    """The page in the language chosen with the header's language switch (a signed-in citizen's choice
    outranks the browser's)."""
    client.post("/language/", {"language": language, "next": "/"})
    response = client.get(path, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200, (path, response.status_code, response.get("Location"))
    return str(response.content.decode())


def h1(html: str) -> str:
    (heading,) = re.findall(r"<h1[^>]*>(.*?)</h1>", html, flags=re.S)
    return heading.strip()


def label_for(html: str, field_id: str) -> bool:
    return f'<label for="{field_id}">' in html


@pytest.mark.parametrize(
    ("path", "testid", "english", "danish"),
    [
        ("/accounts/login/", "login-page", "Sign in", "Log ind"),
        ("/accounts/signup/", "signup-page", "Create account", "Opret konto"),
        (
            "/accounts/password/reset/",
            "password-reset-page",
            "Forgotten your password?",
            "Glemt din adgangskode?",
        ),
        ("/accounts/password/reset/done/", "password-reset-done-page", "Check your email", "Tjek din e-mail"),
        (
            "/accounts/password/reset/key/1-bad-key/",
            "password-reset-key-page",
            "This link does not work",
            "Linket virker ikke",
        ),
    ],
)
def test_entrance_pages_are_ours_in_both_languages(
    client: Client, path: str, testid: str, english: str, danish: str
) -> None:
    page = html_of(client, path)
    assert f'data-testid="{testid}"' in page
    assert h1(page) == english
    assert h1(html_of(client, path, "da")) == danish


def test_sign_in_keeps_the_contract_fields_with_visible_labels(client: Client) -> None:
    page = html_of(client, "/accounts/login/")
    assert 'name="login"' in page
    assert 'name="password"' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert label_for(page, "id_login")
    assert label_for(page, "id_password")
    assert '<a href="/accounts/password/reset/">Forgotten your password?</a>' in page
    assert '<a href="/accounts/signup/">Create an account</a>' in page


def test_a_wrong_password_shows_the_error_above_the_fields(client: Client, citizen: User) -> None:
    page = client.post("/accounts/login/", {"login": citizen.email, "password": "wrong"}).content.decode()
    assert 'data-testid="form-errors"' in page
    assert "The email address and/or password you specified are not correct." in page
    assert page.index('data-testid="form-errors"') < page.index('name="password"')


def test_sign_up_says_create_account_and_shows_field_errors_next_to_the_field(client: Client) -> None:
    page = html_of(client, "/accounts/signup/")
    assert "Sign Up" not in page
    assert '<button type="submit">Create account</button>' in page
    for field in ("id_email", "id_password1", "id_password2"):
        assert label_for(page, field)
    refused = client.post(
        "/accounts/signup/", {"email": "not-an-email", "password1": "x", "password2": "y"}
    ).content.decode()
    # The email error sits in the email field's block, before its input and before the next field's label.
    email_error = refused.index('id="id_email_error"')
    assert refused.index('<label for="id_email">') < email_error < refused.index('name="email"')
    assert email_error < refused.index('<label for="id_password1">')


def test_verification_page_says_confirm_your_email_address_and_links_the_contact(client: Client) -> None:
    response = client.post(
        "/accounts/signup/",
        {
            "email": "fresh@example.org",
            "password1": "a long enough passphrase",
            "password2": "a long enough passphrase",
        },
    )
    assert response["Location"] == "/accounts/confirm-email/"
    page = html_of(client, "/accounts/confirm-email/")
    assert h1(page) == "Confirm your email address"
    assert '<a href="/contact/">contact us</a>' in page
    assert h1(html_of(client, "/accounts/confirm-email/", "da")) == "Bekræft din e-mailadresse"
    assert len(mail.outbox) == 1


def test_password_reset_links_contact_us_to_the_contact_page(client: Client) -> None:
    page = html_of(client, "/accounts/password/reset/")
    assert '<a href="/contact/">contact us</a>' in page
    assert '<button type="submit">Send me the link</button>' in page


@pytest.mark.parametrize(
    ("path", "testid", "english", "danish"),
    [
        ("/accounts/logout/", "logout-page", "Sign out", "Log ud"),
        ("/accounts/email/", "email-page", "Your email address", "Din e-mailadresse"),
        ("/accounts/2fa/", "mfa-index-page", "Two-factor authentication", "Totrinsbekræftelse"),
        ("/accounts/reauthenticate/", "reauthenticate-page", "Confirm it is you", "Bekræft, at det er dig"),
    ],
)
def test_signed_in_pages_are_ours_in_both_languages(
    citizen_client: Client, path: str, testid: str, english: str, danish: str
) -> None:
    page = html_of(citizen_client, path)
    assert f'data-testid="{testid}"' in page
    assert h1(page) == english
    assert h1(html_of(citizen_client, path, "da")) == danish


def test_email_page_uses_the_portals_button_hierarchy(citizen_client: Client) -> None:
    page = html_of(citizen_client, "/accounts/email/")
    assert '<button type="submit" name="action_primary">' in page
    assert '<button type="submit" name="action_send" class="secondary-button">' in page
    assert '<button type="submit" name="action_remove" class="danger-button">' in page
    assert label_for(page, "id_email")


def reauthenticated(client: Client) -> Client:
    response = client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    assert response.status_code == 302
    return client


def test_password_change_and_totp_set_up_are_ours(citizen_client: Client) -> None:
    client = reauthenticated(citizen_client)
    change = html_of(client, "/accounts/password/change/")
    assert h1(change) == "Change your password"
    for field in ("id_oldpassword", "id_password1", "id_password2"):
        assert label_for(change, field)
    activate = html_of(client, "/accounts/2fa/totp/activate/")
    assert 'data-testid="totp-activate-page"' in activate
    assert label_for(activate, "authenticator_secret")
    assert label_for(activate, "id_code")
    assert h1(html_of(client, "/accounts/2fa/totp/activate/", "da")) == "Opsæt en godkendelsesapp"


@pytest.fixture
def citizen_with_mfa(citizen: User) -> User:
    TOTP.activate(citizen, ADMIN_TOTP_SECRET)
    RecoveryCodes.activate(citizen)
    return citizen


def test_recovery_codes_page_shows_download_and_generate_as_separate_controls(
    client: Client, citizen_with_mfa: User
) -> None:
    client.force_login(citizen_with_mfa)
    reauthenticated(client)
    page = html_of(client, "/accounts/2fa/recovery-codes/")
    assert h1(page) == "Recovery codes"
    actions = re.search(
        r'<div class="button-row" data-testid="recovery-code-actions">(.*?)</div>', page, re.S
    )
    assert actions is not None
    controls = re.findall(r"<a [^>]*>([^<]*)</a>", actions.group(1))
    assert controls == ["Download codes", "Generate new codes"]
    assert "Download codesGenerate new codes" not in re.sub(r"<[^>]+>|\s", "", page)
    codes = re.findall(
        r"<li>([^<]+)</li>", page.split('data-testid="recovery-code-list"')[1].split("</ul>")[0]
    )
    assert len(codes) == len(
        RecoveryCodes(citizen_with_mfa.authenticator_set.get(type="recovery_codes")).get_unused_codes()
    )
    danish = html_of(client, "/accounts/2fa/recovery-codes/", "da")
    assert "Hent koder" in danish
    assert "Lav nye koder" in danish


def test_mfa_index_with_an_app_offers_turning_it_off_as_destructive(
    client: Client, citizen_with_mfa: User
) -> None:
    client.force_login(citizen_with_mfa)
    page = html_of(client, "/accounts/2fa/")
    assert '<a class="danger-button" href="/accounts/2fa/totp/deactivate/">' in page
    assert (
        '<a class="secondary-button" href="/accounts/2fa/recovery-codes/generate/">Generate new codes</a>'
        in page
    )
    reauthenticated(client)
    deactivate = html_of(client, "/accounts/2fa/totp/deactivate/")
    assert '<button type="submit" class="danger-button">Turn off</button>' in deactivate


def test_eid_failure_pages_link_contact_and_help(client: Client) -> None:
    from django.template.loader import render_to_string

    page = render_to_string("socialaccount/authentication_error.html", {"eid_reason": "other-eid-person"})
    assert '<a href="/contact/">contact us</a>' in page
    assert 'href="/help/#signing-in"' in page
    cancelled = render_to_string("socialaccount/login_cancelled.html", {})
    assert 'data-testid="eid-cancelled-page"' in cancelled


def test_allauth_pages_we_do_not_override_get_the_portals_fields_and_buttons(citizen_client: Any) -> None:
    """allauth's element templates are ours too: a page we did not rewrite still labels its fields."""
    from allauth.account.forms import AddEmailForm
    from django.template.loader import render_to_string

    html = render_to_string(
        "allauth/elements/fields.html", {"attrs": {"form": AddEmailForm(data={"email": "bad"}, user=None)}}
    )
    assert '<label for="id_email">' in html
    assert 'id="id_email_error"' in html
