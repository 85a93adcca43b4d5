"""Celery tasks of the record: one service call each."""

from celery import shared_task

from portal.records import services


@shared_task(name="portal.records.tasks.pulls_retry_due")
def pulls_retry_due() -> None:
    services.pulls_retry_due()
