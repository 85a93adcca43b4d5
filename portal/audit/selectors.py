"""Reads of the audit trail: only ever one citizen's own rows."""

from django.db.models import QuerySet

from portal.accounts.models import User
from portal.audit.models import EXPORT_ACTIONS, RECIPIENT_ACTIONS, AuditEntry


def entries_of_owner(*, owner: User) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(owner=owner).select_related("actor")


def accesses_of_owner(*, owner: User) -> QuerySet[AuditEntry]:
    """The citizen's access log: every request that reached one of their links."""
    return AuditEntry.objects.filter(owner=owner, action__in=RECIPIENT_ACTIONS)


def accesses_of_target(*, owner: User, target_type: str, target_id: str) -> QuerySet[AuditEntry]:
    return accesses_of_owner(owner=owner).filter(target_type=target_type, target_id=target_id)


def exports_activity_of_owner(*, owner: User, limit: int = 50) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(owner=owner, action__in=EXPORT_ACTIONS)[:limit])
