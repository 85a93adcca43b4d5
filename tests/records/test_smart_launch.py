"""SMART standalone launch: PKCE S256, state bound to the session, tokens encrypted, refresh tokens used once.

No authorization server that runs user launches is available here yet, so the scripted upstream plays it.
"""

import base64
import hashlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection as db_connection
from django.test import Client
from django.utils import timezone

from portal.accounts.models import User
from portal.jobs.models import JobStatus
from portal.records import services
from portal.records.models import AuthMode, Connection, ConnectionStatus, StoredResource
from tests.records.conftest import make_source, pull_now
from tests.records.fake_upstream import PATIENT_ID, Answer, FakeUpstream, SeenRequest, condition, searchset

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
