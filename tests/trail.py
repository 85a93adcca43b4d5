"""Reading the audit trail in tests: a link's accesses and an export's history."""

from django.db.models import QuerySet

from portal.audit.models import RECIPIENT_ACTIONS, AuditEntry
from sharing.models import Export, Share


def accesses_of(share: Share) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(
        target_type="sharing.share", target_id=str(share.id), action__in=RECIPIENT_ACTIONS
    ).order_by("id")


def access_outcomes(share: Share) -> list[str]:
    return list(accesses_of(share).values_list("outcome", flat=True))


def export_history(export: Export, action: str) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(target_type="sharing.export", target_id=str(export.id), action=action)
