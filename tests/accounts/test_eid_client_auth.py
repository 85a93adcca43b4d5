"""How the portal authenticates at the eID's token endpoint (a shared secret, or private_key_jwt), and several
eIDs configured from the environment."""

import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client

from portal.accounts.models import NationalIdentity
from tests.accounts.eid_op import CLIENT_ID, FakeOP
from tests.accounts.test_eid_login import eid_login, signed_in_user
from tests.conftest import REPO, VENV_BIN, child_env

PRINT_APPS = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps(s.SOCIALACCOUNT_PROVIDERS['openid_connect']['APPS']))"
)


def ec_key_pem() -> tuple[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, key.public_key()


@pytest.mark.django_db
def test_private_key_jwt_sends_a_signed_assertion_and_no_secret(
    client: Client, fake_op: FakeOP, settings: Any, tmp_path: Path
) -> None:
    pem, public_key = ec_key_pem()
    key_file = tmp_path / "eid-client.pem"
    key_file.write_text(pem, encoding="utf-8")
    (app,) = settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"]
    app["secret"] = ""
    app["settings"] = {
        **app["settings"],
        "token_auth_method": "private_key_jwt",
        "private_key_file": str(key_file),
        "key_id": "portal-key-1",
        "signing_alg": "ES256",
    }

    assert eid_login(client, fake_op).status_code == 302
    assert signed_in_user(client) is not None
    assert NationalIdentity.objects.count() == 1

    (form,) = fake_op.token_requests
    assert "client_secret" not in form
    assert form["client_id"] == [CLIENT_ID]
    assert form["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    assertion = form["client_assertion"][0]
    assert jwt.get_unverified_header(assertion)["kid"] == "portal-key-1"
    claims = jwt.decode(assertion, public_key, algorithms=["ES256"], audience=f"{fake_op.issuer}/token")
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["exp"] - claims["iat"] <= 300
    assert pem.splitlines()[1] not in json.dumps(form)


@pytest.mark.django_db
def test_a_second_eid_has_its_own_button_and_signs_in_through_its_own_callback(
    client: Client, fake_op: FakeOP, settings: Any
) -> None:
    (app,) = settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"]
    second = {**app, "provider_id": "bank-id", "name": "BankID"}
    settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"] = [app, second]

    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with national eID" in page
    assert "Sign in with BankID" in page
    assert 'action="/accounts/oidc/bank-id/login/' in page

    started = client.post("/accounts/oidc/bank-id/login/", {"process": "login"})
    assert started.status_code == 302
    params = {key: values[0] for key, values in parse_qs(urlsplit(started["Location"]).query).items()}
    assert params["redirect_uri"].endswith("/accounts/oidc/bank-id/login/callback/")
    fake_op.id_token = fake_op.sign(fake_op.claims(params["nonce"]))
    done = client.get("/accounts/oidc/bank-id/login/callback/", {"code": "c", "state": params["state"]})

    assert done.status_code == 302, done.content[:500]
    assert signed_in_user(client) is not None
    assert NationalIdentity.objects.count() == 1


def run_apps(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = child_env(
        DJANGO_SETTINGS_MODULE="portal.settings", VAR_DIR=str(tmp_path), DEBUG="0", SECRET_KEY="k", **env
    )
    for name in list(environment):
        if name.startswith("EID_") and name not in env:
            environment.pop(name)
    return subprocess.run(
        [str(VENV_BIN / "python"), "-c", PRINT_APPS],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_several_eids_each_from_their_own_variables(tmp_path: Path) -> None:
    result = run_apps(
        tmp_path,
        EID_PROVIDERS="eid, bank-id",
        EID_ISSUER="https://eid.example",
        EID_CLIENT_SECRET="s1",
        EID_BANK_ID_ISSUER="https://bankid.example",
        EID_BANK_ID_NAME="BankID",
        EID_BANK_ID_CLIENT_ID="portal-at-bankid",
        EID_BANK_ID_CLIENT_AUTH="private_key_jwt",
        EID_BANK_ID_PRIVATE_KEY_FILE="/run/secrets/bankid.pem",
        EID_BANK_ID_IDENTIFIER_CLAIM="personal_number",
    )
    assert result.returncode == 0, result.stderr
    eid, bank = json.loads(result.stdout)
    assert (eid["provider_id"], eid["name"], eid["secret"]) == ("eid", "National eID", "s1")
    assert eid["settings"]["server_url"] == "https://eid.example"
    assert eid["settings"]["token_auth_method"] == "client_secret_basic"
    assert (bank["provider_id"], bank["name"], bank["client_id"]) == ("bank-id", "BankID", "portal-at-bankid")
    assert bank["secret"] == ""
    assert bank["settings"]["token_auth_method"] == "private_key_jwt"
    assert bank["settings"]["identifier_claim"] == "personal_number"
    # What is not set for the second one comes from the first's defaults.
    assert bank["settings"]["identifier_system"] == eid["settings"]["identifier_system"]
    assert bank["settings"]["scope"] == eid["settings"]["scope"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EID_ISSUER": "https://eid.example"}, "EID_CLIENT_SECRET (or EID_CLIENT_SECRET_FILE) must be"),
        (
            {"EID_ISSUER": "https://eid.example", "EID_CLIENT_AUTH": "private_key_jwt"},
            "EID_CLIENT_AUTH=private_key_jwt needs EID_PRIVATE_KEY_FILE",
        ),
        (
            {"EID_ISSUER": "https://eid.example", "EID_CLIENT_SECRET": "s", "EID_CLIENT_AUTH": "none"},
            "EID_CLIENT_AUTH: one of",
        ),
    ],
)
def test_an_incomplete_eid_configuration_stops_the_start(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result = run_apps(tmp_path, **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_without_an_issuer_and_without_debug_there_is_no_eid(tmp_path: Path) -> None:
    result = run_apps(tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
