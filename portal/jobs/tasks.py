"""Celery tasks: ids in, one service call, nothing else."""

import uuid

from celery import shared_task

from portal.jobs import services


@shared_task(name="portal.jobs.tasks.job_run")
def job_run(job_id: str) -> None:
    services.job_run(job_id=uuid.UUID(job_id))


@shared_task(name="portal.jobs.tasks.jobs_sweep")
def jobs_sweep() -> None:
    services.jobs_sweep()
