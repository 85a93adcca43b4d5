"""SMART standalone launch: PKCE S256, state bound to the session, tokens encrypted, refresh tokens used once.

The scripted upstream plays the authorization server where a test needs to see or bend what is sent; the last
test runs the launch against the real one (tests/smart_launch_fixtures.py).
"""

import base64
import hashlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.management import call_command
from django.db import connection as db_connection
from django.test import Client
from django.utils import timezone

from portal.accounts.models import NationalIdentity, User
from portal.jobs.models import JobStatus
from portal.records import services
from portal.records.models import AuthMode, Connection, ConnectionStatus, DataSource, StoredResource
from tests.records.conftest import PATIENT_SYSTEM, make_source, pull_now
from tests.records.fake_upstream import (
    PATIENT_ID,
    Answer,
    FakeUpstream,
    SeenRequest,
    condition,
    patient,
    searchset,
)
from tests.sandbox.html_forms import follow_on, press
from tests.smart_launch_fixtures import CALLBACK_PATH, SmartLaunchHandle, launch_patients, launch_source

pytestmark = pytest.mark.django_db


def _authorization_server(upstream: FakeUpstream) -> dict[str, list[str]]:
    """Scripted token endpoint: one code, refresh tokens that work once each. Returns the grants it saw."""
    root = f"http://127.0.0.1:{upstream.port}"
    upstream.routes["GET /fhir/.well-known/smart-configuration"] = Answer(
        body={"authorization_endpoint": f"{root}/authorize", "token_endpoint": f"{root}/token"}
    )
    live_refresh = {"refresh-1"}
    grants: dict[str, list[str]] = {"code": [], "refresh": []}

    def token(seen: SeenRequest) -> Answer:
        form = {key: values[0] for key, values in parse_qs(seen.body.decode()).items()}
        if form["grant_type"] == "authorization_code":
            grants["code"].append(form.get("code_verifier", ""))
            return Answer(
                body={
                    "access_token": "access-1",
                    "refresh_token": "refresh-1",
                    "expires_in": 3600,
                    "patient": PATIENT_ID,
                    "token_type": "Bearer",
                }
            )
        grants["refresh"].append(form["refresh_token"])
        if form["refresh_token"] not in live_refresh:
            return Answer(status=400, body={"error": "invalid_grant"})
        live_refresh.discard(form["refresh_token"])
        live_refresh.add("refresh-2")
        return Answer(body={"access_token": "access-2", "refresh_token": "refresh-2", "expires_in": 3600})

    upstream.routes["POST /token"] = token
    return grants


def _start(client: Client, source_id: int) -> dict[str, str]:
    response = client.post(f"/records/connect/{source_id}/")
    assert response.status_code == 302
    query = {key: values[0] for key, values in parse_qs(urlsplit(response["Location"]).query).items()}
    return query


def test_launch_uses_pkce_s256_and_a_session_bound_state(
    fake_upstream: FakeUpstream, citizen: User, citizen_client: Client
) -> None:
    grants = _authorization_server(fake_upstream)
    source = make_source(fake_upstream.base_url, auth_mode=AuthMode.SMART_LAUNCH, client_id="portal-app")

    query = _start(citizen_client, source.pk)

    assert query["code_challenge_method"] == "S256"
    assert query["response_type"] == "code"
    assert query["aud"] == fake_upstream.base_url
    assert len(query["state"]) >= 43
    response = citizen_client.get("/records/connect/callback/", {"state": query["state"], "code": "the-code"})
    assert response.status_code == 302
    verifier = grants["code"][0]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == query["code_challenge"]
    connection = Connection.objects.get(owner=citizen, source=source)
    assert connection.patient_id == PATIENT_ID
    assert connection.access_token() == "access-1"
    # Stored encrypted: the database never holds the token itself.
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT access_token_encrypted, refresh_token_encrypted FROM records_connection")
        row = cursor.fetchone()
    assert "access-1" not in row[0]
    assert "refresh-1" not in row[1]

    # The same state cannot be used twice.
    again = citizen_client.get("/records/connect/callback/", {"state": query["state"], "code": "the-code"})
    assert again.status_code == 400
    assert len(grants["code"]) == 1


@pytest.mark.parametrize(
    ("iss", "connects"),
    [("SELF", True), ("https://other-server.example", False), (None, False)],
)
def test_the_authorization_response_must_come_from_the_server_it_went_to(
    fake_upstream: FakeUpstream, citizen: User, citizen_client: Client, iss: str | None, connects: bool
) -> None:
    """RFC 9207: a server that says it names itself in every response must, and name itself, not another."""
    grants = _authorization_server(fake_upstream)
    root = f"http://127.0.0.1:{fake_upstream.port}"
    configuration = fake_upstream.routes["GET /fhir/.well-known/smart-configuration"]
    assert isinstance(configuration, Answer)
    configuration.body = {
        **configuration.body,
        "issuer": root,
        "authorization_response_iss_parameter_supported": True,
    }
    source = make_source(fake_upstream.base_url, auth_mode=AuthMode.SMART_LAUNCH, client_id="portal-app")
    query = _start(citizen_client, source.pk)
    answer = {"state": query["state"], "code": "the-code"}
    if iss is not None:
        answer["iss"] = root if iss == "SELF" else iss

    response = citizen_client.get("/records/connect/callback/", answer)

    assert (response.status_code == 302) is connects
    assert Connection.objects.exists() is connects
    assert len(grants["code"]) == (1 if connects else 0)  # a refused code never reaches the token endpoint


