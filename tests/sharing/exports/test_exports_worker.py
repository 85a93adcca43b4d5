"""The Yellow Button end to end with real parts: pull from the FHIR sandbox, press the button over HTTP,
a real Celery worker (Redis, PostgreSQL) builds the document, the job page hands over the download."""

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from core.ips.validate import validate_document
from portal.accounts.models import User
from portal.jobs.models import JobStatus
from portal.records.management.commands.seed_demo import DEMO_IDENTIFIER_SYSTEM, DEMO_IDENTIFIER_VALUE
from tests.conftest import ProcessHandle, child_env, database_url_of_test_db, start_worker, wait_for
from tests.records.conftest import link_identifier, make_source, pull_now

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


@pytest.fixture
def export_worker(postgres: None, redis_url: str, tmp_path: Path, settings: Any) -> Any:
    """A real worker sharing this test's database and file storage."""
    settings.MEDIA_ROOT = tmp_path / "media"
    worker = start_worker(
        child_env(
            DATABASE_URL=database_url_of_test_db(), REDIS_URL=redis_url, MEDIA_ROOT=str(settings.MEDIA_ROOT)
        ),
        tmp_path / "worker.log",
    )
    yield worker
    worker.stop()


@pytest.mark.parametrize("export_format", ["json", "pdf"])
def test_the_yellow_button_in_a_real_worker(
    export_worker: ProcessHandle, fhir_sandbox: Any, citizen: User, client: Client, export_format: str
) -> None:
    link_identifier(citizen, DEMO_IDENTIFIER_SYSTEM, DEMO_IDENTIFIER_VALUE)
    make_source(fhir_sandbox.base_url, patient_identifier_system=DEMO_IDENTIFIER_SYSTEM, name="Sandbox")
    pull_job, _pull = pull_now(citizen)
    assert pull_job.status == JobStatus.SUCCEEDED, pull_job.detail
    client.force_login(citizen)

    job_url = client.post("/exports/", {"format": export_format})["Location"]

    def finished() -> bool:
        status = client.get(job_url, HTTP_ACCEPT="application/json").json()["status"]
        return status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    wait_for(finished, timeout=90, what="the export job")
    answer = client.get(job_url, HTTP_ACCEPT="application/json").json()
    assert answer["status"] == JobStatus.SUCCEEDED, (answer, export_worker.log()[-3000:])
    assert answer["progress"] == 100
    page = client.get(job_url).content.decode()
    assert f'href="{answer["result_url"]}"' in page
    download = client.get(answer["result_url"])
    assert download.status_code == 200
    body = download.getvalue()
    if export_format == "json":
        assert validate_document(json.loads(body), bundle_json=body) == []
        assert "Patricia" in body.decode()
    else:
        assert body.startswith(b"%PDF-")
    # The worker names no clinical content in its log.
    log = export_worker.log()
    assert "job " in log
    for word in ("Patricia", "enicillin", "ypertension", "ABC1234"):
        assert word not in log
