"""Logging out of a session that signed in with the national eID ends the session at the eID as well
(OpenID Connect RP-Initiated Logout); an email sign-in just goes home."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from portal.accounts.models import User
from tests.accounts.eid_op import CLIENT_ID, FakeOP
from tests.accounts.test_eid_login import eid_login, signed_in_user

pytestmark = pytest.mark.django_db


def test_logging_out_after_an_eid_sign_in_goes_through_the_eids_sign_out(
    client: Client, fake_op: FakeOP, settings: object
) -> None:
    assert eid_login(client, fake_op).status_code == 302
    assert signed_in_user(client) is not None

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{fake_op.issuer}/session/end"
    query = parse_qs(target.query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["post_logout_redirect_uri"] == ["http://testserver/"]
    # Nothing of the sign-in rides along: no ID token is kept for a hint.
    assert set(query) == {"client_id", "post_logout_redirect_uri"}
    assert signed_in_user(client) is None


def test_an_email_sign_in_logs_out_home(client: Client, fake_op: FakeOP, citizen: User) -> None:
    client.force_login(citizen)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_an_unreachable_eid_still_logs_out_home(client: Client, fake_op: FakeOP) -> None:
    assert eid_login(client, fake_op).status_code == 302
    fake_op.issuer = "http://127.0.0.1:9"  # discovery now fails

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert signed_in_user(client) is None
