"""The eID sandbox (sandbox/eid/server.mjs, on panva's oidc-provider) as a real OpenID Provider for tests.

`eid_sandbox` starts once per session. Its one client is `yellow-button-portal`; it accepts the callback path
/accounts/oidc/eid/login/callback/ on any loopback port, so a test's live server can sign in through it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

if TYPE_CHECKING:
    from tests.conftest import ProcessHandle

# tests.conftest is imported inside the functions: it loads this module as a plugin while it is imported.

START_TIMEOUT = 60  # seconds
CALLBACK_PATH = "/accounts/oidc/eid/login/callback/"
LOA_LOW = "http://eidas.europa.eu/LoA/low"
LOA_SUBSTANTIAL = "http://eidas.europa.eu/LoA/substantial"
LOA_HIGH = "http://eidas.europa.eu/LoA/high"


@dataclass
class EidSandboxHandle:
    url: str  # the issuer, e.g. http://127.0.0.1:PORT
    client_id: str
    client_secret: str
    process: ProcessHandle
    # The second client, which authenticates with private_key_jwt (empty when not started with one).
    jwt_client_id: str = ""
    jwt_private_key_pem: str = ""

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def discovery(self) -> dict[str, Any]:
        response = requests.get(self.discovery_url, timeout=10)
        assert response.status_code == 200, response.text[:500]
        body: dict[str, Any] = response.json()
        return body

    def rotate_keys(self) -> None:
        """A new signing key from now on; the previous one stays in the JWKS (a SIGHUP to the process)."""
        os.kill(self.process.process.pid, signal.SIGHUP)

    def log(self) -> str:
        return self.process.log()

    def stop(self) -> None:
        self.process.stop()


def eid_sandbox_dir() -> Path:
    from tests.conftest import REPO

    return REPO / "sandbox" / "eid"


def start_provider_process(
    script: str, args: list[str], *, log_path: Path, ready: str, what: str
) -> ProcessHandle:
    """Start one of sandbox/eid's oidc-provider scripts and return once it prints ``ready``."""
    from tests.conftest import service_missing, start_process, wait_for

    node = shutil.which("node")
    if node is None:
        service_missing(f"Node.js is not installed ({what} runs on it)")
    directory = eid_sandbox_dir()
    if not (directory / "node_modules" / "oidc-provider" / "package.json").exists():
        service_missing(f"the sandboxes' npm packages are not installed in {directory} (run `make sandbox`)")
    assert node is not None
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    process = start_process([node, str(directory / script), *args], env=env, log_path=log_path)
    try:
        wait_for(
            lambda: ready in process.log() or process.process.poll() is not None,
            timeout=START_TIMEOUT,
            what=f"{what} to listen",
        )
        if process.process.poll() is not None:
            raise AssertionError(f"{what} exited at start:\n{process.log()}")
    except BaseException:
        process.stop()
        raise
    return process


def start_eid_sandbox(
    *,
    port: int,
    log_path: Path,
    client_id: str = "yellow-button-portal",
    client_secret: str = "eid-sandbox-secret",
    extra_args: tuple[str, ...] = (),
) -> EidSandboxHandle:
    """Start server.mjs and return once its discovery document answers."""
    args = [
        "--host", "127.0.0.1", "--port", str(port),
        "--client-id", client_id, "--client-secret", client_secret, *extra_args,
    ]  # fmt: skip
    process = start_provider_process(
        "server.mjs", args, log_path=log_path, ready="eID sandbox ready at", what="the eID sandbox"
    )
    handle = EidSandboxHandle(
        url=f"http://127.0.0.1:{port}", client_id=client_id, client_secret=client_secret, process=process
    )
    try:
        assert handle.discovery()["issuer"] == handle.url, process.log()
    except BaseException:
        process.stop()
        raise
    return handle


JWT_CLIENT_ID = "yellow-button-portal-jwt"


def jwt_client_key(directory: Path) -> tuple[str, Path]:
    """A fresh ES256 key for the private_key_jwt client: its PEM, and a JWKS file of the public key."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwks_file = directory / "jwt-client-jwks.json"
    jwks_file.write_text(json.dumps({"keys": [{**public, "kid": "portal-1", "alg": "ES256", "use": "sig"}]}))
    return pem, jwks_file


@pytest.fixture(scope="session")
def eid_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EidSandboxHandle]:
    """The eID sandbox with its default persons, a client secret client and a private_key_jwt client;
    shared by the session."""
    from tests.sandbox_fixtures import free_port

    directory = tmp_path_factory.mktemp("eid-sandbox")
    pem, jwks_file = jwt_client_key(directory)
    handle = start_eid_sandbox(
        port=free_port(),
        log_path=directory / "eid-sandbox.log",
        extra_args=("--jwt-client-id", JWT_CLIENT_ID, "--jwt-client-jwks", str(jwks_file)),
    )
    handle.jwt_client_id, handle.jwt_private_key_pem = JWT_CLIENT_ID, pem
    yield handle
    handle.stop()


def eid_app(eid: EidSandboxHandle, **overrides: Any) -> dict[str, Any]:
    """The portal's eID app for the sandbox, as portal.settings builds it."""
    from portal.records.management.commands.seed_demo import DEMO_IDENTIFIER_SYSTEM

    app: dict[str, Any] = {
        "provider_id": "eid",
        "name": "National eID",
        "client_id": eid.client_id,
        "secret": eid.client_secret,
        "settings": {
            "server_url": eid.url,
            "fetch_userinfo": False,
            "oauth_pkce_enabled": True,
            "token_auth_method": "client_secret_basic",
            "scope": ["openid", "profile", "national_id"],
            "identifier_claim": "national_identifier",
            "identifier_system": DEMO_IDENTIFIER_SYSTEM,
            "acr_values": [LOA_LOW, LOA_SUBSTANTIAL, LOA_HIGH],
            "min_acr": LOA_SUBSTANTIAL,
        },
    }
    settings = overrides.pop("settings", {})
    app.update(overrides)
    app["settings"].update(settings)
    return app


def use_eid_apps(settings: Any, *apps: dict[str, Any]) -> None:
    provider = settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]
    settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {**provider, "APPS": list(apps)}}


@pytest.fixture
def portal_on_the_eid_sandbox(eid_sandbox: EidSandboxHandle, settings: Any) -> EidSandboxHandle:
    """The portal's eID app pointed at the sandbox process this session runs."""
    use_eid_apps(settings, eid_app(eid_sandbox))
    return eid_sandbox
