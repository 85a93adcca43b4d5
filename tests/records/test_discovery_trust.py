"""A hostile upstream's discovery naming a token or authorize endpoint elsewhere gets no credentials.

The hostile FHIR server is the scripted upstream on 127.0.0.1; its smart-configuration (or its
CapabilityStatement) names an endpoint on another host (`localhost`), on another port, or over https on
another host. A second real server stands at that address and records every connection it is offered: it must
be offered none, so no `Authorization: Basic` header, no client assertion and no refresh token ever leave the
portal for it.
"""

import base64
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from portal.accounts.models import User
from portal.audit.models import Action, AuditEntry, Outcome
from portal.jobs.models import JobStatus
from portal.records import fhir_client, services
from portal.records.models import AuthMode, Connection, ConnectionStatus, DataSource, Pull
from tests.records.conftest import link_identifier, make_source, pull_now
from tests.records.fake_upstream import Answer, FakeUpstream, capability, condition, searchset

pytestmark = pytest.mark.django_db

RECORDER_TOKEN = "token-from-the-recorder"  # what a hostile token endpoint would hand out


@dataclass
class Recorder:
    """A real HTTP server at the address a hostile discovery names: counts every connection it accepts and
    keeps the headers and body of every request, answering each with a token as a thief would."""

    connections: int = 0
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        recorder = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request: Any, client_address: Any) -> bool:
                recorder.connections += 1  # before anything is read: a TLS hello counts too
                return True

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.requests.append((self.path, dict(self.headers.items()), body))
                raw = json.dumps(
                    {"access_token": RECORDER_TOKEN, "expires_in": 3600, "patient": "p1"}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.stop()


@pytest.fixture
def linked_citizen(citizen: User) -> User:
    return link_identifier(citizen)


@pytest.fixture(autouse=True)
def _all_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's included: the secret must be in none of it


def _localhost_resolves() -> bool:
    try:
        return any(info[4][0] == "127.0.0.1" for info in socket.getaddrinfo("localhost", 80))
    except OSError:
        return False


def _hostile_discovery(upstream: FakeUpstream, recorder: Recorder, where: str) -> None:
    """Script the upstream's discovery to name the recorder's address in the way `where` says."""
    if where == "capability, another host, http":
        # No smart-configuration (404): the CapabilityStatement's oauth-uris extension is read instead.
        upstream.routes["GET /fhir/metadata"] = Answer(
            body=capability(token_url=f"http://localhost:{recorder.port}/token")
        )
        return
    token_url = {
        "smart-configuration, another host, http": f"http://localhost:{recorder.port}/token",
        "smart-configuration, same host, another port, http": f"http://127.0.0.1:{recorder.port}/token",
        "smart-configuration, another host, https": f"https://localhost:{recorder.port}/token",
    }[where]
    upstream.routes["GET /fhir/.well-known/smart-configuration"] = Answer(
        body={
            "authorization_endpoint": f"http://127.0.0.1:{upstream.port}/authorize",
            "token_endpoint": token_url,
        }
    )


WHERE = [
    "smart-configuration, another host, http",
    "smart-configuration, same host, another port, http",
    "smart-configuration, another host, https",
    "capability, another host, http",
]


def _assert_nothing_leaked(
    recorder: Recorder, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture, *secret_values: str
) -> None:
    assert recorder.connections == 0
    assert recorder.requests == []
    # Nor was a token from elsewhere used against the upstream.
    assert not any(RECORDER_TOKEN in str(seen.headers) for seen in upstream.requests)
    for value in secret_values:
        assert value not in caplog.text


def _assert_failed_clearly(pull: Pull, detail: str) -> None:
    assert detail == fhir_client.UNTRUSTED_ENDPOINT
    # Recorded the way every failed pull is: in the citizen's trail.
    assert AuditEntry.objects.filter(
        action=Action.PULL_FINISHED, target_id=str(pull.pk), outcome=Outcome.FAILED
    ).exists()


@pytest.mark.parametrize("where", WHERE)
def test_a_client_secret_is_never_sent_where_discovery_points_elsewhere(
    fake_upstream: FakeUpstream,
    recorder: Recorder,
    linked_citizen: User,
    citizen_client: Client,
    caplog: pytest.LogCaptureFixture,
    where: str,
) -> None:
    if "another host" in where:
        assert _localhost_resolves(), "this test needs localhost to resolve to 127.0.0.1"
    secret = secrets.token_urlsafe(24)
    make_source(
        fake_upstream.base_url, auth_mode=AuthMode.BACKEND_SERVICES, client_id="portal", client_secret=secret
    )
    _hostile_discovery(fake_upstream, recorder, where)

    job, pull = pull_now(linked_citizen)

    basic = base64.b64encode(f"portal:{secret}".encode()).decode()
    _assert_nothing_leaked(recorder, fake_upstream, caplog, secret, basic)
    assert job.status == JobStatus.FAILED
    _assert_failed_clearly(pull, job.detail)
    # Nothing was asked for with credentials, from anyone.
    assert not fake_upstream.requests_to("/fhir/Patient")
    assert not any("authorization" in seen.headers for seen in fake_upstream.requests)
    # The citizen reads why, and nothing secret.
    page = citizen_client.get(f"/jobs/{job.id}/").content.decode()
    assert "not on a trusted address" in page
    assert secret not in page


def test_a_signed_assertion_is_never_sent_where_discovery_points_elsewhere(
    fake_upstream: FakeUpstream, recorder: Recorder, linked_citizen: User, caplog: pytest.LogCaptureFixture
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    make_source(
        fake_upstream.base_url,
        auth_mode=AuthMode.BACKEND_SERVICES,
        client_id="portal",
        private_key=pem,
        signing_algorithm="ES384",
        key_id="k1",
    )
    _hostile_discovery(fake_upstream, recorder, "smart-configuration, another host, http")

    job, pull = pull_now(linked_citizen)

    _assert_nothing_leaked(recorder, fake_upstream, caplog)
    assert job.status == JobStatus.FAILED
    _assert_failed_clearly(pull, job.detail)


def test_the_sources_own_host_still_gets_its_token_request(
    fake_upstream: FakeUpstream, recorder: Recorder, linked_citizen: User, caplog: pytest.LogCaptureFixture
) -> None:
    secret = secrets.token_urlsafe(24)
    make_source(
        fake_upstream.base_url, auth_mode=AuthMode.BACKEND_SERVICES, client_id="portal", client_secret=secret
    )
    root = f"http://127.0.0.1:{fake_upstream.port}"
    fake_upstream.routes["GET /fhir/.well-known/smart-configuration"] = Answer(
        body={"token_endpoint": f"{root}/auth/token"}
    )
    fake_upstream.routes["POST /auth/token"] = Answer(
        body={"access_token": "own-token", "expires_in": 3600, "token_type": "Bearer"}
    )
    fake_upstream.routes["GET /fhir/Condition"] = Answer(body=searchset([condition("c1")]))

    job, _pull = pull_now(linked_citizen)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    [token_request] = fake_upstream.requests_to("/auth/token")
    basic = base64.b64encode(f"portal:{secret}".encode()).decode()
    assert token_request.headers["authorization"] == f"Basic {basic}"
    assert fake_upstream.requests_to("/fhir/Condition")[0].headers["authorization"] == "Bearer own-token"
    assert recorder.connections == 0
    assert secret not in caplog.text
    assert basic not in caplog.text


def test_an_operator_trusted_host_is_contacted_over_https_only(
    fake_upstream: FakeUpstream,
    recorder: Recorder,
    linked_citizen: User,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.FHIR_AUTH_TRUSTED_HOSTS = ["localhost"]
    secret = secrets.token_urlsafe(24)
    make_source(
        fake_upstream.base_url,
        auth_mode=AuthMode.BACKEND_SERVICES,
        client_id="portal",
        client_secret=secret,
        read_timeout=1.0,  # the TLS handshake below meets a server that speaks none
    )

    # Trusted, but named over plain http: still refused, nothing sent.
    _hostile_discovery(fake_upstream, recorder, "smart-configuration, another host, http")
    job, pull = pull_now(linked_citizen)
    assert job.status == JobStatus.FAILED
    _assert_failed_clearly(pull, job.detail)
    assert recorder.connections == 0

    # Trusted and over https: the portal goes there (this recorder speaks no TLS, so the handshake fails
    # before anything is sent; that it was tried at all is what the allowlist is for).
    _hostile_discovery(fake_upstream, recorder, "smart-configuration, another host, https")
    job, _pull = pull_now(linked_citizen)
    assert job.status == JobStatus.FAILED
    assert job.detail in (fhir_client.UNREACHABLE, fhir_client.TIMEOUT)
    assert recorder.connections >= 1
    assert recorder.requests == []
    assert secret not in caplog.text


# ---------------------------------------------------------------------- SMART standalone launch


def _launch_source(upstream: FakeUpstream, secret: str) -> DataSource:
    return make_source(
        upstream.base_url, auth_mode=AuthMode.SMART_LAUNCH, client_id="portal-app", client_secret=secret
    )


@pytest.mark.parametrize("hostile", ["authorize", "token"])
def test_a_launch_never_starts_towards_an_untrusted_endpoint(
    fake_upstream: FakeUpstream,
    recorder: Recorder,
    citizen_client: Client,
    caplog: pytest.LogCaptureFixture,
    hostile: str,
) -> None:
    secret = secrets.token_urlsafe(24)
    source = _launch_source(fake_upstream, secret)
    own, elsewhere = f"http://127.0.0.1:{fake_upstream.port}", f"http://localhost:{recorder.port}"
    fake_upstream.routes["GET /fhir/.well-known/smart-configuration"] = Answer(
        body={
            "authorization_endpoint": f"{elsewhere if hostile == 'authorize' else own}/authorize",
            "token_endpoint": f"{elsewhere if hostile == 'token' else own}/token",
        }
    )

    response = citizen_client.post(f"/records/connect/{source.pk}/", follow=True)

    # The citizen stays on the portal, told why, and no state for a launch was kept.
    assert response.redirect_chain == [("/records/", 302)]
    assert "not on a trusted address" in response.content.decode()
    assert not citizen_client.session.get(services.SESSION_KEY)
    _assert_nothing_leaked(recorder, fake_upstream, caplog, secret)
    assert not Connection.objects.exists()


def test_a_refresh_token_is_never_sent_where_discovery_points_elsewhere(
    fake_upstream: FakeUpstream, recorder: Recorder, citizen: User, caplog: pytest.LogCaptureFixture
) -> None:
    secret = secrets.token_urlsafe(24)
    refresh = secrets.token_urlsafe(24)
    source = _launch_source(fake_upstream, secret)
    connection = Connection.objects.create(owner=citizen, source=source, patient_id="p1")
    services.connection_store_tokens(
        connection=connection,
        response=services.TokenResponse(access_token="old", expires_in=1, refresh_token=refresh),
    )
    connection.token_expires_at = timezone.now()
    connection.save()
    _hostile_discovery(fake_upstream, recorder, "smart-configuration, another host, http")

    job, pull = pull_now(citizen)

    _assert_nothing_leaked(recorder, fake_upstream, caplog, secret, refresh)
    assert job.status == JobStatus.FAILED
    _assert_failed_clearly(pull, job.detail)
    # Not spent: the refusal came before the refresh token was given up, and the connection stays as it was.
    connection.refresh_from_db()
    assert connection.refresh_token() == refresh
    assert connection.status == ConnectionStatus.ACTIVE


def test_an_operator_trusted_origin_gets_the_token_request_and_nothing_near_it_does(
    fake_upstream: FakeUpstream, recorder: Recorder, linked_citizen: User, settings: Any
) -> None:
    secret = secrets.token_urlsafe(24)
    make_source(
        fake_upstream.base_url, auth_mode=AuthMode.BACKEND_SERVICES, client_id="portal", client_secret=secret
    )
    # The local sandbox's discovery names a token endpoint on another port: its authorization server's.
    _hostile_discovery(fake_upstream, recorder, "smart-configuration, same host, another port, http")

    # Listed, but not that origin: another port, another name for this machine, https.
    settings.FHIR_AUTH_TRUSTED_ORIGINS = [
        f"http://127.0.0.1:{recorder.port + 1}",
        f"http://localhost:{recorder.port}",
        f"https://127.0.0.1:{recorder.port + 1}",
    ]
    job, pull = pull_now(linked_citizen)
    assert job.status == JobStatus.FAILED
    _assert_failed_clearly(pull, job.detail)
    assert recorder.connections == 0

    # Exactly that origin: the token request goes there, with the client's credentials.
    settings.FHIR_AUTH_TRUSTED_ORIGINS = [f"http://127.0.0.1:{recorder.port}"]
    pull_now(linked_citizen)
    [(path, headers, _body)] = recorder.requests
    assert path == "/token"
    assert headers["Authorization"] == f"Basic {base64.b64encode(f'portal:{secret}'.encode()).decode()}"


@pytest.mark.parametrize(
    "origin", ["http://fhir.example.org:8093", "127.0.0.1:8093", "http://127.0.0.1:8093/auth"]
)
def test_the_settings_refuse_an_origin_the_portal_could_not_trust(origin: str) -> None:
    env = {**os.environ, "SECRET_KEY": "x", "FHIR_AUTH_TRUSTED_ORIGINS": origin}
    loaded = subprocess.run(
        [sys.executable, "-c", "import portal.settings"], env=env, capture_output=True, text=True, timeout=60
    )
    assert loaded.returncode != 0
    assert "FHIR_AUTH_TRUSTED_ORIGINS" in loaded.stderr
