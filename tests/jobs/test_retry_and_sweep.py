"""The job page's "Try again" and the sweeper's measure of a dead job, without real processes
(tests/jobs/test_never_lost.py runs both through real workers)."""

import re
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from portal.accounts.models import User
from portal.jobs.kinds import WORKER_CHECK
from portal.jobs.models import Job, JobStatus
from portal.jobs.services import STUCK_GRACE_SECONDS, job_create, job_retry, jobs_sweep
from sharing.exports.services import EXPORT_KIND

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed_job(citizen: User) -> Job:
    job = job_create(owner=citizen, kind=WORKER_CHECK)
    Job.objects.filter(id=job.id).update(
        status=JobStatus.FAILED,
        progress=50,
        detail="The data source could not be reached. Please try again later.",
        attempts=2,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    return job


def test_retry_queues_a_failed_job_once_with_fresh_attempts(
    failed_job: Job, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        assert job_retry(job=failed_job) is True
        assert job_retry(job=failed_job) is False  # a double click
    assert len(callbacks) == 1
    failed_job.refresh_from_db()
    assert (failed_job.status, failed_job.progress, failed_job.detail) == (JobStatus.QUEUED, 0, "")
    assert (failed_job.attempts, failed_job.started_at, failed_job.finished_at) == (0, None, None)


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED])
def test_only_a_failed_job_is_retried(failed_job: Job, status: str) -> None:
    Job.objects.filter(id=failed_job.id).update(status=status)
    assert job_retry(job=failed_job) is False
    assert Job.objects.get(id=failed_job.id).status == status


def test_a_job_of_a_retired_kind_is_not_retried(failed_job: Job) -> None:
    Job.objects.filter(id=failed_job.id).update(kind="retired_kind")
    failed_job.refresh_from_db()
    assert job_retry(job=failed_job) is False


def test_try_again_button_is_a_csrf_protected_post_of_the_owner(
    citizen: User, other_citizen: User, failed_job: Job
) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(citizen)
    page = browser.get(f"/jobs/{failed_job.id}/").content.decode()
    retry_url = f"/jobs/{failed_job.id}/retry/"
    assert f'action="{retry_url}" id="job-retry"' in page
    assert 'id="job-retry" hidden' not in page
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token

    assert browser.get(retry_url).status_code == 405
    assert browser.post(retry_url).status_code == 403
    stranger = Client()
    stranger.force_login(other_citizen)
    assert stranger.post(retry_url).status_code == 404
    anonymous = Client().post(retry_url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")
    assert Job.objects.get(id=failed_job.id).status == JobStatus.FAILED

    pressed = browser.post(retry_url, {"csrfmiddlewaretoken": token.group(1)})
    assert (pressed.status_code, pressed["Location"]) == (302, f"/jobs/{failed_job.id}/")
    assert Job.objects.get(id=failed_job.id).status == JobStatus.QUEUED
    assert 'id="job-retry" hidden' in browser.get(f"/jobs/{failed_job.id}/").content.decode()
    again = browser.post(retry_url, {"csrfmiddlewaretoken": token.group(1)}, follow=True)
    assert "Only a job that failed can be tried again." in again.content.decode()


def test_sweeper_restarts_a_running_job_once_silent_past_its_own_kinds_hard_limit(
    citizen: User, django_capture_on_commit_callbacks: Any
) -> None:
    now = timezone.now()
    export_limit = timedelta(seconds=settings.EXPORT_TIME_LIMIT + STUCK_GRACE_SECONDS)
    dead_export = job_create(owner=citizen, kind=EXPORT_KIND)
    live_export = job_create(owner=citizen, kind=EXPORT_KIND)
    # A kind without its own limit has the worker's (CELERY_TASK_TIME_LIMIT): not dead yet at this age.
    check = job_create(owner=citizen, kind=WORKER_CHECK)
    running = {"status": JobStatus.RUNNING, "attempts": 1}
    Job.objects.filter(id__in=[dead_export.id, check.id]).update(
        **running, updated_at=now - export_limit - timedelta(seconds=5)
    )
    Job.objects.filter(id=live_export.id).update(
        **running, updated_at=now - export_limit + timedelta(seconds=5)
    )

    with django_capture_on_commit_callbacks() as callbacks:
        assert jobs_sweep() == {"resent": 0, "restarted": 1, "failed": 0}
    assert len(callbacks) == 1
    statuses = dict(Job.objects.values_list("id", "status"))
    assert statuses[dead_export.id] == JobStatus.QUEUED
    assert statuses[live_export.id] == JobStatus.RUNNING
    assert statuses[check.id] == JobStatus.RUNNING


def test_the_sweep_ends_jobs_of_a_retired_kind_and_resends_the_rest(
    citizen: User, django_capture_on_commit_callbacks: Any
) -> None:
    old = timezone.now() - timedelta(seconds=settings.JOB_REQUEUE_AFTER_SECONDS + 60)
    retired = job_create(owner=citizen, kind=WORKER_CHECK)
    current = job_create(owner=citizen, kind=WORKER_CHECK)
    Job.objects.filter(id=retired.id).update(kind="retired_kind", updated_at=old)
    Job.objects.filter(id=current.id).update(updated_at=old)
    with django_capture_on_commit_callbacks() as callbacks:
        counts = jobs_sweep()
    assert counts["failed"] == 1
    assert Job.objects.get(id=retired.id).status == JobStatus.FAILED
    assert Job.objects.get(id=retired.id).detail.startswith("This kind of job is no longer offered")
    assert Job.objects.get(id=current.id).status == JobStatus.QUEUED
    assert len(callbacks) == 1  # the current job was sent again
