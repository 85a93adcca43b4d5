"""Celery tasks of the audit trail: ids in, one service call, nothing else."""

from celery import shared_task

from portal.audit import services


@shared_task(name="portal.audit.tasks.audit_purge")
def audit_purge() -> None:
    services.audit_purge()
