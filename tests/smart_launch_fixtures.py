"""A SMART App Launch data source as real processes for tests: the authorization server
(sandbox/eid/authorization-server.mjs, on panva's oidc-provider) and the FHIR sandbox that names it
(sandbox/launch.py --authorization-server), whose tokens open one patient's record each.

`smart_launch_sandbox` starts both once per session; the FHIR sandbox holds the IPS 2.0.0 examples and Freja
Lund Holm's fixture. `launch_source()` makes the portal's DataSource for it. The authorization server has an
origin of its own, so the portal must list it in FHIR_AUTH_TRUSTED_ORIGINS (`trusted_origin`), in this
process and in any worker it starts.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

if TYPE_CHECKING:
    from portal.records.models import DataSource
    from tests.conftest import ProcessHandle
    from tests.sandbox_fixtures import SandboxHandle

# tests.conftest is imported inside the functions: it loads this module as a plugin while it is imported.

CLIENT_ID = "yellow-button-portal"
CLIENT_SECRET = "smart-sandbox-secret"
CALLBACK_PATH = "/records/connect/callback/"
SCOPE = "launch/patient patient/*.rs openid fhirUser offline_access"
SOURCE_NAME = "Health record sandbox"


def sandbox_dir() -> Path:
    from tests.conftest import REPO

    return REPO / "sandbox"


def launch_patients() -> dict[str, str]:
    """The authorization server's test patients: full name → Patient id in the FHIR sandbox."""
    data = json.loads((sandbox_dir() / "eid" / "patients.json").read_text(encoding="utf-8"))
    return {
        f"{person['given_name']} {person['family_name']}": person["patient"] for person in data["patients"]
    }


def freja_bundle() -> Path:
    return sandbox_dir() / "fixtures" / "Bundle-freja-lund-holm.json"


@dataclass
class AuthorizationServerHandle:
    url: str  # the issuer, e.g. http://127.0.0.1:PORT
    client_id: str
    client_secret: str
    process: ProcessHandle

    def discovery(self) -> dict[str, Any]:
        response = requests.get(f"{self.url}/.well-known/openid-configuration", timeout=10)
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


@dataclass
class SmartLaunchHandle:
    authorization_server: AuthorizationServerHandle
    fhir: SandboxHandle

    @property
    def base_url(self) -> str:
        return self.fhir.base_url

    @property
    def trusted_origin(self) -> str:
        """What FHIR_AUTH_TRUSTED_ORIGINS must hold for the portal to use this authorization server."""
        return self.authorization_server.url

    @property
    def client_id(self) -> str:
        return self.authorization_server.client_id

    @property
    def client_secret(self) -> str:
        return self.authorization_server.client_secret

    def smart_configuration(self) -> dict[str, Any]:
        response = requests.get(f"{self.base_url}/.well-known/smart-configuration", timeout=10)
        assert response.status_code == 200, response.text[:500]
        body: dict[str, Any] = response.json()
        return body

    def log(self) -> str:
        return f"{self.authorization_server.log()}\n{self.fhir.log()}"

    def stop(self) -> None:
        self.fhir.stop()
        self.authorization_server.stop()


def start_authorization_server(
    *,
    port: int,
    fhir_base_url: str,
    log_path: Path,
    client_id: str = CLIENT_ID,
    client_secret: str = CLIENT_SECRET,
) -> AuthorizationServerHandle:
    """Start authorization-server.mjs for the FHIR base URL and return once its discovery answers."""
    from tests.eid_fixtures import start_provider_process

    args = [
        "--host", "127.0.0.1", "--port", str(port),
        "--fhir-base-url", fhir_base_url, "--client-id", client_id, "--client-secret", client_secret,
    ]  # fmt: skip
    process = start_provider_process(
        "authorization-server.mjs",
        args,
        log_path=log_path,
        ready="authorization server ready at",
        what="the SMART authorization server",
    )
    handle = AuthorizationServerHandle(
        url=f"http://127.0.0.1:{port}", client_id=client_id, client_secret=client_secret, process=process
    )
    try:
        assert handle.discovery()["issuer"] == handle.url, process.log()
    except BaseException:
        process.stop()
        raise
    return handle


def start_smart_launch(directory: Path) -> SmartLaunchHandle:
    """The authorization server, then the FHIR sandbox naming it (it fetches the server's keys at start)."""
    from tests.sandbox_fixtures import free_port, start_sandbox

    fhir_port = free_port()
    fhir_base_url = f"http://127.0.0.1:{fhir_port}/fhir"
    authorization_server = start_authorization_server(
        port=free_port(), fhir_base_url=fhir_base_url, log_path=directory / "authorization-server.log"
    )
    try:
        fhir = start_sandbox(
            data_dir=directory / "data",
            port=fhir_port,
            log_path=directory / "sandbox.log",
            load=[freja_bundle()],
            authorization_server=authorization_server.url,
        )
    except BaseException:
        authorization_server.stop()
        raise
    return SmartLaunchHandle(authorization_server=authorization_server, fhir=fhir)


@pytest.fixture(scope="session")
def smart_launch_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmartLaunchHandle]:
    """The SMART App Launch data source, shared by the session: never change its data. Each test's grants
    are its own, so a test may revoke them."""
    handle = start_smart_launch(tmp_path_factory.mktemp("smart-launch"))
    yield handle
    handle.stop()


def launch_source(handle: SmartLaunchHandle, **extra: Any) -> DataSource:
    """The portal's data source for the SMART launch sandbox: a confidential client with its secret."""
    from portal.records.models import AuthMode
    from tests.records.conftest import make_source

    fields: dict[str, Any] = {
        "name": SOURCE_NAME,
        "auth_mode": AuthMode.SMART_LAUNCH,
        "client_id": handle.client_id,
        "client_secret": handle.client_secret,
        "scope": SCOPE,
        "patient_identifier_system": "",
        **extra,
    }
    return make_source(handle.base_url, **fields)