def test_a_state_from_another_session_is_refused(
    fake_upstream: FakeUpstream, citizen: User, other_citizen: User, citizen_client: Client
) -> None:
    grants = _authorization_server(fake_upstream)
    source = make_source(fake_upstream.base_url, auth_mode=AuthMode.SMART_LAUNCH, client_id="portal-app")
    query = _start(citizen_client, source.pk)

    attacker = Client()
    attacker.force_login(other_citizen)
    response = attacker.get("/records/connect/callback/", {"state": query["state"], "code": "the-code"})

    assert response.status_code == 400
    assert "not valid or has expired" in response.content.decode()
    assert grants["code"] == []
    assert not Connection.objects.exists()


def test_a_denied_authorisation_connects_nothing(fake_upstream: FakeUpstream, citizen_client: Client) -> None:
    response = citizen_client.get("/records/connect/callback/", {"error": "access_denied"}, follow=True)

    assert "did not grant access" in response.content.decode()
    assert not Connection.objects.exists()


def test_pull_refreshes_an_expired_token_and_uses_each_refresh_token_once(
    fake_upstream: FakeUpstream, citizen: User, citizen_client: Client
) -> None:
    grants = _authorization_server(fake_upstream)
    source = make_source(fake_upstream.base_url, auth_mode=AuthMode.SMART_LAUNCH, client_id="portal-app")
    query = _start(citizen_client, source.pk)
    citizen_client.get("/records/connect/callback/", {"state": query["state"], "code": "the-code"})
    connection = Connection.objects.get(owner=citizen)
    connection.token_expires_at = timezone.now()
    connection.save()
    fake_upstream.routes["GET /fhir/Condition"] = Answer(body=searchset([condition("c1")]))

    job, _pull = pull_now(citizen)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert grants["refresh"] == ["refresh-1"]
    assert fake_upstream.requests_to("/fhir/Condition")[0].headers["authorization"] == "Bearer access-2"
    connection.refresh_from_db()
    assert connection.refresh_token() == "refresh-2"
    assert StoredResource.objects.filter(owner=citizen, resource_type="Condition").count() == 1
    # The launch's patient is read and stored: a summary needs the Patient.
    assert fake_upstream.requests_to(f"/fhir/Patient/{PATIENT_ID}")
    assert StoredResource.objects.filter(owner=citizen, resource_type="Patient").count() == 1


def _connected(citizen: User, source: DataSource, patient_id: str) -> Connection:
    connection = Connection.objects.create(owner=citizen, source=source, patient_id=patient_id)
    services.connection_store_tokens(
        connection=connection,
        response=services.TokenResponse(access_token="good", expires_in=3600, refresh_token="r"),
    )
    return connection


@pytest.mark.parametrize("patient_id", ["../Observation", "a b", ""])
def test_a_launch_patient_that_is_not_a_fhir_id_is_never_asked_for(
    fake_upstream: FakeUpstream, citizen: User, patient_id: str
) -> None:
    source = make_source(fake_upstream.base_url, auth_mode=AuthMode.SMART_LAUNCH, client_id="portal-app")
    _connected(citizen, source, patient_id)

    job, _pull = pull_now(citizen)

    assert job.status == JobStatus.FAILED
    assert job.detail == services.RECONNECT
    assert not [seen for seen in fake_upstream.requests if seen.path.startswith("/fhir/Patient")]
    assert not StoredResource.objects.exists()


def test_a_source_answering_with_another_patient_than_the_launch_named_is_refused(
    fake_upstream: FakeUpstream, citizen: User
) -> None:
    source = make_source(fake_upstream.base_url, auth_mode=AuthMode.SMART_LAUNCH, client_id="portal-app")
    _connected(citizen, source, PATIENT_ID)
    fake_upstream.routes[f"GET /fhir/Patient/{PATIENT_ID}"] = Answer(body=patient("someone-else"))

    job, _pull = pull_now(citizen)

    assert job.status == JobStatus.FAILED
    assert not StoredResource.objects.exists()


def test_a_refused_refresh_asks_the_citizen_to_reconnect(
    fake_upstream: FakeUpstream, citizen: User, citizen_client: Client
) -> None:
    _authorization_server(fake_upstream)
    source = make_source(fake_upstream.base_url, auth_mode=AuthMode.SMART_LAUNCH, client_id="portal-app")
    connection = Connection.objects.create(owner=citizen, source=source, patient_id=PATIENT_ID)
    services.connection_store_tokens(
        connection=connection,
        response=services.TokenResponse(access_token="old", expires_in=1, refresh_token="revoked"),
    )
    connection.token_expires_at = timezone.now()
    connection.save()

    job, _pull = pull_now(citizen)

    assert job.status == JobStatus.FAILED
    assert job.detail == services.RECONNECT
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_AUTHORISATION
    assert connection.refresh_token() == ""
    page = citizen_client.get("/records/").content.decode()
    assert f"/records/connect/{source.pk}/" in page


