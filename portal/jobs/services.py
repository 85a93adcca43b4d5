"""Writes for background jobs: create and enqueue after commit, claim atomically, report, finish, sweep."""

import logging
import operator
import uuid
from datetime import datetime, timedelta
from functools import reduce
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_noop

from portal.accounts.models import User
from portal.celery import app as celery_app
from portal.jobs.models import Job, JobStatus
from portal.jobs.registry import JobError, kind_get

logger = logging.getLogger(__name__)

RUN_TASK = "portal.jobs.tasks.job_run"
UNEXPECTED_FAILURE = gettext_noop(
    "Something went wrong on our side. Nothing was lost; please try again later."
)
TOO_SLOW = gettext_noop("This took longer than allowed and was stopped. Please try again later.")
GAVE_UP = gettext_noop("This job was interrupted too many times and was stopped. Please try again.")
RETIRED_KIND = gettext_noop("This kind of job is no longer offered, so it was stopped.")
# A running job is dead once it has shown no sign of life for longer than its hard time limit: the worker
# kills it at that limit (billiard checks every second). The grace covers that check and clock differences
# between the worker's and the sweeper's hosts.
STUCK_GRACE_SECONDS = 15


def job_create(*, owner: User | None, kind: str, params: dict[str, Any] | None = None) -> Job:
    """Create a queued job; it is sent to the worker only once the surrounding transaction commits."""
    kind_get(kind)  # unknown kinds fail here, in the request, not later in a worker
    job = Job.objects.create(owner=owner, kind=kind, params=params or {})
    job_enqueue(job=job)
    return job


def job_enqueue(*, job: Job) -> None:
    kind = kind_get(job.kind)
    job_id = str(job.id)
    limits = {
        name: value
        for name, value in (("soft_time_limit", kind.soft_time_limit), ("time_limit", kind.time_limit))
        if value is not None
    }
    # A rolled-back job was never there: nothing may reach the broker before the row is committed.
    transaction.on_commit(
        lambda: celery_app.send_task(RUN_TASK, args=[job_id], queue=kind.queue, **limits)  # type: ignore[arg-type]
    )


def job_claim(*, job_id: uuid.UUID) -> Job | None:
    """Move a queued job to running. Exactly one caller wins; the others get None and must do nothing."""
    claimed = Job.objects.filter(id=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING,
        started_at=timezone.now(),
        updated_at=timezone.now(),
        attempts=F("attempts") + 1,
    )
    if claimed != 1:
        return None
    return Job.objects.get(id=job_id)


def job_report_progress(*, job_id: uuid.UUID, progress: int, detail: str) -> None:
    Job.objects.filter(id=job_id, status=JobStatus.RUNNING).update(
        progress=max(0, min(progress, 100)), detail=detail[:500], updated_at=timezone.now()
    )


def job_finish(*, job_id: uuid.UUID, status: JobStatus, detail: str, result_url: str = "") -> None:
    Job.objects.filter(id=job_id, status=JobStatus.RUNNING).update(
        status=status,
        progress=100 if status == JobStatus.SUCCEEDED else F("progress"),
        detail=detail[:500],
        result_url=result_url,
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )


def job_run(*, job_id: uuid.UUID) -> None:
    """Run one job in a worker. Safe to call twice for the same job: only the claimant does the work."""
    job = job_claim(job_id=job_id)
    if job is None:
        logger.info("job %s: not queued (missing, or claimed elsewhere); nothing to do", job_id)
        return
    logger.info("job %s: running kind %s, attempt %d", job.id, job.kind, job.attempts)
    kind = kind_get(job.kind)
    try:
        outcome = kind.run(
            job, lambda progress, detail: job_report_progress(job_id=job.id, progress=progress, detail=detail)
        )
    except JobError as error:
        logger.info("job %s: failed: %s", job.id, error)
        job_finish(job_id=job.id, status=JobStatus.FAILED, detail=str(error))
    except SoftTimeLimitExceeded:
        logger.warning("job %s: stopped at the soft time limit", job.id)
        job_finish(job_id=job.id, status=JobStatus.FAILED, detail=TOO_SLOW)
    except Exception:
        logger.exception("job %s: unexpected error", job.id)
        job_finish(job_id=job.id, status=JobStatus.FAILED, detail=UNEXPECTED_FAILURE)
    else:
        logger.info("job %s: succeeded", job.id)
        job_finish(
            job_id=job.id, status=JobStatus.SUCCEEDED, detail=outcome.detail, result_url=outcome.result_url
        )


