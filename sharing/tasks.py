"""Celery tasks of the Yellow Button: ids in, one service call, nothing else."""

from celery import shared_task

from sharing import services, shares


@shared_task(name="sharing.tasks.exports_purge")
def exports_purge() -> None:
    services.exports_purge()


@shared_task(name="sharing.tasks.shares_purge")
def shares_purge() -> None:
    shares.shares_purge()