def test_the_record_page_offers_to_connect_a_launch_source(
    fake_upstream: FakeUpstream, citizen_client: Client
) -> None:
    source = make_source(fake_upstream.base_url, auth_mode=AuthMode.SMART_LAUNCH, client_id="portal-app")

    page: Any = citizen_client.get("/records/").content.decode()

    assert f'action="/records/connect/{source.pk}/"' in page


# ---------------------------------------------------------------------- the real authorization server


@pytest.mark.integration
def test_a_person_at_low_assurance_connects_at_the_real_authorization_server_pulls_and_refreshes(
    smart_launch_sandbox: SmartLaunchHandle, citizen: User, settings: Any
) -> None:
    """The citizen signed in with eID at assurance low: the source that finds people by identifier is never
    asked (pull_now expects one job), the source that signs its patients in itself works."""
    settings.FHIR_AUTH_TRUSTED_ORIGINS = [smart_launch_sandbox.trusted_origin]
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    NationalIdentity.objects.create(
        user=citizen, system=PATIENT_SYSTEM, value="DEF5678", issuer="https://eid.example", subject="s",
        acr="http://eidas.europa.eu/LoA/low",
    )  # fmt: skip
    make_source("http://127.0.0.1:9/fhir", name="National endpoint")  # nothing listens: it must not be asked
    source = launch_source(smart_launch_sandbox)
    # The server takes redirect URIs on loopback hosts only: the portal is asked at 127.0.0.1.
    portal = Client(HTTP_HOST="127.0.0.1:8000")
    portal.force_login(citizen)
    issuer = smart_launch_sandbox.authorization_server.url

    started = portal.post(f"/records/connect/{source.pk}/")
    assert started.status_code == 302
    assert started["Location"].startswith(f"{issuer}/auth?")
    browser = requests.Session()
    sign_in = follow_on(browser, browser.get(started["Location"], allow_redirects=False, timeout=10), issuer)
    approve = follow_on(browser, press(browser, sign_in, "Freja Lund Holm"), issuer)
    back = follow_on(browser, press(browser, approve, "Approve"), issuer)
    callback = urlsplit(back.headers["Location"])
    assert (callback.netloc, callback.path) == ("127.0.0.1:8000", CALLBACK_PATH)
    connected = portal.get(f"{callback.path}?{callback.query}")
    assert connected.status_code == 302, connected.content[:500]
    assert connected["Location"] == "/records/"

    connection = Connection.objects.get(owner=citizen, source=source)
    assert connection.patient_id == launch_patients()["Freja Lund Holm"]
    job, _pull = pull_now(citizen)
    assert job.status == JobStatus.SUCCEEDED, job.detail
    stored = set(StoredResource.objects.filter(owner=citizen).values_list("resource_type", "resource_id"))
    assert {
        ("Condition", "freja-lund-holm-asthma"),
        ("AllergyIntolerance", "freja-lund-holm-grass-pollen"),
        ("MedicationStatement", "freja-lund-holm-salbutamol"),
        ("Medication", "freja-lund-holm-salbutamol"),  # outside the compartment, by the reference to it
    } <= stored

    # The access token is due: the next pull refreshes it, and the server rotates the refresh token.
    connection.refresh_from_db()
    spent = connection.refresh_token()
    connection.token_expires_at = timezone.now()
    connection.save()
    job, _pull = pull_now(citizen)
    assert job.status == JobStatus.SUCCEEDED, job.detail
    connection.refresh_from_db()
    assert connection.refresh_token() not in ("", spent)
    assert connection.status == ConnectionStatus.ACTIVE

    # A spent refresh token offered again makes the server end the grant; the portal then asks to reconnect.
    reused = requests.post(
        smart_launch_sandbox.smart_configuration()["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": spent},
        auth=(smart_launch_sandbox.client_id, smart_launch_sandbox.client_secret),
        timeout=10,
    )
    assert reused.status_code == 400
    connection.token_expires_at = timezone.now()
    connection.save()
    job, _pull = pull_now(citizen)
    assert job.status == JobStatus.FAILED
    assert job.detail == services.RECONNECT
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_AUTHORISATION


def test_seed_demo_adds_the_launch_source_make_run_starts_once() -> None:
    call_command("seed_demo")
    assert not DataSource.objects.filter(auth_mode=AuthMode.SMART_LAUNCH).exists()

    for _ in range(2):
        call_command("seed_demo", "--smart-launch-url", "http://127.0.0.1:8092/fhir/")

    [source] = DataSource.objects.filter(auth_mode=AuthMode.SMART_LAUNCH)
    assert source.base_url == "http://127.0.0.1:8092/fhir"
    assert (source.client_id, source.client_secret()) == ("yellow-button-portal", "smart-sandbox-secret")
    assert set(source.scope.split()) == {
        "launch/patient",
        "patient/*.rs",
        "openid",
        "fhirUser",
        "offline_access",
    }
