"""A share end to end over real HTTP: a real Celery worker (Redis, PostgreSQL) prepares the files, the public
endpoints answer on a live server, and the files are opened with an independent AES-GCM implementation."""

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from django.test import Client

from core.ips.validate import validate_document
from core.shl.payload import Payload
from portal.accounts.models import User
from portal.audit.models import Outcome as AccessOutcome
from portal.jobs.models import Job, JobStatus
from sharing.document import document_build
from sharing.models import Share
from tests.conftest import wait_for
from tests.core.shl.test_shl import independent_decrypt
from tests.sharing.conftest import store_example
from tests.shl_reader import decode
from tests.trail import access_outcomes, accesses_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def share_over_http(client: Client, **fields: Any) -> tuple[Share, Payload]:
    """POST /shares/, let the real worker prepare it, and read the link off the share page."""
    response = client.post("/shares/", {"expires_in": 24 * 60 * 60, **fields})
    assert response.status_code == 302
    share = Share.objects.get()

    def ready() -> bool:
        return Job.objects.get(id=share.job_id).status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    wait_for(ready, timeout=120, what="the share job")
    job = Job.objects.get(id=share.job_id)
    assert job.status == JobStatus.SUCCEEDED, job.detail
    page = client.get(response["Location"]).content.decode()
    link = page.split('data-testid="share-link"', 1)[0].rsplit('value="', 1)[1].split('"', 1)[0]
    return share, decode(link)


@pytest.fixture
def sharing_citizen(
    celery_worker_process: Any, live_server: Any, citizen: User, client: Client, settings: Any
) -> Client:
    settings.PORTAL_ORIGIN = live_server.url  # the links point at the live server
    store_example(citizen)
    client.force_login(citizen)
    return client


def without_times(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries with the moment each Provenance was recorded (the document's timestamp) left out."""
    return [
        {**entry, "resource": {k: v for k, v in entry["resource"].items() if k != "recorded"}}
        if entry["resource"]["resourceType"] == "Provenance"
        else entry
        for entry in entries
    ]


def test_the_whole_flow_gives_back_exactly_the_shared_document(
    sharing_citizen: Client, citizen: User
) -> None:
    share, payload = share_over_http(sharing_citizen)
    manifest = requests.post(payload.url, json={"recipient": "Dr. Hansen"}, timeout=30)
    assert manifest.status_code == 200
    assert manifest.headers["Content-Type"] == "application/json"
    opened = {}
    for entry in manifest.json()["files"]:
        answer = requests.get(entry["location"], timeout=30)
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "application/jose"
        header, plaintext = independent_decrypt(answer.text, payload.key)
        assert header == {"alg": "dir", "enc": "A256GCM", "cty": "application/fhir+json"}
        resource = json.loads(plaintext)
        opened[resource["resourceType"]] = (resource, plaintext)
    bundle, raw = opened["Bundle"]
    assert validate_document(bundle, bundle_json=raw) == []
    # What was shared: the same document the portal builds for this share (only its timestamps differ).
    again = document_build(owner=citizen, document_id=share.id, language=share.language).bundle
    assert bundle["identifier"] == again["identifier"]
    assert without_times(bundle["entry"][1:]) == without_times(again["entry"][1:])
    assert bundle["entry"][0]["resource"]["section"] == again["entry"][0]["resource"]["section"]
    assert opened["DocumentReference"][0]["content"][0]["attachment"]["contentType"] == "application/pdf"
    outcomes = access_outcomes(share)
    assert sorted(outcomes) == sorted(
        [AccessOutcome.OPENED, AccessOutcome.FILE_SENT, AccessOutcome.FILE_SENT]
    )


def test_twenty_parallel_wrong_passcodes_never_exceed_the_budget(
    sharing_citizen: Client, settings: Any
) -> None:
    settings.SHL_PASSCODE_ATTEMPTS = 10
    share, payload = share_over_http(sharing_citizen, passcode="the-right-one")

    def guess(number: int) -> requests.Response:
        return requests.post(
            payload.url, json={"recipient": f"guess {number}", "passcode": f"no-{number}"}, timeout=60
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(guess, range(20)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [401] * 10 + [404] * 10
    assert all(
        0 <= answer.json()["remainingAttempts"] < 10 for answer in answers if answer.status_code == 401
    )
    share.refresh_from_db()
    assert share.passcode_attempts_left == 0
    assert accesses_of(share).filter(outcome=AccessOutcome.WRONG_PASSCODE).count() == 10
    # Locked for good: the right passcode no longer opens it.
    late = requests.post(
        payload.url, json={"recipient": "Dr. Hansen", "passcode": "the-right-one"}, timeout=30
    )
    assert late.status_code == 404


def test_the_worker_logs_no_secret(sharing_citizen: Client, celery_worker_process: Any) -> None:
    share, payload = share_over_http(sharing_citizen, passcode="the-right-one")
    requests.post(payload.url, json={"recipient": "Dr. Hansen", "passcode": "the-right-one"}, timeout=30)
    log = celery_worker_process.log()
    assert str(share.job_id) in log  # the worker did log the job
    for secret in (payload.key, payload.url.rsplit("/", 1)[1], "the-right-one", "shlink:/", "Jordana"):
        assert secret not in log, secret
