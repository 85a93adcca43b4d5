"""The portal against the real eID sandbox process (panva's oidc-provider), with no browser: the sign-in
itself, and each attack the real provider can produce — a replayed callback, a code from another login
(PKCE), a cancelled sign-in, a rotated signing key. Forged tokens, which a real provider never issues, are in
test_eid_attacks.py."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from django.test import Client

from portal.accounts.models import NationalIdentity, User
from portal.audit.models import Action, AuditEntry
from tests.accounts.test_eid_client_auth import ec_key_pem
from tests.eid_fixtures import LOA_LOW, LOA_SUBSTANTIAL, EidSandboxHandle, eid_app, use_eid_apps
from tests.sandbox.html_forms import follow_on, press

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

PATRICIA = "Patricia Jordana"
FREJA = "Freja Lund Holm"
# The eID sandbox accepts the portal's callback on any loopback port; nothing needs to listen there, the
# test carries the answer over to the test client itself.
PORTAL_HOST = "127.0.0.1:8123"
LOGIN_URL = "/accounts/oidc/eid/login/"


@pytest.fixture
def portal(settings: Any, portal_on_the_eid_sandbox: EidSandboxHandle) -> EidSandboxHandle:
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    return portal_on_the_eid_sandbox


def new_client() -> Client:
    return Client(HTTP_HOST=PORTAL_HOST)


def press_eid_button(client: Client) -> str:
    response = client.post(LOGIN_URL, {"process": "login"})
    assert response.status_code == 302, response.content[:500]
    return str(response["Location"])


def at_the_eid(eid: EidSandboxHandle, authorize_url: str, person: str) -> str:
    """The person's part at the eID, as a browser: their button, then consent. Returns where the eID sends
    the browser back to (the portal's callback, with code and state)."""
    browser = requests.Session()
    page = follow_on(browser, browser.get(authorize_url, allow_redirects=False, timeout=10), eid.url)
    after = follow_on(browser, press(browser, page, person), eid.url)
    if after.status_code == 200:
        after = follow_on(browser, press(browser, after, "Continue"), eid.url)
    assert after.status_code in (302, 303), after.text[:500]
    return urljoin(after.url, after.headers["Location"])


def back_at_the_portal(client: Client, callback_url: str) -> Any:
    parts = urlsplit(callback_url)
    assert parts.netloc == PORTAL_HOST, callback_url
    return client.get(f"{parts.path}?{parts.query}")


def sign_in(client: Client, eid: EidSandboxHandle, person: str) -> Any:
    return back_at_the_portal(client, at_the_eid(eid, press_eid_button(client), person))


def signed_in(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def assert_refused(response: Any) -> None:
    assert response.status_code in (400, 401, 403), response.status_code
    assert "Signing in with national eID did not work" in response.content.decode()


def test_a_person_signs_in_at_the_real_provider_and_their_identifier_is_bound(
    portal: EidSandboxHandle,
) -> None:
    client = new_client()
    response = sign_in(client, portal, PATRICIA)

    assert response.status_code == 302, response.content[:1000]
    user = signed_in(client)
    assert user is not None
    identity = NationalIdentity.objects.get(user=user)
    assert (identity.value, identity.acr, identity.issuer) == ("ABC1234", LOA_SUBSTANTIAL, portal.url)


def test_a_low_assurance_person_is_signed_in_at_low(portal: EidSandboxHandle) -> None:
    client = new_client()
    assert sign_in(client, portal, FREJA).status_code == 302
    identity = NationalIdentity.objects.get(user=signed_in(client))
    assert identity.acr == LOA_LOW


def test_a_callback_replayed_in_another_browser_is_refused(portal: EidSandboxHandle) -> None:
    victim = new_client()
    callback = at_the_eid(portal, press_eid_button(victim), PATRICIA)
    assert back_at_the_portal(victim, callback).status_code == 302

    attacker = new_client()
    assert_refused(back_at_the_portal(attacker, callback))
    assert signed_in(attacker) is None
    # ... and in the same browser again: the state was used once.
    assert_refused(back_at_the_portal(victim, callback))
    assert User.objects.count() == 1


def test_a_code_from_another_login_fails_its_pkce_check_at_the_provider(portal: EidSandboxHandle) -> None:
    client = new_client()
    first = at_the_eid(portal, press_eid_button(client), PATRICIA)
    second = urlsplit(at_the_eid(portal, press_eid_button(client), PATRICIA))
    # The first login's code in the second login's answer (its state, its iss): the second login's PKCE
    # verifier goes with it.
    code = parse_qs(urlsplit(first).query)["code"][0]
    answer = {**{key: values[0] for key, values in parse_qs(second.query).items()}, "code": code}
    response = client.get(second.path, answer)

    assert_refused(response)
    assert not User.objects.exists()
    assert AuditEntry.objects.get(action=Action.EID_REFUSED).detail == {"reason": "token-endpoint"}


def test_cancelling_at_the_provider_ends_on_a_clear_page(portal: EidSandboxHandle) -> None:
    client = new_client()
    browser = requests.Session()
    authorize_url = press_eid_button(client)
    page = follow_on(browser, browser.get(authorize_url, allow_redirects=False, timeout=10), portal.url)
    cancel = re.search(r'href="(/interaction/[^"]+/abort)"', page.text)
    assert cancel is not None
    back = follow_on(
        browser, browser.get(urljoin(page.url, cancel.group(1)), allow_redirects=False), portal.url
    )

    response = back_at_the_portal(client, urljoin(back.url, back.headers["Location"]))

    assert response.status_code == 302
    assert response["Location"] == "/accounts/3rdparty/login/cancelled/"
    assert (
        "No account was created and nothing was changed." in client.get(response["Location"]).content.decode()
    )
    assert not User.objects.exists()
    assert signed_in(client) is None


def test_after_the_provider_rotates_its_key_sign_in_still_works(portal: EidSandboxHandle) -> None:
    before = requests.get(portal.discovery()["jwks_uri"], timeout=10).json()["keys"]
    portal.rotate_keys()
    deadline = time.monotonic() + 30
    while True:
        keys = requests.get(portal.discovery()["jwks_uri"], timeout=10).json()["keys"]
        if keys[0]["kid"] != before[0]["kid"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert keys[0]["kid"] != before[0]["kid"]

    client = new_client()
    assert sign_in(client, portal, PATRICIA).status_code == 302
    assert signed_in(client) is not None


def test_the_portal_authenticates_with_private_key_jwt_and_a_wrong_key_is_refused(
    portal: EidSandboxHandle, settings: Any, tmp_path: Path
) -> None:
    key_file = tmp_path / "portal-eid.pem"
    key_file.write_text(portal.jwt_private_key_pem, encoding="utf-8")
    jwt_settings = {
        "token_auth_method": "private_key_jwt",
        "private_key_file": str(key_file),
        "key_id": "portal-1",
        "signing_alg": "ES256",
    }
    use_eid_apps(settings, eid_app(portal, client_id=portal.jwt_client_id, secret="", settings=jwt_settings))

    client = new_client()
    assert sign_in(client, portal, PATRICIA).status_code == 302
    assert signed_in(client) is not None

    # Another key than the one the eID holds for this client: the code exchange is refused there.
    other_key, _ = ec_key_pem()
    key_file.write_text(other_key, encoding="utf-8")
    stranger = new_client()
    assert_refused(sign_in(stranger, portal, PATRICIA))
    assert signed_in(stranger) is None
    assert AuditEntry.objects.get(action=Action.EID_REFUSED).detail == {"reason": "token-endpoint"}


def test_an_answer_naming_another_issuer_is_refused(portal: EidSandboxHandle) -> None:
    """The real provider names itself in its answer (RFC 9207); one naming another (a mix-up) is refused."""
    client = new_client()
    callback = urlsplit(at_the_eid(portal, press_eid_button(client), PATRICIA))
    answer = {key: values[0] for key, values in parse_qs(callback.query).items()}
    assert answer["iss"] == portal.url
    response = client.get(callback.path, {**answer, "iss": "http://127.0.0.1:1"})

    assert_refused(response)
    assert not User.objects.exists()
    assert AuditEntry.objects.get(action=Action.EID_REFUSED).detail == {"reason": "response-issuer"}
