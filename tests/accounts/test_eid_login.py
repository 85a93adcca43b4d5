"""Signing in with the national eID against a provider the test controls: binding, landing in the account
that holds the identifier, linking from a signed-in account, key rotation, and the pages."""

import base64
import hashlib
import logging
from typing import Any

import pytest
from allauth.socialaccount.models import SocialAccount
from django.test import Client

from portal.accounts.models import NationalIdentity, User
from portal.accounts.services import identity_record_on_file
from portal.audit.models import Action, AuditEntry
from tests.accounts.eid_op import (
    CLIENT_SECRET,
    HIGH,
    IDENTIFIER,
    SUBSTANTIAL,
    SYSTEM,
    FakeOP,
    callback,
    ec_key,
    rsa_key,
    start_login,
)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def signed_in_user(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def eid_login(client: Client, op: FakeOP, **claims: Any) -> Any:
    params = start_login(client)
    return callback(client, op, params, op.sign(op.claims(params["nonce"], **claims)))


def test_the_sign_in_page_offers_the_eid_first(client: Client, fake_op: FakeOP) -> None:
    html = client.get("/accounts/login/").content.decode()
    assert "Sign in with national eID" in html
    assert html.index('data-testid="eid-login"') < html.index('name="password"')


def test_without_email_login_only_the_eid_is_offered(
    client: Client, fake_op: FakeOP, settings: Any, citizen: User
) -> None:
    settings.ACCOUNT_EMAIL_LOGIN = False
    html = client.get("/accounts/login/").content.decode()
    assert "Sign in with national eID" in html
    assert 'name="password"' not in html
    client.post("/accounts/login/", {"login": citizen.email, "password": PASSWORD})
    assert signed_in_user(client) is None


def test_the_authorization_request_carries_state_nonce_pkce_and_the_assurance(
    client: Client, fake_op: FakeOP
) -> None:
    params = start_login(client, scope="email", auth_params="prompt=none&nonce=mine")
    assert params["response_type"] == "code"
    assert len(params["state"]) >= 16
    assert len(params["nonce"]) >= 32
    assert params["nonce"] != "mine"
    assert params["code_challenge_method"] == "S256"
    assert params["acr_values"] == f"{SUBSTANTIAL} {HIGH}"
    assert "prompt" not in params
    assert set(params["scope"].split()) == {"openid", "profile", "national_id"}  # ?scope= is ignored
    callback(client, fake_op, params, fake_op.sign(fake_op.claims(params["nonce"])))
    (token_request,) = fake_op.token_requests
    verifier = token_request["code_verifier"][0]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == params["code_challenge"]
    assert token_request["client_secret"] == [CLIENT_SECRET]


def test_a_good_token_makes_an_account_binds_the_identifier_and_signs_in(
    client: Client, fake_op: FakeOP, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = eid_login(client, fake_op)
    assert response.status_code == 302, response.content[:2000]
    user = signed_in_user(client)
    assert user is not None
    assert user.email is None
    assert user.first_name == "Ida"
    identity = NationalIdentity.objects.get(user=user)
    assert (identity.system, identity.value, identity.acr) == (SYSTEM, IDENTIFIER, SUBSTANTIAL)
    assert (identity.issuer, identity.subject) == (fake_op.issuer, "eid-subject-1")
    assert identity.verified_at is not None
    # allauth's own row keeps no identifier and no name.
    extra = SocialAccount.objects.get(user=user).extra_data
    assert IDENTIFIER not in str(extra)
    assert "Ida" not in str(extra)
    assert AuditEntry.objects.filter(owner=user, action=Action.EID_LINKED).count() == 1
    assert AuditEntry.objects.get(owner=user, action=Action.SIGNED_IN).detail == {"method": "eid"}
    assert IDENTIFIER not in caplog.text
    assert fake_op.id_token not in caplog.text

    # The account page says how sure the portal is, without the identifier itself.
    page = client.get("/accounts/profile/").content.decode()
    assert "Confirmed by national eID at substantial assurance" in page
    assert IDENTIFIER not in page
    assert "Sign in with national eID to link it" not in page

    # Signing in again lands in the same account.
    client.post("/accounts/logout/")
    assert eid_login(client, fake_op, acr=HIGH).status_code == 302
    assert signed_in_user(client) == user
    assert User.objects.count() == 1
    assert NationalIdentity.objects.count() == 1
    assert NationalIdentity.objects.get().acr == HIGH
    assert AuditEntry.objects.filter(owner=user, action=Action.EID_LINKED).count() == 1


def test_an_identifier_on_file_signs_in_to_its_account_and_is_claimed(
    client: Client, fake_op: FakeOP, citizen: User
) -> None:
    identity_record_on_file(user=citizen, system=SYSTEM, value=IDENTIFIER)
    assert eid_login(client, fake_op).status_code == 302
    assert signed_in_user(client) == citizen
    assert User.objects.count() == 1
    identity = NationalIdentity.objects.get()
    assert identity.user == citizen
    assert (identity.issuer, identity.subject, identity.acr) == (fake_op.issuer, "eid-subject-1", SUBSTANTIAL)
    assert SocialAccount.objects.get().user == citizen
    assert AuditEntry.objects.filter(owner=citizen, action=Action.EID_LINKED).count() == 1
    # The email login of that account still works.
    client.post("/accounts/logout/")
    client.post("/accounts/login/", {"login": citizen.email, "password": PASSWORD})
    assert signed_in_user(client) == citizen


def test_the_demo_citizen_lands_in_the_seeded_account(client: Client, fake_op: FakeOP) -> None:
    from django.core.management import call_command

    call_command("seed_demo")
    assert eid_login(client, fake_op, national_identifier="ABC1234").status_code == 302
    user = signed_in_user(client)
    assert user is not None
    assert user.email == "demo@example.com"
    assert NationalIdentity.objects.get(user=user).subject == "eid-subject-1"
    call_command("seed_demo")  # seeding again keeps the claimed binding
    assert NationalIdentity.objects.get(user=user).subject == "eid-subject-1"


def password_login(client: Client, user: User) -> None:
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302


def test_a_signed_in_account_links_the_eid(client: Client, fake_op: FakeOP, citizen: User) -> None:
    password_login(client, citizen)
    page = client.get("/accounts/profile/").content.decode()
    assert "Sign in with national eID to link it" in page
    params = start_login(client, process="connect", next="/accounts/profile/")
    response = callback(client, fake_op, params, fake_op.sign(fake_op.claims(params["nonce"])))
    # allauth asks for the password before connecting: whoever sits at the account must own it.
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/reauthenticate/")
    assert not NationalIdentity.objects.exists()
    assert not SocialAccount.objects.exists()
    response = client.post(response["Location"], {"password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/profile/"
    assert NationalIdentity.objects.get().user == citizen
    assert "Confirmed by national eID" in client.get("/accounts/profile/").content.decode()
    assert signed_in_user(client) == citizen
    assert User.objects.count() == 1
    # Later eID sign-ins land in this account.
    client.post("/accounts/logout/")
    eid_login(client, fake_op)
    assert signed_in_user(client) == citizen


def test_linking_an_identifier_bound_to_another_account_is_refused(
    client: Client, fake_op: FakeOP, citizen: User, other_citizen: User
) -> None:
    identity_record_on_file(user=other_citizen, system=SYSTEM, value=IDENTIFIER)
    password_login(client, citizen)
    params = start_login(client, process="connect")
    response = callback(client, fake_op, params, fake_op.sign(fake_op.claims(params["nonce"])))
    assert response.status_code == 403
    assert "already belongs to another account" in response.content.decode()
    assert NationalIdentity.objects.get().user == other_citizen
    assert NationalIdentity.objects.get().subject == ""
    assert not SocialAccount.objects.exists()
    entry = AuditEntry.objects.get(owner=citizen, action=Action.EID_REFUSED)
    assert entry.detail == {"reason": "bound-elsewhere"}


def test_an_account_with_another_identifier_links_no_second_one(
    client: Client, fake_op: FakeOP, citizen: User
) -> None:
    identity_record_on_file(user=citizen, system=SYSTEM, value="OTHER11")
    password_login(client, citizen)
    params = start_login(client, process="connect")
    response = callback(client, fake_op, params, fake_op.sign(fake_op.claims(params["nonce"])))
    assert response.status_code == 403
    assert list(NationalIdentity.objects.values_list("value", flat=True)) == ["OTHER11"]


def test_the_identifier_decides_not_the_subject(client: Client, fake_op: FakeOP, citizen: User) -> None:
    # Another eID person (another subject) stating the identifier a known person holds is refused.
    assert eid_login(client, fake_op).status_code == 302
    client.post("/accounts/logout/")
    response = eid_login(client, fake_op, sub="eid-subject-2")
    assert response.status_code == 403
    assert signed_in_user(client) is None
    assert User.objects.filter(email__isnull=True).count() == 1


@pytest.mark.parametrize("make_key", [lambda kid: rsa_key(kid, "PS256"), ec_key])
def test_ps256_and_es256_are_accepted(client: Client, fake_op: FakeOP, make_key: Any) -> None:
    fake_op.keys = [make_key("key-x")]
    assert eid_login(client, fake_op).status_code == 302
    assert signed_in_user(client) is not None


def test_a_rotated_key_is_fetched_and_verifies(client: Client, fake_op: FakeOP) -> None:
    assert eid_login(client, fake_op).status_code == 302
    assert fake_op.jwks_fetches == 1
    client.post("/accounts/logout/")
    fake_op.keys = [rsa_key("key-2")]
    assert eid_login(client, fake_op).status_code == 302
    assert signed_in_user(client) is not None
    assert fake_op.jwks_fetches == 2
    # The new keys are cached: the next sign-in fetches nothing.
    client.post("/accounts/logout/")
    assert eid_login(client, fake_op).status_code == 302
    assert fake_op.jwks_fetches == 2
