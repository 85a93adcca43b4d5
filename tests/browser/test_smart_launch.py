"""SMART standalone launch in Chromium, against the real authorization server and FHIR sandbox: a citizen with
an email-only account connects a source by signing in and approving there, fetches their record through a
real worker; when the source later refuses the refresh, the pull says so and the page offers Connect again."""

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from django.utils import timezone
from playwright.sync_api import expect

from portal.accounts.models import NationalIdentity
from portal.records import services
from portal.records.models import Connection, ConnectionStatus, StoredResource
from tests.conftest import (
    PASSWORD,
    ProcessHandle,
    child_env,
    database_url_of_test_db,
    make_citizen,
    start_worker,
)
from tests.smart_launch_fixtures import SmartLaunchHandle, launch_patients, launch_source

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FREJA = "Freja Lund Holm"
CONNECT = "Connect: sign in at this source"
RECONNECT = "Reconnect: sign in at this source again"


@pytest.fixture
def launch_worker(
    transactional_db: None,
    postgres: None,
    redis_url: str,
    tmp_path: Path,
    smart_launch_sandbox: SmartLaunchHandle,
    settings: Any,
) -> Iterator[ProcessHandle]:
    """A real worker, and this process's live server, trusting the sandbox's authorization server's origin,
    as an operator configures FHIR_AUTH_TRUSTED_ORIGINS for both."""
    settings.FHIR_AUTH_TRUSTED_ORIGINS = [smart_launch_sandbox.trusted_origin]
    worker = start_worker(
        child_env(
            DATABASE_URL=database_url_of_test_db(),
            REDIS_URL=redis_url,
            FHIR_AUTH_TRUSTED_ORIGINS=smart_launch_sandbox.trusted_origin,
        ),
        tmp_path / "worker.log",
    )
    yield worker
    worker.stop()


def fetch(page: Any, base: str) -> str:
    """Press "Fetch my records" and wait for the pull job to end; returns its status."""
    page.goto(f"{base}/records/")
    page.get_by_test_id("pull-button").click()
    page.wait_for_url(f"{base}/jobs/**")
    status = page.get_by_test_id("job-status")
    # A locator, not wait_for_function: the page's Content-Security-Policy forbids evaluated strings.
    expect(status).to_have_text(re.compile(r"^\s*(Succeeded|Failed)\s*$"), timeout=60_000)
    return str(status.inner_text())


def test_an_email_only_citizen_connects_by_smart_launch_pulls_and_is_asked_to_reconnect(
    page: Any, live_server: Any, launch_worker: ProcessHandle, smart_launch_sandbox: SmartLaunchHandle
) -> None:
    citizen = make_citizen("freja@example.org")
    assert not NationalIdentity.objects.filter(user=citizen).exists()
    launch_source(smart_launch_sandbox)
    base, issuer = live_server.url, smart_launch_sandbox.authorization_server.url

    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", citizen.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/records/")
    assert page.get_by_test_id("pull-button").count() == 0  # nothing connected yet

    # Connect: sign in at the source as a test patient, approve, come back connected.
    page.get_by_test_id("source").get_by_role("button", name=CONNECT).click()
    page.wait_for_url(f"{issuer}/**")
    page.get_by_role("button", name=FREJA, exact=True).click()
    assert FREJA in page.get_by_test_id("signed-in-patient").inner_text()
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"{base}/records/")
    assert "The data source is connected" in page.locator("main").inner_text()
    assert page.get_by_test_id("source").get_by_role("button", name=CONNECT).count() == 0
    connection = Connection.objects.get(owner=citizen)
    assert connection.patient_id == launch_patients()[FREJA]

    assert fetch(page, base) == "Succeeded"
    page.click("#job-result-link")
    page.wait_for_url(f"{base}/records/")
    record = page.locator("main").inner_text()
    assert "Asthma" in record
    assert "Grass pollen allergy" in record
    assert "Salbutamol" in record
    assert "enicillin" not in record  # Patricia Jordana's, another patient at the same source
    assert page.locator("[data-testid=record-item]").count() >= 3
    # The launch's patient is stored too: the record is whole, and the Yellow Button is offered.
    assert StoredResource.objects.filter(owner=citizen, resource_type="Patient").count() == 1
    assert page.get_by_test_id("to-yellow-button").is_visible()

    # The source ends the grant (the portal's own refresh token, revoked at the server's revocation endpoint),
    # and the access token is due: the next pull's refresh is refused for real.
    connection.refresh_from_db()
    revoked = requests.post(
        smart_launch_sandbox.smart_configuration()["revocation_endpoint"],
        data={"token": connection.refresh_token(), "token_type_hint": "refresh_token"},
        auth=(smart_launch_sandbox.client_id, smart_launch_sandbox.client_secret),
        timeout=10,
    )
    assert revoked.status_code == 200, revoked.text
    Connection.objects.filter(pk=connection.pk).update(token_expires_at=timezone.now() - timedelta(minutes=1))

    assert fetch(page, base) == "Failed"
    assert "Please connect this data source again" in page.locator("#job-detail").inner_text()
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_AUTHORISATION
    assert connection.refresh_token() == ""
    page.goto(f"{base}/records/")
    assert page.get_by_test_id("pull-button").count() == 0
    assert services.RECONNECT in page.get_by_test_id("source").inner_text()

    # Reconnect: still signed in at the source, the citizen approves again and is connected once more.
    page.get_by_test_id("source").get_by_role("button", name=RECONNECT).click()
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"{base}/records/")
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE
    assert page.get_by_test_id("pull-button").is_visible()
