"""Expired sessions are deleted: one suspended for re-authentication may hold a form's values."""

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from portal.accounts.services import sessions_purge

pytestmark = pytest.mark.django_db


def test_sessions_past_their_expiry_are_deleted_and_the_others_kept() -> None:
    old, current = SessionStore(), SessionStore()
    old["form"] = "suspended"
    current["form"] = "in use"
    old.save()
    current.save()
    Session.objects.filter(session_key=old.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )

    assert sessions_purge() == 1
    assert list(Session.objects.values_list("session_key", flat=True)) == [current.session_key]


def test_beat_runs_the_purge_every_hour(settings: Any) -> None:
    import portal.accounts.tasks  # noqa: F401  (registers the task, as the worker's autodiscovery does)

    entry = settings.CELERY_BEAT_SCHEDULE["sessions-purge"]
    assert entry == {"task": "portal.accounts.tasks.sessions_purge", "schedule": 3600.0}
