"""Removing an email address asks first (portal.accounts.views.EmailManageView): only the confirmation
removes it."""

import re
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from portal.accounts.models import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

SECOND = "second@example.org"


@pytest.fixture
def second_address(citizen: User) -> EmailAddress:
    return EmailAddress.objects.create(user=citizen, email=SECOND, verified=True, primary=False)


@pytest.fixture
def signed_in(client: Client, citizen: User) -> Client:
    """Signed in with the password just now, so allauth asks for no re-authentication."""
    client.force_login(citizen)
    assert client.post("/accounts/reauthenticate/", {"password": PASSWORD}).status_code == 302
    return client


def ask(client: Client, email: str = SECOND, **headers: Any) -> Any:
    return client.post("/accounts/email/", {"email": email, "action_remove": ""}, **headers)


def confirm(client: Client, email: str = SECOND) -> Any:
    return client.post("/accounts/email/", {"email": email, "action_remove": "", "confirm": "yes"})


def confirmation_of(html: str) -> str:
    match = re.search(r'<section data-testid="email-remove-confirm".*?</section>', html, re.S)
    assert match, html[:3000]
    return match.group(0)


def test_remove_first_asks_and_removes_nothing(signed_in: Client, second_address: EmailAddress) -> None:
    response = ask(signed_in)
    assert response.status_code == 200
    assert EmailAddress.objects.filter(email=SECOND).exists()
    section = confirmation_of(response.content.decode())
    assert '<h1 id="remove-email-title">Remove this email address?</h1>' in section
    assert f"<strong>{SECOND}</strong> will be removed from your account." in section
    assert f'<input type="hidden" name="email" value="{SECOND}">' in section
    assert '<input type="hidden" name="confirm" value="yes">' in section
    assert (
        '<button type="submit" name="action_remove" class="danger-button">Remove this address</button>'
        in (section)
    )
    assert '<a class="secondary-button" href="/accounts/email/">Cancel</a>' in section
    # Only the question: not the list of addresses, nor the form to add one.
    assert 'name="action_primary"' not in response.content.decode()
    assert 'name="action_add"' not in response.content.decode()


def test_the_confirmation_removes_and_says_so(signed_in: Client, second_address: EmailAddress) -> None:
    ask(signed_in)
    response = confirm(signed_in)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/email/"
    assert not EmailAddress.objects.filter(email=SECOND).exists()
    assert EmailAddress.objects.filter(email="citizen@example.org").exists()
    page = signed_in.get("/accounts/email/").content.decode()
    assert f"Removed email address {SECOND}." in page
    assert f'value="{SECOND}"' not in page


def test_the_confirmation_still_asks_for_the_password_when_it_is_old(
    citizen_client: Client, second_address: EmailAddress
) -> None:
    assert ask(citizen_client).status_code == 200
    response = confirm(citizen_client)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/reauthenticate/")
    assert EmailAddress.objects.filter(email=SECOND).exists()
    # Allauth carries the confirmed request across the password step, and then removes the address.
    resumed = citizen_client.post(response["Location"], {"password": PASSWORD})
    assert resumed.status_code == 302
    assert not EmailAddress.objects.filter(email=SECOND).exists()


def test_the_primary_address_is_refused_at_once_without_a_question(signed_in: Client, citizen: User) -> None:
    response = ask(signed_in, "citizen@example.org")
    assert response.status_code == 302
    page = signed_in.get("/accounts/email/").content.decode()
    assert "You cannot remove your primary email address (citizen@example.org)." in page
    assert EmailAddress.objects.filter(email="citizen@example.org").exists()


def test_another_citizens_address_gets_no_question_and_stays(signed_in: Client, other_citizen: User) -> None:
    for post in (ask, confirm):
        response = post(signed_in, "other@example.org")
        assert response.status_code == 302
        assert "other@example.org" not in signed_in.get("/accounts/email/").content.decode()
    assert EmailAddress.objects.filter(email="other@example.org").exists()


def test_the_question_speaks_danish(signed_in: Client, second_address: EmailAddress) -> None:
    signed_in.post("/language/", {"language": "da", "next": "/"})
    section = confirmation_of(ask(signed_in).content.decode())
    assert "Fjern denne e-mailadresse?" in section
    assert f"<strong>{SECOND}</strong> bliver fjernet fra din konto." in section
    assert ">Annullér</a>" in section
