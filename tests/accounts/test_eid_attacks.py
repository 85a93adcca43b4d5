"""Forged and misdirected eID answers: each ends on the error page, with no account, no binding, no allauth
row, nobody signed in, and no token (nor identifier) in any log line, even at DEBUG."""

import base64
import json
import logging
import time
from typing import Any

import pytest
from allauth.socialaccount.models import SocialAccount
from django.test import Client

from portal.accounts.models import NationalIdentity, User
from portal.audit.models import Action, AuditEntry
from tests.accounts.eid_op import (
    CALLBACK_URL,
    IDENTIFIER,
    LOW,
    FakeOP,
    b64url,
    callback,
    hs256_token,
    rsa_key,
    start_login,
    unsigned_token,
)

pytestmark = pytest.mark.django_db

FAILURE_TEXT = "No account was created and nothing was changed."


def tampered(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"


def _forged(op: FakeOP, nonce: str) -> dict[str, str]:
    now = int(time.time())
    return {
        "alg-none": unsigned_token(op.claims(nonce), op.keys[0].kid),
        "hs256-with-the-public-key": hs256_token(op.claims(nonce), op.keys[0].public_pem(), op.keys[0].kid),
        "another-issuer": op.sign(op.claims(nonce, iss="https://evil.example")),
        "wrong-audience": op.sign(op.claims(nonce, aud="someone-else")),
        "several-audiences-no-azp": op.sign(op.claims(nonce, aud=["yellow-button-portal", "other"])),
        "expired": op.sign(op.claims(nonce, iat=now - 3600, exp=now - 1800)),
        "issued-in-the-future": op.sign(op.claims(nonce, iat=now + 3600, exp=now + 7200)),
        "wrong-nonce": op.sign(op.claims("not-the-nonce-we-sent-0123456789abcdef")),
        "no-nonce": op.sign(op.claims(nonce, nonce=None)),
        "tampered-identifier": tampered(op.sign(op.claims(nonce)), national_identifier="ABC1234"),
        "acr-below-the-minimum": op.sign(op.claims(nonce, acr=LOW)),
        "acr-unknown": op.sign(op.claims(nonce, acr="urn:example:whatever")),
        "no-identifier": op.sign(op.claims(nonce, national_identifier=None)),
        "unknown-key": op.sign(op.claims(nonce), rsa_key("key-1")),  # same kid, another key
        "unknown-kid": op.sign(op.claims(nonce), rsa_key("key-from-nowhere")),
        "not-a-jwt": "this is not a token",
    }


FORGERIES = list(_forged(FakeOP(keys=[rsa_key("k")]), "n"))
# Why each is refused (the code logged and put in the trail): each forgery fails the check it targets.
REASONS = {
    "alg-none": "algorithm",
    "hs256-with-the-public-key": "algorithm",
    "another-issuer": "issuer",
    "wrong-audience": "audience",
    "several-audiences-no-azp": "authorized-party",
    "expired": "expired",
    "issued-in-the-future": "invalid",
    "wrong-nonce": "nonce",
    "no-nonce": "nonce",
    "tampered-identifier": "signature",
    "acr-below-the-minimum": "assurance",
    "acr-unknown": "assurance",
    "no-identifier": "identifier-missing",
    "unknown-key": "signature",
    "unknown-kid": "unknown-key",
    "not-a-jwt": "malformed",
}


def assert_refused(
    response: Any, caplog: pytest.LogCaptureFixture, *secrets: str, quiet: tuple[str, ...] = ()
) -> None:
    """``secrets`` appear neither in logs nor on the page; ``quiet`` ones not in logs (the page's language
    switch repeats the callback's spent state in its return address)."""
    assert response.status_code in (401, 403), response.status_code
    html = response.content.decode()
    assert "Signing in with national eID did not work" in html
    assert FAILURE_TEXT in html
    assert not User.objects.exists()
    assert not NationalIdentity.objects.exists()
    assert not SocialAccount.objects.exists()
    for secret in (IDENTIFIER, "ABC1234", "fake-access-token-4711", *secrets):
        assert secret not in caplog.text
        assert secret not in html
    for secret in quiet:
        assert secret not in caplog.text


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "requests", "django", "allauth", "portal"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_forged_or_misdirected_token_is_refused(
    client: Client, fake_op: FakeOP, logs: pytest.LogCaptureFixture, forgery: str
) -> None:
    params = start_login(client)
    token = _forged(fake_op, params["nonce"])[forgery]
    response = callback(client, fake_op, params, token)
    assert_refused(response, logs, token, params["nonce"], quiet=(params["state"],))
    assert "_auth_user_id" not in client.session
    # The operator's trail has the refusal, with its reason code only.
    entry = AuditEntry.objects.get(action=Action.EID_REFUSED)
    assert entry.owner is None
    assert entry.detail == {"reason": REASONS[forgery]}


def test_a_nonce_from_another_login_is_refused(
    client: Client, fake_op: FakeOP, logs: pytest.LogCaptureFixture
) -> None:
    first = start_login(client)
    second = start_login(client)
    # A token minted for the first login replayed into the second.
    token = fake_op.sign(fake_op.claims(first["nonce"]))
    assert_refused(callback(client, fake_op, second, token), logs, token)


def test_a_replayed_callback_is_refused(
    client: Client, fake_op: FakeOP, logs: pytest.LogCaptureFixture
) -> None:
    params = start_login(client)
    token = fake_op.sign(fake_op.claims(params["nonce"]))
    assert callback(client, fake_op, params, token).status_code == 302
    user = User.objects.get()
    client.post("/accounts/logout/")
    # The same state (and nonce, and token) once more: the state was used.
    response = callback(client, fake_op, params, token)
    assert response.status_code == 401
    assert FAILURE_TEXT in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert list(User.objects.all()) == [user]
    assert NationalIdentity.objects.count() == 1
    assert token not in logs.text
    assert AuditEntry.objects.get(action=Action.EID_REFUSED).detail == {"reason": "state"}


def test_a_state_from_another_session_is_refused(
    client: Client, fake_op: FakeOP, logs: pytest.LogCaptureFixture
) -> None:
    params = start_login(client)
    token = fake_op.sign(fake_op.claims(params["nonce"]))
    stranger = Client()
    assert_refused(callback(stranger, fake_op, params, token), logs, token)


def test_an_error_callback_is_a_clear_page(
    client: Client, fake_op: FakeOP, logs: pytest.LogCaptureFixture
) -> None:
    params = start_login(client)
    response = client.get(CALLBACK_URL, {"error": "access_denied", "state": params["state"]}, follow=True)
    html = response.content.decode()
    assert "Signing in with national eID was cancelled" in html
    assert FAILURE_TEXT in html
    assert not User.objects.exists()
    assert not NationalIdentity.objects.exists()
    assert fake_op.token_requests == []
    response = client.get(CALLBACK_URL, {"error": "server_error", "state": start_login(client)["state"]})
    assert_refused(response, logs)


@pytest.mark.parametrize(
    ("always_named", "named", "signs_in"),
    [
        (False, None, True),
        (True, "SELF", True),
        (True, None, False),
        (False, "https://evil.example", False),
        (True, "https://evil.example", False),
    ],
)
def test_an_answer_from_another_eid_is_refused_before_its_code_is_used(
    client: Client,
    fake_op: FakeOP,
    logs: pytest.LogCaptureFixture,
    always_named: bool,
    named: str | None,
    signs_in: bool,
) -> None:
    """RFC 9207 (mix-up): the answer names the eID it came from, and must when the eID says it always does."""
    fake_op.names_itself_in_responses = always_named
    params = start_login(client)
    fake_op.id_token = fake_op.sign(fake_op.claims(params["nonce"]))
    answer = {"code": "code-from-the-eid", "state": params["state"]}
    if named is not None:
        answer["iss"] = fake_op.issuer if named == "SELF" else named

    response = client.get(CALLBACK_URL, answer)

    if signs_in:
        assert response.status_code == 302, response.content[:500]
        assert "_auth_user_id" in client.session
        return
    assert_refused(response, logs, fake_op.id_token)
    assert fake_op.token_requests == []  # the code went nowhere
    assert AuditEntry.objects.get(action=Action.EID_REFUSED).detail == {"reason": "response-issuer"}


def test_discovery_naming_another_issuer_is_refused(
    client: Client, fake_op: FakeOP, settings: Any, logs: pytest.LogCaptureFixture
) -> None:
    app = settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"][0]
    app["settings"] = {**app["settings"], "server_url": fake_op.issuer + "/"}
    response = client.post("/accounts/oidc/eid/login/", {"process": "login"})
    assert_refused(response, logs)


def test_forged_kids_do_not_make_the_portal_fetch_keys_every_time(
    client: Client, fake_op: FakeOP, logs: pytest.LogCaptureFixture
) -> None:
    def forge(nonce: str) -> str:
        return fake_op.sign(fake_op.claims(nonce), rsa_key(f"kid-{nonce[:8]}"))

    for _attempt in range(4):
        params = start_login(client)
        assert callback(client, fake_op, params, forge(params["nonce"])).status_code == 401
    # The first fetch, and one more for the first unknown kid; then the cooldown holds.
    assert fake_op.jwks_fetches == 2
    assert AuditEntry.objects.get(action=Action.EID_REFUSED).repeats == 4
