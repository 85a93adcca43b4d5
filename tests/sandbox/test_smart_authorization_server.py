"""The SMART App Launch data source over real HTTP: the authorization server's code flow (sign in, approve, a
token naming the patient, rotating refresh tokens) and the FHIR sandbox that opens one patient's record to
its tokens and refuses every other request with 401."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import REPO, wait_for
from tests.sandbox.html_forms import follow_on, parse, press
from tests.sandbox_fixtures import free_port, sandbox_python
from tests.smart_launch_fixtures import CALLBACK_PATH, SCOPE, SmartLaunchHandle, launch_patients

pytestmark = pytest.mark.integration

PATIENTS = launch_patients()
PATRICIA, JAMES, FREJA = "Patricia Jordana", "James Judge", "Freja Lund Holm"
# Nothing listens here: the flow stops at the redirect to the portal's callback.
CALLBACK = f"http://127.0.0.1:{free_port()}{CALLBACK_PATH}"


@dataclass
class Launch:
    state: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    scope: str = SCOPE

    def params(self, handle: SmartLaunchHandle, **overrides: str) -> dict[str, str]:
        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=")
        params = {
            "response_type": "code",
            "client_id": handle.client_id,
            "redirect_uri": CALLBACK,
            "scope": self.scope,
            "state": self.state,
            "aud": handle.base_url,
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        return {key: value for key, value in params.items() if value}


def authorize(handle: SmartLaunchHandle, browser: requests.Session, launch: Launch, **overrides: str) -> Any:
    endpoint = handle.smart_configuration()["authorization_endpoint"]
    first = browser.get(
        endpoint, params=launch.params(handle, **overrides), allow_redirects=False, timeout=10
    )
    return follow_on(browser, first, handle.authorization_server.url)


def redirect_query(response: requests.Response) -> dict[str, str]:
    assert response.status_code in (302, 303), response.text[:500]
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?"), location
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def sign_in_and_approve(handle: SmartLaunchHandle, person: str, launch: Launch) -> str:
    """The browser's part: authorize, press the patient's button, then Approve; returns the code."""
    browser = requests.Session()
    page = authorize(handle, browser, launch)
    assert page.status_code == 200, page.text[:500]
    assert parse(page.text).title == "Health record sandbox — sign in"
    approve = follow_on(browser, press(browser, page, person), handle.authorization_server.url)
    assert approve.status_code == 200, approve.text[:500]
    parsed = parse(approve.text)
    assert parsed.title == "Health record sandbox — approve access"
    assert [button[0] for button in parsed.buttons] == ["Approve"]
    assert f"Signed in as {person}." in approve.text
    query = redirect_query(
        follow_on(browser, press(browser, approve, "Approve"), handle.authorization_server.url)
    )
    assert query["state"] == launch.state
    assert query["iss"] == handle.authorization_server.url
    return query["code"]


def token(handle: SmartLaunchHandle, form: dict[str, str]) -> requests.Response:
    return requests.post(
        handle.smart_configuration()["token_endpoint"],
        data=form,
        auth=(handle.client_id, handle.client_secret),
        timeout=10,
    )


def launched(handle: SmartLaunchHandle, person: str) -> dict[str, Any]:
    """A whole standalone launch for `person`: the token response."""
    launch = Launch()
    code = sign_in_and_approve(handle, person, launch)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": launch.verifier,
    }
    response = token(handle, form)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def fhir_get(
    handle: SmartLaunchHandle, path: str, access_token: str | None, **params: str
) -> requests.Response:
    headers = {"Accept": "application/fhir+json"}
    if access_token is not None:
        headers["Authorization"] = f"Bearer {access_token}"
    return requests.get(f"{handle.base_url}/{path}", params=params, headers=headers, timeout=10)


def assert_refused(response: requests.Response) -> None:
    assert response.status_code == 401, response.text[:500]
    assert response.headers["WWW-Authenticate"].startswith("Bearer realm=")
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.fixture(scope="module")
def patricia(smart_launch_sandbox: SmartLaunchHandle) -> dict[str, Any]:
    return launched(smart_launch_sandbox, PATRICIA)


# ---------------------------------------------------------------------------- discovery


def test_the_fhir_sandbox_names_its_authorization_server(smart_launch_sandbox: SmartLaunchHandle) -> None:
    configuration = smart_launch_sandbox.smart_configuration()
    issuer = smart_launch_sandbox.authorization_server.discovery()

    assert configuration["issuer"] == issuer["issuer"] == smart_launch_sandbox.trusted_origin
    assert configuration["authorization_endpoint"] == issuer["authorization_endpoint"]
    assert configuration["token_endpoint"] == issuer["token_endpoint"]
    assert configuration["jwks_uri"] == issuer["jwks_uri"]
    assert configuration["code_challenge_methods_supported"] == ["S256"]
    assert configuration["authorization_response_iss_parameter_supported"] is True
    assert set(SCOPE.split()) | {"patient/*.read"} <= set(configuration["scopes_supported"])
    assert {
        "launch-standalone",
        "client-confidential-symmetric",
        "context-standalone-patient",
        "permission-offline",
    } <= set(configuration["capabilities"])
    assert configuration["token_endpoint_auth_methods_supported"] == ["client_secret_basic"]
    # The same document at the server's root; the CapabilityStatement needs no token either.
    root = requests.get(f"{smart_launch_sandbox.fhir.root_url}/.well-known/smart-configuration", timeout=10)
    assert root.json() == configuration
    assert fhir_get(smart_launch_sandbox, "metadata", None).json()["resourceType"] == "CapabilityStatement"


def test_the_sign_in_page_offers_each_test_patient_as_a_button(
    smart_launch_sandbox: SmartLaunchHandle,
) -> None:
    page = authorize(smart_launch_sandbox, requests.Session(), Launch())

    names = [button[0] for button in parse(page.text).buttons]
    assert names == [PATRICIA, JAMES, FREJA]


# ---------------------------------------------------------------------------- the code flow


def test_a_launch_gives_a_token_for_the_patient_that_verifies_against_the_jwks(
    smart_launch_sandbox: SmartLaunchHandle, patricia: dict[str, Any]
) -> None:
    assert patricia["patient"] == PATIENTS[PATRICIA]
    assert patricia["token_type"] == "Bearer"
    assert set(SCOPE.split()) <= set(patricia["scope"].split())
    assert patricia["refresh_token"]
    assert patricia["expires_in"] > 0
    configuration = smart_launch_sandbox.smart_configuration()
    jwks = requests.get(configuration["jwks_uri"], timeout=10).json()
    header = jwt.get_unverified_header(patricia["access_token"])
    assert header["typ"] == "at+jwt"
    claims = jwt.decode(
        patricia["access_token"],
        key=jwt.PyJWKSet.from_dict(jwks)[header["kid"]],
        algorithms=["RS256"],
        audience=smart_launch_sandbox.base_url,
        issuer=configuration["issuer"],
    )
    assert claims["patient"] == PATIENTS[PATRICIA]
    assert "patient/*.rs" in claims["scope"].split()
    id_token = jwt.decode(patricia["id_token"], options={"verify_signature": False})
    assert id_token["fhirUser"] == f"{smart_launch_sandbox.base_url}/Patient/{PATIENTS[PATRICIA]}"


def test_the_token_opens_the_patients_own_record(
    smart_launch_sandbox: SmartLaunchHandle, patricia: dict[str, Any]
) -> None:
    access, own = patricia["access_token"], PATIENTS[PATRICIA]

    patient = fhir_get(smart_launch_sandbox, f"Patient/{own}", access)
    assert patient.status_code == 200, patient.text[:500]
    assert patient.json()["name"][0]["family"] == "JORDANA"
    assert fhir_get(smart_launch_sandbox, "Patient", access, _id=own).json()["total"] == 1
    observations = fhir_get(smart_launch_sandbox, "Observation", access, patient=own, _count="2")
    assert observations.status_code == 200, observations.text[:500]
    bundle = observations.json()
    assert bundle["total"] > 2
    assert {entry["resource"]["subject"]["reference"] for entry in bundle["entry"]} == {f"Patient/{own}"}
    # Its next page, as the server wrote the link.
    next_link = next(link["url"] for link in bundle["link"] if link["relation"] == "next")
    assert (
        requests.get(next_link, headers={"Authorization": f"Bearer {access}"}, timeout=10).status_code == 200
    )
    conditions = fhir_get(smart_launch_sandbox, "Condition", access, subject=f"Patient/{own}")
    assert conditions.status_code == 200, conditions.text[:500]
    # Resources outside the patient compartment, as a pull fetches what the record refers to.
    organizations = fhir_get(smart_launch_sandbox, "Organization", access, _count="1")
    assert organizations.status_code == 200, organizations.text[:500]
    [organization] = [entry["resource"] for entry in organizations.json()["entry"]]
    assert fhir_get(smart_launch_sandbox, f"Organization/{organization['id']}", access).status_code == 200


def test_a_token_for_one_patient_is_refused_on_anothers_data(
    smart_launch_sandbox: SmartLaunchHandle, patricia: dict[str, Any]
) -> None:
    access, other = patricia["access_token"], PATIENTS[JAMES]

    for path, params in [
        (f"Patient/{other}", {}),
        ("Patient", {"_id": other}),
        ("Patient", {"_id": f"{PATIENTS[PATRICIA]},{other}"}),
        ("Patient", {}),
        ("Condition", {"patient": other}),
        ("Condition", {"patient": f"{PATIENTS[PATRICIA]},{other}"}),
        ("Condition", {"subject": f"Patient/{other}"}),
        ("Condition", {}),  # every patient's
        ("Condition", {"patient.identifier": "AAA1234"}),
        ("AllergyIntolerance", {"patient": PATIENTS[PATRICIA], "_revinclude": "Provenance:target"}),
        ("Patient", {"_id": PATIENTS[PATRICIA], "_has:Condition:patient:code": "x"}),
        (f"Condition/{'x'}", {}),  # a patient's resource by id: only by search with patient=
        (f"Patient/{PATIENTS[PATRICIA]}/_history", {}),
        (f"Patient/{PATIENTS[PATRICIA]}/$everything", {}),
    ]:
        assert_refused(fhir_get(smart_launch_sandbox, path, access, **params))
    # James's own token reads his record.
    james = launched(smart_launch_sandbox, JAMES)
    assert james["patient"] == other
    assert fhir_get(smart_launch_sandbox, f"Patient/{other}", james["access_token"]).status_code == 200
    # Writes are never open.
    written = requests.put(
        f"{smart_launch_sandbox.base_url}/Patient/{PATIENTS[PATRICIA]}",
        data=json.dumps({"resourceType": "Patient", "id": PATIENTS[PATRICIA]}),
        headers={"Authorization": f"Bearer {access}", "Content-Type": "application/fhir+json"},
        timeout=10,
    )
    assert_refused(written)


def _tampered_payload(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    raw = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{raw}.{signature}"


def test_a_missing_or_tampered_token_is_refused(
    smart_launch_sandbox: SmartLaunchHandle, patricia: dict[str, Any]
) -> None:
    own, other = PATIENTS[PATRICIA], PATIENTS[JAMES]
    access = patricia["access_token"]
    header = jwt.get_unverified_header(access)
    claims = jwt.decode(access, options={"verify_signature": False})
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_pem = other_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    expired = {**claims, "iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}

    no_token = fhir_get(smart_launch_sandbox, f"Patient/{own}", None)
    assert_refused(no_token)
    assert "error=" not in no_token.headers["WWW-Authenticate"]
    for tampered in [
        _tampered_payload(access, patient=other),  # the payload changed, the signature kept
        _tampered_payload(access, exp=int(time.time()) + 86400),
        jwt.encode({**claims, "patient": other}, key="", algorithm="none", headers={"typ": "at+jwt"}),
        jwt.encode({**claims, "patient": other}, other_pem, algorithm="RS256", headers=header),  # its kid
        jwt.encode(
            {**claims, "patient": other}, other_pem, algorithm="RS256", headers={"typ": "at+jwt", "kid": "k"}
        ),
        jwt.encode(
            {**claims, "aud": "http://127.0.0.1:1/fhir"}, other_pem, algorithm="RS256", headers=header
        ),
        jwt.encode(expired, other_pem, algorithm="RS256", headers=header),
        patricia["id_token"],  # signed by the same server, but for the portal and no access token
        "not-a-jwt",
    ]:
        for target in (own, other):
            refused = fhir_get(smart_launch_sandbox, f"Patient/{target}", tampered)
            assert_refused(refused)
            assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    # The genuine token still works: nothing above was refused for being a second use.
    assert fhir_get(smart_launch_sandbox, f"Patient/{own}", access).status_code == 200


# ---------------------------------------------------------------------------- refresh and revocation


def test_a_refresh_token_rotates_and_is_good_once(smart_launch_sandbox: SmartLaunchHandle) -> None:
    first = launched(smart_launch_sandbox, FREJA)

    renewed = token(
        smart_launch_sandbox, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert renewed.status_code == 200, renewed.text
    second = renewed.json()
    assert second["patient"] == PATIENTS[FREJA]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    freja = fhir_get(smart_launch_sandbox, "Condition", second["access_token"], patient=PATIENTS[FREJA])
    assert [entry["resource"]["code"]["text"] for entry in freja.json()["entry"]] == ["Asthma"]

    # The spent one is refused, and its reuse ends the grant: the new one goes with it.
    again = token(
        smart_launch_sandbox, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    after = token(
        smart_launch_sandbox, {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}
    )
    assert after.status_code == 400


def test_a_revoked_grant_refuses_its_refresh_token(smart_launch_sandbox: SmartLaunchHandle) -> None:
    grant = launched(smart_launch_sandbox, JAMES)

    revoked = requests.post(
        smart_launch_sandbox.smart_configuration()["revocation_endpoint"],
        data={"token": grant["refresh_token"], "token_type_hint": "refresh_token"},
        auth=(smart_launch_sandbox.client_id, smart_launch_sandbox.client_secret),
        timeout=10,
    )

    assert revoked.status_code == 200, revoked.text
    refused = token(
        smart_launch_sandbox, {"grant_type": "refresh_token", "refresh_token": grant["refresh_token"]}
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


def test_pkce_and_the_fhir_servers_aud_are_required(smart_launch_sandbox: SmartLaunchHandle) -> None:
    for overrides in [
        {"code_challenge": "", "code_challenge_method": ""},
        {"code_challenge_method": "plain"},
        {"aud": "http://127.0.0.1:1/fhir"},
        {"aud": ""},
    ]:
        query = redirect_query(authorize(smart_launch_sandbox, requests.Session(), Launch(), **overrides))
        assert query["error"] in ("invalid_request", "invalid_target"), query


def test_a_rotated_signing_key_is_fetched_when_a_token_names_it(
    smart_launch_sandbox: SmartLaunchHandle,
) -> None:
    jwks_uri = smart_launch_sandbox.smart_configuration()["jwks_uri"]
    before = {key["kid"] for key in requests.get(jwks_uri, timeout=10).json()["keys"]}

    smart_launch_sandbox.authorization_server.rotate_keys()
    wait_for(
        lambda: len({key["kid"] for key in requests.get(jwks_uri, timeout=10).json()["keys"]} - before) == 1,
        timeout=30,
        what="the authorization server to publish a new signing key",
    )

    grant = launched(smart_launch_sandbox, JAMES)
    assert jwt.get_unverified_header(grant["access_token"])["kid"] not in before
    patient = fhir_get(smart_launch_sandbox, f"Patient/{PATIENTS[JAMES]}", grant["access_token"])
    assert patient.status_code == 200, patient.text[:500]


def test_the_launcher_takes_one_auth_mode_only(tmp_path: Any) -> None:
    both = subprocess.run(
        [
            str(sandbox_python()), str(REPO / "sandbox" / "launch.py"), "--data-dir", str(tmp_path),
            "--examples", str(tmp_path), "--authorization-server", "http://127.0.0.1:1",
            "--smart-client-id", "portal", "--smart-client-secret-file", str(tmp_path / "secret"),
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert both.returncode == 2
    assert "choose one" in both.stderr
