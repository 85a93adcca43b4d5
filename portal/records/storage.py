"""Writing one pull's resources: page by page, one row per (citizen, source, type, id), nothing held whole."""

import logging
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_noop

from core.fhir import upstream
from core.ips.sections import section_of
from portal.records.fhir_client import model_problem
from portal.records.models import Pull, StoredResource

logger = logging.getLogger(__name__)

# Shown on the record page with counts and types only: never what the entries said.
SKIPPED_ENTRIES = gettext_noop("%(count)s entries were skipped: %(reason)s (%(types)s).")
SOURCE_NOTES = gettext_noop("The data source reported %(count)s problems with its answers (%(codes)s).")
OTHER_PATIENT = gettext_noop(
    "%(count)s resources about another person were sent by the data source and dropped."
)


def _last_updated(resource: Mapping[str, Any]) -> datetime | None:
    meta = resource.get("meta")
    value = meta.get("lastUpdated") if isinstance(meta, Mapping) else None
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    return parsed if parsed is not None and timezone.is_aware(parsed) else None


def _version_id(resource: Mapping[str, Any]) -> str:
    meta = resource.get("meta")
    value = meta.get("versionId") if isinstance(meta, Mapping) else None
    return value[:64] if isinstance(value, str) else ""


class PullWriter:
    """Collects one pull's counts and warnings while storing what the source sends, a page at a time."""

    def __init__(self, *, pull: Pull, base_url: str, patient_id: str) -> None:
        self.pull = pull
        self.base_url = base_url
        self.patient_id = patient_id
        # (type, id) pairs seen and referred to: small tuples, bounded by the record's size, not its bytes.
        self.stored: set[tuple[str, str]] = set()
        self.references: set[tuple[str, str]] = set()
        self._skipped: dict[str, set[str]] = {}
        self._skipped_counts: dict[str, int] = {}
        self._outcome_codes: dict[str, int] = {}

    def add_page(
        self,
        page: Mapping[str, Any],
        *,
        allowed_types: frozenset[str],
        only_ids: Collection[str] | None = None,
    ) -> None:
        entries = page.get("entry")
        good: dict[tuple[str, str], dict[str, Any]] = {}
        for entry in entries if isinstance(entries, list) else []:
            resource = entry.get("resource") if isinstance(entry, Mapping) else None
            if isinstance(resource, Mapping) and resource.get("resourceType") == "OperationOutcome":
                for severity, code in upstream.outcome_issues(resource):
                    key = f"{severity}:{code}"
                    self._outcome_codes[key] = self._outcome_codes.get(key, 0) + 1
                continue
            checked = upstream.resource_of_entry(entry, allowed_types=allowed_types)
            if isinstance(checked, upstream.EntryProblem):
                self._skip(checked.reason, checked.resource_type)
                continue
            if only_ids is not None and checked["id"] not in only_ids:
                self._skip(gettext_noop("an entry that was not asked for"), checked["resourceType"])
                continue
            if not upstream.belongs_to_patient(checked, patient_id=self.patient_id, base_url=self.base_url):
                self.pull.dropped_other_patient += 1
                continue
            problem = model_problem(checked)
            if problem is not None:
                self._skip(problem, checked["resourceType"])
                continue
            good[(checked["resourceType"], checked["id"])] = checked
        self.add_resources(good.values())

    def add_resources(self, resources: Iterable[dict[str, Any]]) -> None:
        by_key = {(resource["resourceType"], resource["id"]): resource for resource in resources}
        if not by_key:
            return
        for resource in by_key.values():
            self.references |= upstream.referenced_resources(resource, base_url=self.base_url)
        self.stored |= by_key.keys()
        self._upsert(by_key)

    def _upsert(self, by_key: dict[tuple[str, str], dict[str, Any]]) -> None:
        pull, now = self.pull, timezone.now()
        keys = Q()
        for resource_type in {key[0] for key in by_key}:
            ids = [key[1] for key in by_key if key[0] == resource_type]
            keys |= Q(resource_type=resource_type, resource_id__in=ids)
        existing = {
            (row.resource_type, row.resource_id): row
            for row in StoredResource.objects.filter(keys, owner_id=pull.owner_id, source_id=pull.source_id)
        }
        to_create, to_update, unchanged = [], [], []
        for key, resource in by_key.items():
            digest = upstream.content_hash(resource)
            row = existing.get(key)
            if row is not None and row.content_hash == digest:
                unchanged.append(row.pk)
                continue
            section = section_of(resource)
            fields = {
                "data": resource,
                "content_hash": digest,
                "version_id": _version_id(resource),
                "last_updated": _last_updated(resource),
                "section": section.key if section else "",
                "changed_at": now,
                "fetched_at": now,
                "last_pull": pull,
                "missing_since": None,
            }
            if row is None:
                to_create.append(
                    StoredResource(
                        owner_id=pull.owner_id,
                        source_id=pull.source_id,
                        resource_type=key[0],
                        resource_id=key[1],
                        first_fetched_at=now,
                        **fields,
                    )
                )
            else:
                for name, value in fields.items():
                    setattr(row, name, value)
                to_update.append(row)
        if to_create:
            # A pull racing another for the same record (it should not happen: pull_start refuses) still
            # ends with one row per resource.
            StoredResource.objects.bulk_create(
                to_create,
                batch_size=500,
                update_conflicts=True,
                unique_fields=["owner", "source", "resource_type", "resource_id"],
                update_fields=[*UPDATED_FIELDS],
            )
        if to_update:
            StoredResource.objects.bulk_update(to_update, [*UPDATED_FIELDS], batch_size=500)
        if unchanged:
            StoredResource.objects.filter(pk__in=unchanged).update(
                fetched_at=now, last_pull=pull, missing_since=None
            )
        pull.added += len(to_create)
        pull.updated += len(to_update)
        pull.unchanged += len(unchanged)

    def pending_references(self) -> dict[str, list[str]]:
        """Referenced Medications, Devices, Practitioners… not fetched yet in this pull, by type."""
        pending: dict[str, list[str]] = {}
        for resource_type, resource_id in sorted(self.references - self.stored):
            pending.setdefault(resource_type, []).append(resource_id)
        return pending

    def mark_fetched(self, keys: Iterable[tuple[str, str]]) -> None:
        """Asked for, whether or not the source had it: never asked for twice."""
        self.stored |= set(keys)

    def _skip(self, reason: str, resource_type: str) -> None:
        self._skipped.setdefault(reason, set()).add(resource_type or "?")
        self._skipped_counts[reason] = self._skipped_counts.get(reason, 0) + 1
        self.pull.skipped_invalid += 1

    def finish(self, *, complete: bool) -> None:
        """Record counts and warnings. Only a complete pull may mark what the source no longer has."""
        pull, now = self.pull, timezone.now()
        if complete:
            not_seen = StoredResource.objects.filter(
                owner_id=pull.owner_id, source_id=pull.source_id
            ).exclude(last_pull=pull)
            not_seen.filter(missing_since__isnull=True).update(missing_since=now)
            pull.missing = not_seen.count()
        warnings = [
            {
                "message": SKIPPED_ENTRIES,
                "params": {
                    "count": self._skipped_counts[reason],
                    "reason": reason,
                    "types": ", ".join(sorted(types)),
                },
            }
            for reason, types in sorted(self._skipped.items())
        ]
        if self._outcome_codes:
            warnings.append(
                {
                    "message": SOURCE_NOTES,
                    "params": {
                        "count": sum(self._outcome_codes.values()),
                        "codes": ", ".join(sorted(self._outcome_codes)),
                    },
                }
            )
        if pull.dropped_other_patient:
            logger.warning(
                "pull %s: dropped %d resources about another patient", pull.id, pull.dropped_other_patient
            )
            warnings.append({"message": OTHER_PATIENT, "params": {"count": pull.dropped_other_patient}})
        pull.warnings = warnings
        pull.complete = complete
        pull.finished_at = now
        pull.save()


UPDATED_FIELDS = (
    "data",
    "content_hash",
    "version_id",
    "last_updated",
    "section",
    "changed_at",
    "fetched_at",
    "last_pull",
    "missing_since",
)
