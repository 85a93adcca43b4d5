"""The local FHIR sandbox (sandbox/launch.py) as a real server process for tests, open or SMART-protected.

`fhir_sandbox` and `smart_fhir_sandbox` start once per session and hold the HL7 IPS 2.0.0 examples; a test
that changes upstream data takes `fresh_fhir_sandbox` (its own server and database) instead. The SMART App
Launch data source (the sandbox behind its own authorization server) is in tests/smart_launch_fixtures.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

if TYPE_CHECKING:
    from tests.conftest import ProcessHandle

# tests.conftest is imported inside the functions: it loads this module as a plugin while it is imported.

START_TIMEOUT = 120  # seconds; a 20,000-resource --load takes about 20 s on the 2-core machine
SMART_SCOPES = "system/*.read"


@dataclass
class SmartClientSpec:
    """The one backend-services client the sandbox accepts: a shared secret and/or a public key."""

    client_id: str
    client_secret: str | None = None
    public_key_pem: str | None = None
    scopes: str = SMART_SCOPES


@dataclass
class SandboxHandle:
    base_url: str  # e.g. http://127.0.0.1:PORT/fhir
    process: ProcessHandle

    @property
    def root_url(self) -> str:
        return self.base_url.removesuffix("/fhir")

    def stop(self) -> None:
        self.process.stop()

    def log(self) -> str:
        return self.process.log()


@dataclass
class SmartSandboxHandle(SandboxHandle):
    client_id: str
    client_secret: str
    private_key_pem: str
    key_id: str
    alg: str
    token_url: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def sandbox_python() -> Path:
    from tests.conftest import REPO

    return REPO / os.environ.get("SANDBOX_VENV", "var/sandbox-venv") / "bin" / "python"


def start_sandbox(
    *,
    data_dir: Path,
    port: int,
    log_path: Path,
    smart: SmartClientSpec | None = None,
    load: Sequence[Path] = (),
    authorization_server: str | None = None,
    examples: bool = True,
) -> SandboxHandle:
    """Start the launcher and return once it serves, with every `load` bundle stored, and every IPS example
    too unless ``examples`` is off (a source that holds only its own bundles)."""
    from tests.conftest import IPS_EXAMPLES, REPO, service_missing, start_process, wait_for

    python = sandbox_python()
    if not python.exists():
        service_missing(f"the FHIR sandbox is not installed at {python.parent.parent} (run `make sandbox`)")
    if not (IPS_EXAMPLES / "Bundle-bundle-ips-all-sections.json").exists():
        service_missing(f"the IPS 2.0.0 examples are not unpacked at {IPS_EXAMPLES} (run `make sandbox`)")
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        str(python), str(REPO / "sandbox" / "launch.py"), "--host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(data_dir), *(["--examples", str(IPS_EXAMPLES)] if examples else ["--no-examples"]),
    ]  # fmt: skip
    for path in load:
        args += ["--load", str(path)]
    if smart is not None:
        args += ["--smart-client-id", smart.client_id, "--smart-scopes", smart.scopes]
        if smart.client_secret is not None:
            secret_file = data_dir / "client-secret.txt"
            secret_file.write_text(smart.client_secret + "\n", encoding="utf-8")
            args += ["--smart-client-secret-file", str(secret_file)]
        if smart.public_key_pem is not None:
            key_file = data_dir / "client-public-key.pem"
            key_file.write_text(smart.public_key_pem, encoding="utf-8")
            args += ["--smart-public-key-file", str(key_file)]
    if authorization_server is not None:  # SMART App Launch: tokens of that server, one patient each
        args += ["--authorization-server", authorization_server]
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    process = start_process(args, env=env, log_path=log_path)
    base_url = f"http://127.0.0.1:{port}/fhir"
    try:
        wait_for(
            lambda: "sandbox ready" in process.log() or process.process.poll() is not None,
            timeout=START_TIMEOUT,
            what="the FHIR sandbox to load and listen",
        )
        if process.process.poll() is not None:
            raise AssertionError(f"the FHIR sandbox exited at start:\n{process.log()}")
        metadata = requests.get(f"{base_url}/metadata", timeout=10)
        assert metadata.status_code == 200, process.log()
    except BaseException:
        process.stop()
        raise
    return SandboxHandle(base_url=base_url, process=process)


def sandbox_get(
    handle: SandboxHandle, path: str, params: Mapping[str, str] | None = None, **kwargs: Any
) -> dict[str, Any]:
    """GET <base>/<path> (open mode) and return the JSON body; anything but 200 fails the test."""
    response = requests.get(f"{handle.base_url}/{path.lstrip('/')}", params=params, timeout=10, **kwargs)
    assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text[:500]}"
    body: dict[str, Any] = response.json()
    return body


def sandbox_put(handle: SandboxHandle, resource: dict[str, Any]) -> dict[str, Any]:
    """Create or update a resource upstream (open mode); returns it as stored (new meta.versionId)."""
    response = requests.put(
        f"{handle.base_url}/{resource['resourceType']}/{resource['id']}",
        data=json.dumps(resource),
        headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"},
        timeout=10,
    )
    assert response.status_code in (200, 201), f"PUT: {response.status_code} {response.text[:500]}"
    body: dict[str, Any] = response.json()
    return body


def ec_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """RFC 7638 thumbprint of the public key's JWK."""
    numbers = public_key.public_numbers()
    size = (public_key.curve.key_size + 7) // 8

    def b64(value: int) -> str:
        return base64.urlsafe_b64encode(value.to_bytes(size, "big")).rstrip(b"=").decode()

    jwk = {"crv": "P-384", "kty": "EC", "x": b64(numbers.x), "y": b64(numbers.y)}
    digest = hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.fixture(scope="session")
def fhir_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """Open mode, the IPS examples loaded; shared by the session, so never change its data."""
    directory = tmp_path_factory.mktemp("fhir-sandbox")
    handle = start_sandbox(data_dir=directory / "data", port=free_port(), log_path=directory / "sandbox.log")
    yield handle
    handle.stop()


@pytest.fixture
def fresh_fhir_sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    """Open mode, the IPS examples loaded, this test's own server: free to change upstream data."""
    handle = start_sandbox(data_dir=tmp_path / "sandbox", port=free_port(), log_path=tmp_path / "sandbox.log")
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def smart_fhir_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmartSandboxHandle]:
    """SMART backend services required: one client with a secret and an ES384 (P-384) key."""
    directory = tmp_path_factory.mktemp("smart-fhir-sandbox")
    private_key = ec.generate_private_key(ec.SECP384R1())
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    spec = SmartClientSpec(
        client_id="yellow-button-portal",
        client_secret=secrets.token_urlsafe(24),
        public_key_pem=public_pem.decode(),
    )
    port = free_port()
    handle = start_sandbox(
        data_dir=directory / "data", port=port, log_path=directory / "sandbox.log", smart=spec
    )
    assert spec.client_secret is not None
    smart = SmartSandboxHandle(
        base_url=handle.base_url,
        process=handle.process,
        client_id=spec.client_id,
        client_secret=spec.client_secret,
        private_key_pem=private_pem.decode(),
        key_id=ec_key_id(private_key.public_key()),
        alg="ES384",
        token_url=f"{handle.root_url}/auth/token",
    )
    yield smart
    smart.stop()
