"""The eID sandbox over real HTTP: discovery, the code flow with PKCE a browser walks, ID tokens, logout."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import jwt
import pytest
import requests

from tests.conftest import wait_for
from tests.eid_fixtures import (
    CALLBACK_PATH,
    LOA_HIGH,
    LOA_LOW,
    LOA_SUBSTANTIAL,
    EidSandboxHandle,
    eid_sandbox_dir,
    start_eid_sandbox,
)
from tests.sandbox.html_forms import follow_on, parse, press
from tests.sandbox_fixtures import free_port

pytestmark = pytest.mark.integration

PATRICIA = "Patricia Jordana"
LOW_PERSON = "Freja Lund Holm"
# Nothing listens here: the flow stops at the redirect to the portal's callback.
CALLBACK = f"http://127.0.0.1:{free_port()}{CALLBACK_PATH}"


def load_persons() -> dict[str, dict[str, str]]:
    data = json.loads((eid_sandbox_dir() / "persons.json").read_text(encoding="utf-8"))
    return {f"{person['given_name']} {person['family_name']}": person for person in data["persons"]}


PERSONS = load_persons()


@dataclass
class Authorization:
    state: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    redirect_uri: str = CALLBACK
    scope: str = "openid profile national_id"

    def params(self, eid: EidSandboxHandle, **overrides: str) -> dict[str, str]:
        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=")
        params = {
            "response_type": "code",
            "client_id": eid.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        return {key: value for key, value in params.items() if value}


def authorize(
    eid: EidSandboxHandle, browser: requests.Session, auth: Authorization, **overrides: str
) -> requests.Response:
    endpoint = eid.discovery()["authorization_endpoint"]
    first = browser.get(endpoint, params=auth.params(eid, **overrides), allow_redirects=False, timeout=10)
    return follow_on(browser, first, eid.url)


def sign_in(eid: EidSandboxHandle, person: str, auth: Authorization, browser: requests.Session) -> str:
    """The browser's part: authorize, press the person's button, pass consent; returns the code."""
    page = authorize(eid, browser, auth)
    assert page.status_code == 200, page.text[:500]
    assert parse(page.text).title == "National eID sandbox — sign in"
    after_login = follow_on(browser, press(browser, page, person), eid.url)
    if after_login.status_code == 200:  # the consent page
        after_login = follow_on(browser, press(browser, after_login, "Continue"), eid.url)
    return code_from(after_login, auth)


def code_from(response: requests.Response, auth: Authorization) -> str:
    assert response.status_code in (302, 303), response.text[:500]
    location = response.headers["Location"]
    assert location.startswith(auth.redirect_uri + "?"), location
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [auth.state]
    assert "error" not in query, query
    return query["code"][0]


def redirect_error(response: requests.Response, auth: Authorization) -> dict[str, list[str]]:
    assert response.status_code in (302, 303), response.text[:500]
    location = response.headers["Location"]
    assert location.startswith(auth.redirect_uri + "?"), location
    return parse_qs(urlsplit(location).query)


def exchange(
    eid: EidSandboxHandle, code: str, auth: Authorization, *, method: str = "basic", secret: str | None = None
) -> requests.Response:
    secret = eid.client_secret if secret is None else secret
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": auth.redirect_uri,
        "code_verifier": auth.verifier,
    }
    token_url = eid.discovery()["token_endpoint"]
    if method == "basic":
        return requests.post(token_url, data=data, auth=(eid.client_id, secret), timeout=10)
    return requests.post(
        token_url, data={**data, "client_id": eid.client_id, "client_secret": secret}, timeout=10
    )


def verified_id_token(eid: EidSandboxHandle, id_token: str) -> dict[str, Any]:
    jwks = requests.get(eid.discovery()["jwks_uri"], timeout=10).json()
    kid = jwt.get_unverified_header(id_token)["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid]
    claims: dict[str, Any] = jwt.decode(
        id_token, key=key, algorithms=["RS256"], audience=eid.client_id, issuer=eid.url
    )
    return claims


def id_token_of(eid: EidSandboxHandle, person: str, **exchange_options: Any) -> tuple[dict[str, Any], str]:
    auth = Authorization()
    code = sign_in(eid, person, auth, requests.Session())
    token = exchange(eid, code, auth, **exchange_options)
    assert token.status_code == 200, token.text
    claims = verified_id_token(eid, token.json()["id_token"])
    assert claims["nonce"] == auth.nonce
    return claims, token.json()["access_token"]


# ---------------------------------------------------------------------------- discovery


def test_discovery_names_the_endpoints_pkce_and_the_levels_of_assurance(
    eid_sandbox: EidSandboxHandle,
) -> None:
    discovery = eid_sandbox.discovery()

    assert discovery["issuer"] == eid_sandbox.url
    for endpoint in ("authorization", "token", "userinfo", "end_session"):
        assert discovery[f"{endpoint}_endpoint"].startswith(eid_sandbox.url + "/"), endpoint
    assert discovery["jwks_uri"].startswith(eid_sandbox.url + "/")
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    assert discovery["acr_values_supported"] == [LOA_LOW, LOA_SUBSTANTIAL, LOA_HIGH]
    assert {"openid", "profile", "national_id"} <= set(discovery["scopes_supported"])
    assert "national_identifier" in discovery["claims_supported"]
    assert set(discovery["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    }
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256"]
    jwks = requests.get(discovery["jwks_uri"], timeout=10).json()
    # One key, or more after a rotation (the session's provider is shared): all RS256 signing keys.
    assert {(key["kty"], key["alg"], key["use"]) for key in jwks["keys"]} == {("RSA", "RS256", "sig")}
    assert all("d" not in key for key in jwks["keys"])  # public halves only


# ---------------------------------------------------------------------------- the code flow


def test_the_sign_in_page_offers_each_test_person_as_a_button(eid_sandbox: EidSandboxHandle) -> None:
    page = authorize(eid_sandbox, requests.Session(), Authorization())

    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    parsed = parse(page.text)
    assert parsed.title == "National eID sandbox — sign in"
    assert [button[0] for button in parsed.buttons] == list(PERSONS)
    assert "<script" not in page.text
    # No external assets.
    assert 'src="http' not in page.text
    assert 'href="http' not in page.text


def test_patricia_signs_in_and_her_id_token_verifies_against_the_jwks(eid_sandbox: EidSandboxHandle) -> None:
    claims, access_token = id_token_of(eid_sandbox, PATRICIA, method="basic")

    patricia = PERSONS[PATRICIA]
    assert claims["sub"] == patricia["sub"]
    assert claims["acr"] == LOA_SUBSTANTIAL
    assert claims["national_identifier"] == "ABC1234"
    assert claims["name"] == PATRICIA
    assert (claims["given_name"], claims["family_name"]) == ("Patricia", "Jordana")
    assert claims["birthdate"] == "1956-09-30"
    # The userinfo endpoint releases the same person.
    userinfo = requests.get(
        eid_sandbox.discovery()["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    )
    assert userinfo.status_code == 200
    assert userinfo.json()["national_identifier"] == "ABC1234"


def test_the_low_person_signs_in_at_assurance_low_with_client_secret_post(
    eid_sandbox: EidSandboxHandle,
) -> None:
    claims, _ = id_token_of(eid_sandbox, LOW_PERSON, method="post")

    assert claims["acr"] == LOA_LOW
    assert claims["sub"] == PERSONS[LOW_PERSON]["sub"]


def test_without_the_national_id_scope_no_national_identifier_is_released(
    eid_sandbox: EidSandboxHandle,
) -> None:
    auth = Authorization(scope="openid profile")
    token = exchange(eid_sandbox, sign_in(eid_sandbox, PATRICIA, auth, requests.Session()), auth)

    claims = verified_id_token(eid_sandbox, token.json()["id_token"])
    assert claims["name"] == PATRICIA
    assert "national_identifier" not in claims
    assert claims["acr"] == LOA_SUBSTANTIAL


def test_a_callback_on_another_loopback_port_and_localhost_is_accepted(eid_sandbox: EidSandboxHandle) -> None:
    auth = Authorization(redirect_uri=f"http://localhost:{free_port()}{CALLBACK_PATH}")

    token = exchange(eid_sandbox, sign_in(eid_sandbox, PATRICIA, auth, requests.Session()), auth)

    assert token.status_code == 200


@pytest.mark.parametrize(
    "redirect_uri",
    [
        f"http://portal.example{CALLBACK_PATH}",
        f"https://127.0.0.1:8000{CALLBACK_PATH}",
        "http://127.0.0.1:8000/accounts/oidc/other/login/callback/",
        f"http://127.0.0.1:8000{CALLBACK_PATH}?next=http://portal.example/",
        f"http://192.168.1.10:8000{CALLBACK_PATH}",
    ],
)
def test_a_redirect_uri_off_loopback_or_on_another_path_is_refused(
    eid_sandbox: EidSandboxHandle, redirect_uri: str
) -> None:
    response = authorize(eid_sandbox, requests.Session(), Authorization(redirect_uri=redirect_uri))

    # Refused at the provider: never sent on to the URI it was given.
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "redirect_uri" in response.text


def test_a_wrong_client_secret_is_refused(eid_sandbox: EidSandboxHandle) -> None:
    auth = Authorization()
    code = sign_in(eid_sandbox, PATRICIA, auth, requests.Session())

    for method in ("basic", "post"):
        refused = exchange(eid_sandbox, code, auth, method=method, secret="not-the-secret")
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"] == "invalid_client"
        assert "id_token" not in refused.json()


def test_an_authorization_without_pkce_is_refused(eid_sandbox: EidSandboxHandle) -> None:
    auth = Authorization()

    response = authorize(eid_sandbox, requests.Session(), auth, code_challenge="", code_challenge_method="")

    query = redirect_error(response, auth)
    assert query["error"] == ["invalid_request"]
    assert "PKCE" in query["error_description"][0]
    assert "code" not in query


def test_the_plain_pkce_method_is_refused(eid_sandbox: EidSandboxHandle) -> None:
    auth = Authorization()

    response = authorize(eid_sandbox, requests.Session(), auth, code_challenge_method="plain")

    assert redirect_error(response, auth)["error"] == ["invalid_request"]


def test_a_wrong_code_verifier_is_refused(eid_sandbox: EidSandboxHandle) -> None:
    auth = Authorization()
    code = sign_in(eid_sandbox, PATRICIA, auth, requests.Session())
    auth.verifier = secrets.token_urlsafe(48)

    refused = exchange(eid_sandbox, code, auth)

    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


def test_cancelling_the_sign_in_returns_access_denied(eid_sandbox: EidSandboxHandle) -> None:
    browser = requests.Session()
    auth = Authorization()
    page = authorize(eid_sandbox, browser, auth)
    cancel = next(line for line in page.text.splitlines() if "/abort" in line)
    href = cancel.split('href="', 1)[1].split('"', 1)[0]

    response = follow_on(
        browser, browser.get(urljoin(page.url, href), allow_redirects=False), eid_sandbox.url
    )

    assert redirect_error(response, auth)["error"] == ["access_denied"]


# ---------------------------------------------------------------------------- logout and keys


def test_rp_initiated_logout_confirms_with_one_button_and_ends_the_session(
    eid_sandbox: EidSandboxHandle,
) -> None:
    browser = requests.Session()
    auth = Authorization()
    token = exchange(eid_sandbox, sign_in(eid_sandbox, PATRICIA, auth, browser), auth).json()
    # Signed in at the eID: the next authorization skips the sign-in page (single sign-on).
    again = Authorization()
    code_from(authorize(eid_sandbox, browser, again), again)

    portal_root = f"http://127.0.0.1:{free_port()}/"
    confirm = browser.get(
        eid_sandbox.discovery()["end_session_endpoint"],
        params={"id_token_hint": token["id_token"], "post_logout_redirect_uri": portal_root, "state": "s1"},
        timeout=10,
    )
    assert confirm.status_code == 200
    parsed = parse(confirm.text)
    assert parsed.title == "National eID sandbox — sign out"
    assert [button[0] for button in parsed.buttons] == ["Sign out"]
    signed_out = follow_on(browser, press(browser, confirm, "Sign out"), eid_sandbox.url)

    assert signed_out.status_code in (302, 303)
    assert signed_out.headers["Location"] == f"{portal_root}?state=s1"
    # The session is gone: the sign-in page is back.
    page = authorize(eid_sandbox, browser, Authorization())
    assert page.status_code == 200
    assert parse(page.text).title == "National eID sandbox — sign in"


def test_a_post_logout_redirect_off_loopback_is_refused(eid_sandbox: EidSandboxHandle) -> None:
    auth = Authorization()
    token = exchange(eid_sandbox, sign_in(eid_sandbox, PATRICIA, auth, requests.Session()), auth).json()

    response = requests.get(
        eid_sandbox.discovery()["end_session_endpoint"],
        params={"id_token_hint": token["id_token"], "post_logout_redirect_uri": "http://portal.example/"},
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 400
    assert "post_logout_redirect_uri" in response.text


def test_a_key_rotation_signs_with_a_new_key_and_keeps_the_old_one_published(tmp_path: Path) -> None:
    eid = start_eid_sandbox(port=free_port(), log_path=tmp_path / "eid.log")
    try:
        claims_before, _ = id_token_of(eid, PATRICIA)
        jwks_uri = eid.discovery()["jwks_uri"]
        [old_key] = requests.get(jwks_uri, timeout=10).json()["keys"]
        browser = requests.Session()
        auth = Authorization()
        code = sign_in(eid, PATRICIA, auth, browser)  # a code issued before the rotation

        eid.rotate_keys()
        wait_for(
            lambda: len(requests.get(jwks_uri, timeout=10).json()["keys"]) == 2, timeout=20, what="rotation"
        )

        new_key, kept = requests.get(jwks_uri, timeout=10).json()["keys"]
        assert kept["kid"] == old_key["kid"]
        assert new_key["kid"] != old_key["kid"]
        # The sign-in under way carries on; its ID token is signed with the new key.
        token = exchange(eid, code, auth)
        assert token.status_code == 200, token.text
        assert jwt.get_unverified_header(token.json()["id_token"])["kid"] == new_key["kid"]
        assert verified_id_token(eid, token.json()["id_token"])["sub"] == claims_before["sub"]
    finally:
        eid.stop()
    assert eid.process.process.returncode == 0, eid.log()
