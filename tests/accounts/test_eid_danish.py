"""The eID pages in Danish (needs the Danish strings of the eID sign-in in locale/da)."""

from typing import Any

import pytest
from django.test import Client

from portal.accounts.models import User
from portal.accounts.services import identity_record_on_file
from tests.accounts.eid_op import IDENTIFIER, SYSTEM, FakeOP, callback, start_login
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_the_sign_in_page_offers_the_eid_in_danish(client: Client, fake_op: FakeOP) -> None:
    html = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="da").content.decode()
    assert "Log ind med national eID" in html


def test_a_refusal_is_explained_in_danish(
    client: Client, fake_op: FakeOP, citizen: User, other_citizen: User, settings: Any
) -> None:
    identity_record_on_file(user=other_citizen, system=SYSTEM, value=IDENTIFIER)
    client.post("/accounts/login/", {"login": citizen.email, "password": PASSWORD})
    client.post("/language/", {"language": "da", "next": "/"})
    params = start_login(client, process="connect")
    page = callback(client, fake_op, params, fake_op.sign(fake_op.claims(params["nonce"]))).content.decode()
    assert "tilhører allerede en anden konto" in page
    assert "Der blev ikke oprettet nogen konto, og intet blev ændret." in page
