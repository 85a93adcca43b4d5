"""The retention purge: rows older than ACCESS_LOG_RETENTION_DAYS go, every newer row stays."""

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from portal.accounts.models import User
from portal.audit import tasks
from portal.audit.models import Action, AuditEntry
from portal.audit.services import audit_purge
from tests.audit.conftest import stored_entry

pytestmark = pytest.mark.django_db


def test_only_rows_older_than_the_retention_go(citizen: User, settings: Any) -> None:
    now = timezone.now()
    days = settings.ACCESS_LOG_RETENTION_DAYS
    assert days >= 3 * 365
    too_old = [
        stored_entry(citizen, action=Action.LINK_MANIFEST, created_at=now - timedelta(days=days, seconds=1)),
        stored_entry(None, action=Action.ADMIN_CHANGED, created_at=now - timedelta(days=days + 400)),
    ]
    kept = [
        stored_entry(citizen, action=Action.LINK_MANIFEST, created_at=now - timedelta(days=days - 1)),
        stored_entry(citizen, action=Action.EXPORT_MADE, created_at=now - timedelta(days=3 * 365 - 1)),
        stored_entry(citizen, action=Action.SIGNED_IN, created_at=now),
    ]

    assert audit_purge(now=now) == 2

    assert set(AuditEntry.objects.all()) == set(kept)
    assert not AuditEntry.objects.filter(pk__in=[entry.pk for entry in too_old]).exists()


def test_the_purge_keeps_three_years_even_if_told_less(citizen: User, settings: Any) -> None:
    settings.ACCESS_LOG_RETENTION_DAYS = 30
    now = timezone.now()
    two_years = stored_entry(citizen, action=Action.LINK_FILE, created_at=now - timedelta(days=730))

    assert audit_purge(now=now) == 0
    assert AuditEntry.objects.get() == two_years


def test_the_periodic_task_purges_as_time_passes(citizen: User, settings: Any) -> None:
    entry = stored_entry(citizen, action=Action.SHARE_CREATED)
    tasks.audit_purge()
    assert AuditEntry.objects.get() == entry

    with time_machine.travel(timezone.now() + timedelta(days=settings.ACCESS_LOG_RETENTION_DAYS + 1)):
        tasks.audit_purge()

    assert not AuditEntry.objects.exists()
