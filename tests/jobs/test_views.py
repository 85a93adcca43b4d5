import uuid
from typing import Any

import pytest

from portal.accounts.models import User
from portal.jobs.kinds import WORKER_CHECK
from portal.jobs.models import Job, JobStatus
from portal.jobs.services import job_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(citizen: User) -> Job:
    return job_create(owner=citizen, kind=WORKER_CHECK)


def test_progress_page_shows_the_job(citizen_client: Any, job: Job) -> None:
    response = citizen_client.get(f"/jobs/{job.id}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Background worker check" in html
    assert 'data-status="queued"' in html
    assert 'src="/static/js/job-progress.js"' in html
    assert "no-store" in response["Cache-Control"]


def test_json_answer_has_the_contract_shape(citizen_client: Any, job: Job) -> None:
    Job.objects.filter(id=job.id).update(
        status=JobStatus.RUNNING, progress=40, detail="A worker picked up the job."
    )
    response = citizen_client.get(f"/jobs/{job.id}/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "status": "running",
        "progress": 40,
        "detail": "A worker picked up the job.",
        "result_url": None,
    }


def test_finished_job_gives_its_result_url(citizen_client: Any, job: Job) -> None:
    Job.objects.filter(id=job.id).update(status=JobStatus.SUCCEEDED, progress=100, result_url="/exports/x/")
    body = citizen_client.get(f"/jobs/{job.id}/", HTTP_ACCEPT="application/json").json()
    assert body["status"] == "succeeded"
    assert body["result_url"] == "/exports/x/"


def test_another_citizens_job_is_404(client: Any, other_citizen: User, job: Job) -> None:
    client.force_login(other_citizen)
    assert client.get(f"/jobs/{job.id}/").status_code == 404
    assert client.get(f"/jobs/{job.id}/", HTTP_ACCEPT="application/json").status_code == 404


def test_unknown_job_is_404(citizen_client: Any) -> None:
    assert citizen_client.get(f"/jobs/{uuid.uuid4()}/").status_code == 404


def test_anonymous_visitor_is_sent_to_login(client: Any, job: Job) -> None:
    response = client.get(f"/jobs/{job.id}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_progress_page_speaks_danish(citizen_client: Any, job: Job) -> None:
    citizen_client.post("/language/", {"language": "da", "next": "/"})
    html = citizen_client.get(f"/jobs/{job.id}/").content.decode()
    assert '<html lang="da">' in html


def test_job_of_a_retired_kind_still_has_a_page(citizen_client: Any, job: Job) -> None:
    Job.objects.filter(id=job.id).update(kind="retired_kind")
    response = citizen_client.get(f"/jobs/{job.id}/")
    assert response.status_code == 200
    assert "Background job" in response.content.decode()
