"""Reads for the download page: only ever the signed-in citizen's own rows."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from portal.accounts.models import User
from portal.audit.models import AuditEntry
from portal.audit.selectors import exports_activity_of_owner
from sharing.models import Export


def exports_of_owner(*, owner: User) -> QuerySet[Export]:
    """The only way views reach exports: anything not in here is another citizen's, hence a 404."""
    return Export.objects.filter(owner=owner).select_related("job")


@dataclass(frozen=True)
class ExportActivity:
    """A row of the page's history: what happened, to which of the citizen's summaries (if still there)."""

    entry: AuditEntry
    export: Export | None


def activities_of_owner(*, owner: User, limit: int = 50) -> list[ExportActivity]:
    entries = exports_activity_of_owner(owner=owner, limit=limit)
    ids = {entry.target_id for entry in entries if entry.target_id}
    exports = {str(export.id): export for export in Export.objects.filter(owner=owner, id__in=ids)}
    return [ExportActivity(entry=entry, export=exports.get(entry.target_id)) for entry in entries]
