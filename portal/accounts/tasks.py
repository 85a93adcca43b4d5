"""Celery tasks of accounts: one service call each."""

from celery import shared_task

from portal.accounts import services


@shared_task(name="portal.accounts.tasks.sessions_purge")
def sessions_purge() -> None:
    services.sessions_purge()
