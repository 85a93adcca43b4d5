"""Celery tasks of the Yellow Button: ids in, one service call, nothing else."""

from celery import shared_task

from sharing.exports import services as exports
from sharing.links import services as links


@shared_task(name="sharing.tasks.exports_purge")
def exports_purge() -> None:
    exports.exports_purge()


@shared_task(name="sharing.tasks.shares_purge")
def shares_purge() -> None:
    links.shares_purge()
