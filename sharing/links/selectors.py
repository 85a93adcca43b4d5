"""Reads for the citizen's link pages: only ever the signed-in citizen's own rows."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from django.db.models import Count, QuerySet

from portal.accounts.models import User
from portal.audit.models import RECIPIENT_ACTIONS, AuditEntry
from portal.audit.selectors import accesses_of_owner, accesses_of_target
from sharing.models import Share

# How the audit trail names a share.
SHARE_TARGET = "sharing.share"


def shares_of_owner(*, owner: User) -> QuerySet[Share]:
    """The only way views reach shares: another citizen's share is not in here, hence a 404."""
    return Share.objects.filter(owner=owner).select_related("job")


@dataclass(frozen=True)
class Access:
    """One request that reached one of the citizen's links, and the link (None once it is gone)."""

    event: AuditEntry
    share: Share | None


def accesses_of_share(*, share: Share) -> QuerySet[AuditEntry]:
    return accesses_of_target(owner=share.owner, target_type=SHARE_TARGET, target_id=str(share.id))


def link_accesses_of_owner(*, owner: User) -> QuerySet[AuditEntry]:
    return accesses_of_owner(owner=owner).filter(target_type=SHARE_TARGET)


def with_shares(*, owner: User, events: Iterable[AuditEntry]) -> list[Access]:
    """The events with the citizen's own share each names (one query for a page of them)."""
    listed = list(events)
    ids = {event.target_id for event in listed}
    shares = {str(share.id): share for share in Share.objects.filter(owner=owner, id__in=ids)}
    return [Access(event=event, share=shares.get(event.target_id)) for event in listed]


def access_counts(*, share_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many requests reached each of these links."""
    rows = (
        AuditEntry.objects.filter(
            target_type=SHARE_TARGET,
            target_id__in=[str(share_id) for share_id in share_ids],
            action__in=RECIPIENT_ACTIONS,
        )
        .values("target_id")
        .annotate(total=Count("id"))
    )
    return {uuid.UUID(row["target_id"]): row["total"] for row in rows}
