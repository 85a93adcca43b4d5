import re
import uuid
from typing import Any

import pytest

from portal.accounts.models import User
from portal.jobs.kinds import WORKER_CHECK
from portal.jobs.models import Job, JobStatus
from portal.jobs.registry import kind_get
from portal.jobs.services import job_create
from portal.records.services import PULL_KIND
from sharing.exports.services import EXPORT_KIND
from sharing.links.services import SHARE_KIND

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


def heading_of(html: str) -> str:
    match = re.search(r'<h1 id="job-heading"[^>]*>(.*?)</h1>', html, flags=re.S)
    assert match, html[:2000]
    return match.group(1).strip()


@pytest.fixture
def export_job(citizen: User) -> Job:
    return job_create(owner=citizen, kind=EXPORT_KIND)


def test_the_heading_says_what_is_being_done_while_the_job_waits(
    citizen_client: Any, export_job: Job
) -> None:
    html = citizen_client.get(f"/jobs/{export_job.id}/").content.decode()
    assert heading_of(html) == "Preparing your patient summary"
    assert re.search(r'id="job-failed-help"[^>]*hidden', html)


def test_after_success_the_heading_says_it_is_ready(citizen_client: Any, export_job: Job) -> None:
    Job.objects.filter(id=export_job.id).update(status=JobStatus.SUCCEEDED, progress=100, result_url="/x/")
    html = citizen_client.get(f"/jobs/{export_job.id}/").content.decode()

    assert heading_of(html) == "Your patient summary is ready"
    assert "<title>Your patient summary is ready" in html
    # "Preparing" stays only in the hidden texts the script uses, never on the page or in its title.
    assert "Preparing" not in re.sub(r"<template.*?</template>", "", html, flags=re.S)


def test_after_failure_the_page_says_so_and_what_to_do(citizen_client: Any, export_job: Job) -> None:
    Job.objects.filter(id=export_job.id).update(
        status=JobStatus.FAILED, progress=40, detail="Something went wrong on our side."
    )
    html = citizen_client.get(f"/jobs/{export_job.id}/").content.decode()

    assert heading_of(html) == "Your patient summary could not be made"
    assert "Preparing" not in re.sub(r"<template.*?</template>", "", html, flags=re.S)
    help_block = re.search(r'<div class="job-failed-help"[^>]*>', html)
    assert help_block
    assert "hidden" not in help_block.group(0)
    assert "What you can do" in html
    # A half-drawn bar would say it is still going: it is not shown after a failure.
    assert re.search(r'<p class="job-progress-row" id="job-progress-row" hidden>', html)


def test_a_general_job_gets_general_finished_words(citizen_client: Any, job: Job) -> None:
    Job.objects.filter(id=job.id).update(status=JobStatus.FAILED)
    assert heading_of(citizen_client.get(f"/jobs/{job.id}/").content.decode()) == "This did not work"
    Job.objects.filter(id=job.id).update(status=JobStatus.SUCCEEDED)
    assert heading_of(citizen_client.get(f"/jobs/{job.id}/").content.decode()) == "Done"


@pytest.mark.parametrize(
    ("kind", "done", "failed"),
    [
        (EXPORT_KIND, "Your patient summary is ready", "Your patient summary could not be made"),
        (SHARE_KIND, "Your link is ready", "Your link could not be prepared"),
        (PULL_KIND, "Your record has been fetched", "Your record could not be fetched"),
    ],
)
def test_each_kind_says_its_own_finished_heading(
    citizen_client: Any, citizen: User, kind: str, done: str, failed: str
) -> None:
    assert (kind_get(kind).done_title, kind_get(kind).failed_title) == (done, failed)
    job = job_create(owner=citizen, kind=kind)
    Job.objects.filter(id=job.id).update(status=JobStatus.SUCCEEDED)
    assert heading_of(citizen_client.get(f"/jobs/{job.id}/").content.decode()) == done
    Job.objects.filter(id=job.id).update(status=JobStatus.FAILED)
    html = citizen_client.get(f"/jobs/{job.id}/").content.decode()
    assert heading_of(html) == failed
    # The script's texts for each state carry the same words, so the heading stays right as the job moves.
    assert f'<span data-status="succeeded">{done}</span>' in html


def test_a_job_at_nought_per_cent_has_an_empty_bar_and_says_so(citizen_client: Any, job: Job) -> None:
    html = citizen_client.get(f"/jobs/{job.id}/").content.decode()
    assert re.search(r'<progress id="job-progress" max="100" value="0">', html)
    assert '<label for="job-progress">Progress</label>' in html
    assert 'data-testid="job-percent">0&nbsp;%</span>' in html
