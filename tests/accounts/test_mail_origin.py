"""Mails link to PORTAL_ORIGIN, never to the Host a request named; a deployment must set it."""

from typing import Any

import pytest
from django.core import mail
from django.test import Client, override_settings

from portal.accounts.checks import portal_origin_check
from portal.accounts.models import User
from tests.mail_server import SmtpServer, smtp_server

pytestmark = pytest.mark.django_db
__all__ = ["smtp_server"]  # the fixture, used by name

ORIGIN = "https://portal.example.dk"
FORGED_HOST = "127.0.0.1:6666"  # an allowed host name, another port: the request's Host decides nothing


@pytest.fixture
def forgeable(settings: Any) -> None:
    settings.PORTAL_ORIGIN = ORIGIN
    settings.ALLOWED_HOSTS = ["testserver", "127.0.0.1"]


@pytest.mark.integration
def test_a_reset_mail_under_a_forged_host_links_to_the_portal_origin(
    client: Client, citizen: User, forgeable: None, smtp_server: SmtpServer
) -> None:
    response = client.post("/accounts/password/reset/", {"email": citizen.email}, HTTP_HOST=FORGED_HOST)
    assert response.status_code == 302
    (message,) = smtp_server.messages()  # as a real mail server received it
    assert message["To"] == citizen.email
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = payload.decode()
    assert f"{ORIGIN}/accounts/password/reset/key/" in body
    assert "6666" not in body
    assert "127.0.0.1" not in body
    assert "Yellow Button" in body  # the site's name, not the forged host


def test_a_confirmation_mail_under_a_forged_host_links_to_the_portal_origin(
    client: Client, forgeable: None
) -> None:
    client.post(
        "/accounts/signup/",
        {
            "email": "new@example.org",
            "password1": "a long new passphrase 42",
            "password2": "a long new passphrase 42",
        },
        HTTP_HOST=FORGED_HOST,
    )
    (message,) = mail.outbox
    assert f"{ORIGIN}/accounts/confirm-email/" in message.body
    assert "6666" not in message.body


def test_a_deployment_without_its_origin_does_not_pass_the_checks(settings: Any) -> None:
    settings.DEBUG = False
    settings.PORTAL_ORIGIN = ""
    assert [error.id for error in portal_origin_check(None)] == ["portal.E001"]
    settings.PORTAL_ORIGIN = ORIGIN
    assert portal_origin_check(None) == []
    for wrong in ("portal.example.dk", "https://portal.example.dk/path", "ftp://portal.example.dk"):
        settings.PORTAL_ORIGIN = wrong
        assert [error.id for error in portal_origin_check(None)] == ["portal.E002"], wrong
    settings.DEBUG = True
    settings.PORTAL_ORIGIN = ""
    assert portal_origin_check(None) == []  # on a laptop the request's own origin will do


@pytest.mark.parametrize("debug", [True, False])
def test_a_form_posted_without_its_slash_is_a_404_and_changes_nothing(
    citizen_client: Client, citizen: User, debug: bool
) -> None:
    from tests.sharing.conftest import store_example
    from tests.sharing.links.test_shares import make_share

    store_example(citizen)
    share = make_share(citizen_client)
    with override_settings(DEBUG=debug):
        response = citizen_client.post(f"/shares/{share.id}/revoke")
    assert response.status_code == 404
    share.refresh_from_db()
    assert share.revoked_at is None
    # Reading still finds the address with its slash.
    moved = citizen_client.get("/records")
    assert moved.status_code == 301
    assert moved["Location"] == "/records/"
