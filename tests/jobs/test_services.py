from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from portal.accounts.models import User
from portal.jobs import registry
from portal.jobs.kinds import WORKER_CHECK
from portal.jobs.models import Job, JobStatus
from portal.jobs.registry import JobError, JobOutcome, job_kind
from portal.jobs.services import GAVE_UP, UNEXPECTED_FAILURE, job_claim, job_create, job_run, jobs_sweep

pytestmark = pytest.mark.django_db

calls: list[str] = []


@pytest.fixture
def test_kinds() -> Iterator[None]:
    """Job kinds that count their runs or fail on purpose: real registry entries, run by the real service."""

    @job_kind("test_count", title="count")
    def count(job: Job, report: registry.ProgressReporter) -> JobOutcome:
        report(40, "counting")
        calls.append(str(job.id))
        return JobOutcome(detail="counted", result_url="/somewhere/")

    @job_kind("test_refuse", title="refuse")
    def refuse(job: Job, report: registry.ProgressReporter) -> JobOutcome:
        raise JobError("The source refused the request.")

    @job_kind("test_crash", title="crash")
    def crash(job: Job, report: registry.ProgressReporter) -> JobOutcome:
        raise RuntimeError("secret internals")

    calls.clear()
    yield
    for name in ("test_count", "test_refuse", "test_crash"):
        registry._KINDS.pop(name)


def test_job_is_sent_only_after_commit(citizen: User, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        job_create(owner=citizen, kind=WORKER_CHECK)
    assert len(callbacks) == 1


def test_rolled_back_job_is_never_sent(citizen: User, django_capture_on_commit_callbacks: Any) -> None:
    @transaction.atomic
    def create_then_fail() -> None:
        job_create(owner=citizen, kind=WORKER_CHECK)
        raise ZeroDivisionError

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(ZeroDivisionError):
        create_then_fail()
    assert callbacks == []
    assert not Job.objects.exists()


def test_unknown_kind_is_refused_at_creation(citizen: User) -> None:
    with pytest.raises(LookupError):
        job_create(owner=citizen, kind="no_such_kind")
    assert not Job.objects.exists()


def test_claim_is_won_once(citizen: User) -> None:
    job = job_create(owner=citizen, kind=WORKER_CHECK)
    assert job_claim(job_id=job.id) is not None
    assert job_claim(job_id=job.id) is None
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.attempts == 1


def test_same_job_delivered_twice_runs_once(citizen: User, test_kinds: None) -> None:
    job = job_create(owner=citizen, kind="test_count")
    job_run(job_id=job.id)
    job_run(job_id=job.id)
    assert calls == [str(job.id)]
    job.refresh_from_db()
    assert (job.status, job.progress, job.detail, job.result_url) == (
        JobStatus.SUCCEEDED, 100, "counted", "/somewhere/"
    )  # fmt: skip
    assert job.finished_at is not None


def test_readable_failure_is_shown_as_it_is(citizen: User, test_kinds: None) -> None:
    job = job_create(owner=citizen, kind="test_refuse")
    job_run(job_id=job.id)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.detail == "The source refused the request."


def test_unexpected_failure_hides_internals(citizen: User, test_kinds: None) -> None:
    job = job_create(owner=citizen, kind="test_crash")
    job_run(job_id=job.id)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.detail == UNEXPECTED_FAILURE
    assert "secret" not in job.detail


def test_sweeper_resends_forgotten_and_restarts_stuck_jobs(
    citizen: User, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    long_ago = timezone.now() - timedelta(hours=2)
    forgotten = job_create(owner=citizen, kind=WORKER_CHECK)
    stuck = job_create(owner=citizen, kind=WORKER_CHECK)
    exhausted = job_create(owner=citizen, kind=WORKER_CHECK)
    fresh = job_create(owner=citizen, kind=WORKER_CHECK)
    Job.objects.filter(id=forgotten.id).update(updated_at=long_ago)
    Job.objects.filter(id=stuck.id).update(status=JobStatus.RUNNING, attempts=1, updated_at=long_ago)
    Job.objects.filter(id=exhausted.id).update(
        status=JobStatus.RUNNING, attempts=settings.JOB_MAX_ATTEMPTS, updated_at=long_ago
    )

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        counts = jobs_sweep()

    assert counts == {"resent": 1, "restarted": 1, "failed": 1}
    assert len(callbacks) == 2
    assert Job.objects.get(id=stuck.id).status == JobStatus.QUEUED
    assert Job.objects.get(id=exhausted.id).status == JobStatus.FAILED
    assert Job.objects.get(id=exhausted.id).detail == GAVE_UP
    assert Job.objects.get(id=fresh.id).status == JobStatus.QUEUED
    assert jobs_sweep() == {"resent": 0, "restarted": 0, "failed": 0}
