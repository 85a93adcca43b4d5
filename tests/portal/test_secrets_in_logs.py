"""The whole demo flow with every log at DEBUG: pull from the FHIR sandbox, download JSON and PDF, share with
a passcode, a clinician opens the link. No log line of the web side or the worker, and no row of the audit
trail either side wrote, may carry a national identifier, clinical text of the example patient, a share key,
manifest id, passcode or link."""

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from django.db.models import Max
from django.test import Client

from portal.accounts.models import User
from portal.audit.models import Action, AuditEntry, Outcome
from portal.jobs.models import Job, JobStatus
from portal.records.management.commands.seed_demo import DEMO_IDENTIFIER_SYSTEM, DEMO_IDENTIFIER_VALUE
from sharing.models import Share
from tests.conftest import child_env, database_url_of_test_db, start_worker, wait_for
from tests.records.conftest import link_identifier, make_source
from tests.shl_reader import decode

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

PASSCODE = "secret-passcode-4711"
# From the example patient's record (HL7 IPS 2.0.0 all-sections example).
CLINICAL_TEXT = [
    "Jordana",
    "Patricia",
    "Penicillin",
    "Essential hypertension",
    "Gout",
    "cilazapril",
    "lisinopril",
]


def finished(client: Client, job_url: str) -> dict[str, Any]:
    def done() -> bool:
        status = client.get(job_url, HTTP_ACCEPT="application/json").json()["status"]
        return status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    wait_for(done, timeout=120, what=job_url)
    answer: dict[str, Any] = client.get(job_url, HTTP_ACCEPT="application/json").json()
    assert answer["status"] == JobStatus.SUCCEEDED, answer
    return answer


def test_the_demo_flow_at_debug_logs_no_secret(
    postgres: None,
    redis_url: str,
    fhir_sandbox: Any,
    citizen: User,
    client: Client,
    tmp_path: Path,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    trail_before = AuditEntry.objects.aggregate(last=Max("id"))["last"] or 0
    worker = start_worker(
        child_env(
            DATABASE_URL=database_url_of_test_db(),
            REDIS_URL=redis_url,
            MEDIA_ROOT=str(settings.MEDIA_ROOT),
            LOG_LEVEL="DEBUG",
        ),
        tmp_path / "worker.log",
    )
    try:
        caplog.set_level(logging.DEBUG)
        link_identifier(citizen, DEMO_IDENTIFIER_SYSTEM, DEMO_IDENTIFIER_VALUE)
        make_source(fhir_sandbox.base_url, patient_identifier_system=DEMO_IDENTIFIER_SYSTEM, name="Sandbox")
        client.force_login(citizen)

        finished(client, client.post("/records/pull/")["Location"])
        assert "Penicillin" in client.get("/records/").content.decode()  # the record arrived
        for export_format in ("json", "pdf"):
            answer = finished(client, client.post("/exports/", {"format": export_format})["Location"])
            assert client.get(answer["result_url"]).status_code == 200
        client.post("/shares/", {"expires_in": 86400, "passcode": PASSCODE, "label": "For Dr Holm"})
        share = Share.objects.get()
        wait_for(
            lambda: Job.objects.get(id=share.job_id).status == JobStatus.SUCCEEDED, timeout=120, what="share"
        )
        page = client.get(f"/shares/{share.id}/").content.decode()
        link = page.split('data-testid="share-link"', 1)[0].rsplit('value="', 1)[1].split('"', 1)[0]
        payload = decode(link)
        path = payload.url.split("://", 1)[1].split("/", 1)[1]
        body = json.dumps({"recipient": "Dr. Ingrid Holm", "passcode": PASSCODE})
        wrong = json.dumps({"recipient": "Dr. Ingrid Holm", "passcode": "wrong-" + PASSCODE})
        assert client.post("/" + path, wrong, content_type="application/json").status_code == 401
        manifest = client.post("/" + path, body, content_type="application/json").json()
        for entry in manifest["files"]:
            location = entry["location"].split("://", 1)[1].split("/", 1)[1]
            assert client.get("/" + location).status_code == 200
    finally:
        worker.stop()

    web_log = "\n".join(record.getMessage() for record in caplog.records)
    worker_log = worker.log()
    assert "running kind export" in web_log + worker_log  # both sides did log, at DEBUG
    assert "DEBUG" in worker_log
    manifest_id = payload.url.rsplit("/", 1)[1]
    secrets = [DEMO_IDENTIFIER_VALUE, payload.key, manifest_id, PASSCODE, "shlink:/", *CLINICAL_TEXT]
    for name, text in (("web", web_log), ("worker", worker_log)):
        for secret in secrets:
            assert secret not in text, f"{secret!r} in the {name} log"

    # The audit trail the flow wrote, on the web side and in the worker: every field of every row.
    trail = list(AuditEntry.objects.filter(id__gt=trail_before).order_by("id"))
    rows = [
        json.dumps(
            {field.attname: getattr(row, field.attname) for field in row._meta.concrete_fields}, default=str
        )
        for row in trail
    ]
    written = {(row.action, row.outcome) for row in trail}
    assert {
        (Action.SIGNED_IN, Outcome.OK),
        (Action.SOURCE_CONNECTED, Outcome.OK),
        (Action.PULL_STARTED, Outcome.OK),
        (Action.PULL_FINISHED, Outcome.SUCCEEDED),  # written by the worker
        (Action.EXPORT_MADE, Outcome.OK),  # written by the worker
        (Action.EXPORT_DOWNLOADED, Outcome.OK),
        (Action.SHARE_CREATED, Outcome.OK),
        (Action.LINK_MANIFEST, Outcome.WRONG_PASSCODE),
        (Action.LINK_MANIFEST, Outcome.OPENED),
        (Action.LINK_FILE, Outcome.FILE_SENT),
    } <= written, sorted(written)
    assert [row.action for row in trail].count(Action.EXPORT_MADE) == 2  # JSON and PDF
    # The one free text the trail keeps is the name the recipient gave (the citizen must see who): it is
    # there, so the rows as serialised here do hold the fields a secret would hide in.
    assert any("Dr. Ingrid Holm" in row for row in rows)
    for row in rows:
        for secret in secrets:
            assert secret not in row, f"{secret!r} in the audit row {row}"
