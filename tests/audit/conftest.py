"""Audit fixtures: rows written straight to the table, with any timestamp."""

from datetime import datetime
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from portal.accounts.models import User
from portal.audit.models import Action, ActorKind, AuditEntry


@pytest.fixture
def citizen_client(citizen_client: Client) -> Client:
    """Signed in, without the row its own sign-in wrote: each test reads exactly the rows it wrote."""
    AuditEntry.objects.filter(action=Action.SIGNED_IN).delete()
    return citizen_client


def stored_entry(
    owner: User | None, *, action: str, created_at: datetime | None = None, **fields: Any
) -> AuditEntry:
    """One saved row as the services would leave it, at any time (the default is now)."""
    fields.setdefault("actor_kind", ActorKind.SYSTEM)
    return AuditEntry.objects.create(
        owner=owner, action=action, created_at=created_at or timezone.now(), **fields
    )