def job_retry(*, job: Job) -> bool:
    """Queue a failed job again, as the citizen asked on its page: the same row (and page), fresh attempts.

    Only a failed job moves, once (a double click queues it once). False: it was not failed, or its kind no
    longer exists.
    """
    try:
        kind_get(job.kind)
    except LookupError:
        return False
    with transaction.atomic():
        retried = Job.objects.filter(id=job.id, status=JobStatus.FAILED).update(
            status=JobStatus.QUEUED,
            progress=0,
            detail="",
            result_url="",
            attempts=0,
            started_at=None,
            finished_at=None,
            updated_at=timezone.now(),
        )
        if retried != 1:
            return False
        job_enqueue(job=job)
    logger.info("job %s: queued again at its owner's request", job.id)
    return True


def _hard_time_limit(kind_name: str) -> int:
    """Seconds after which the worker kills a job of this kind: the kind's own limit, or the worker's."""
    try:
        limit = kind_get(kind_name).time_limit
    except LookupError:
        limit = None
    return limit if limit is not None else settings.CELERY_TASK_TIME_LIMIT


def _stuck_running(*, now: datetime) -> QuerySet[Job]:
    """Running jobs no worker can still be running: silent for longer than their kind's hard time limit."""
    kinds = Job.objects.filter(status=JobStatus.RUNNING).order_by().values_list("kind", flat=True).distinct()
    conditions = [
        Q(kind=name, updated_at__lt=now - timedelta(seconds=_hard_time_limit(name) + STUCK_GRACE_SECONDS))
        for name in kinds
    ]
    if not conditions:
        return Job.objects.none()
    return Job.objects.filter(reduce(operator.or_, conditions), status=JobStatus.RUNNING)


def jobs_sweep() -> dict[str, int]:
    """Periodic repair: the broker may lose messages (restart, flush) and workers may die mid-job.

    Re-sends jobs queued for too long, puts jobs stuck in running past their hard time limit back in the
    queue, and fails those that have used up their attempts. Sending a job twice is harmless (claims are
    atomic).
    """
    now = timezone.now()
    requeue_before = now - timedelta(seconds=settings.JOB_REQUEUE_AFTER_SECONDS)
    counts = {"resent": 0, "restarted": 0, "failed": 0}

    stale_running = _stuck_running(now=now)
    counts["failed"] = stale_running.filter(attempts__gte=settings.JOB_MAX_ATTEMPTS).update(
        status=JobStatus.FAILED, detail=GAVE_UP, finished_at=now, updated_at=now
    )
    restart_ids = list(stale_running.values_list("id", flat=True))
    # The updated_at condition again: a job that reported progress meanwhile is alive and keeps running.
    counts["restarted"] = stale_running.filter(id__in=restart_ids).update(
        status=JobStatus.QUEUED, updated_at=now
    )
    resend_ids = list(
        Job.objects.filter(status=JobStatus.QUEUED, updated_at__lt=requeue_before).values_list(
            "id", flat=True
        )
    )
    counts["resent"] = Job.objects.filter(id__in=resend_ids, status=JobStatus.QUEUED).update(updated_at=now)
    for job in Job.objects.filter(id__in=[*restart_ids, *resend_ids], status=JobStatus.QUEUED):
        try:
            job_enqueue(job=job)
        except LookupError:
            # A kind no longer in the code: no worker can run it. Ending it lets the sweep go on.
            counts["failed"] += Job.objects.filter(id=job.id, status=JobStatus.QUEUED).update(
                status=JobStatus.FAILED, detail=RETIRED_KIND, finished_at=now, updated_at=now
            )
    if any(counts.values()):
        logger.warning("jobs sweep: %s", counts)
    return counts
