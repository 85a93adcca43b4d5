"""Writing one pull's resources: page by page, one row per (citizen, source, type, id), nothing held whole."""

import logging
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db import connection, transaction
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
            good[(checked["resourceType"], checked["id"])] = checked
        self._upsert(good, model_checked=False)

    def add_resources(self, resources: Iterable[dict[str, Any]]) -> None:
        """Store resources the caller has checked already (the patient found, a test's or bench's record)."""
        self._upsert(
            {(resource["resourceType"], resource["id"]): resource for resource in resources},
            model_checked=True,
        )

    def _upsert(self, by_key: dict[tuple[str, str], dict[str, Any]], *, model_checked: bool) -> None:
        """Store what is new or changed. A resource whose content hash is the stored one is unchanged: it
        passed the R4 model check when it was stored, so it is not checked again."""
        if not by_key:
            return
        pull, now = self.pull, timezone.now()
        keys = Q()
        for resource_type in {key[0] for key in by_key}:
            ids = [key[1] for key in by_key if key[0] == resource_type]
            keys |= Q(resource_type=resource_type, resource_id__in=ids)
        # Only what deciding needs: the stored JSON itself is never loaded to be compared.
        existing = {
            (resource_type, resource_id): (pk, digest)
            for pk, resource_type, resource_id, digest in StoredResource.objects.filter(
                keys, owner_id=pull.owner_id, source_id=pull.source_id
            ).values_list("pk", "resource_type", "resource_id", "content_hash")
        }
        rows, unchanged, added = [], [], 0
        for key, resource in by_key.items():
            canonical = upstream.canonical_json(resource)
            digest = upstream.content_hash_of(canonical)
            found = existing.get(key)
            if found is not None and found[1] == digest:
                unchanged.append(found[0])
                self._keep(key, resource)
                continue
            problem = None if model_checked else model_problem(resource)
            if problem is not None:
                self._skip(problem, key[0])
                continue
            self._keep(key, resource)
            added += found is None
            section = section_of(resource)
            rows.append(
                (
                    key[0],
                    key[1],
                    canonical,
                    digest,
                    _version_id(resource),
                    _last_updated(resource),
                    section.key if section else "",
                )
            )
        if rows:
            _store_rows(pull, rows, now)
        if unchanged:
            StoredResource.objects.filter(pk__in=unchanged).update(
                fetched_at=now, last_pull=pull, missing_since=None
            )
        pull.added += added
        pull.updated += len(rows) - added
        pull.unchanged += len(unchanged)

    def _keep(self, key: tuple[str, str], resource: Mapping[str, Any]) -> None:
        self.stored.add(key)
        self.references |= upstream.referenced_resources(resource, base_url=self.base_url)

    def pending_references(self) -> dict[str, list[str]]:
        """Referenced Medications, Devices, Practitioners… not fetched yet in this pull, by type."""
        pending: dict[str, list[str]] = {}
        for resource_type, resource_id in sorted(self.references - self.stored):
            pending.setdefault(resource_type, []).append(resource_id)
        return pending

    def mark_fetched(self, keys: Iterable[tuple[str, str]]) -> None:
        """Asked for, whether or not the source had it: never asked for twice."""
        self.stored |= set(keys)

    def skip(self, reason: str, resource_type: str) -> None:
        """Something of the source's answers left out (a document on another server, say): a warning."""
        self._skip(reason, resource_type)

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


def _store_rows(pull: Pull, rows: list[tuple[Any, ...]], now: datetime) -> None:
    """New and changed resources in one INSERT … ON CONFLICT per batch (PostgreSQL and SQLite alike).

    The ORM's bulk_create spent more time building its statement than the database spent storing: here the
    JSON goes in as the canonical text its hash was taken from, so it is serialised once. A pull racing
    another for the same record (pull_start refuses that) still ends with one row per resource, and a
    changed row keeps when it was first fetched, and which fact it belongs to until record_merge looks again.
    """
    ops = connection.ops
    table = StoredResource._meta.db_table
    columns = (
        "owner_id, source_id, resource_type, resource_id, data, content_hash, version_id, last_updated, "
        "section, first_fetched_at, changed_at, fetched_at, last_pull_id, missing_since, merged_into_id, "
        "conflicts"
    )
    updates = ", ".join(f"{name} = excluded.{name}" for name in _UPSERT_UPDATES)
    conflict = f" ON CONFLICT (owner_id, source_id, resource_type, resource_id) DO UPDATE SET {updates}"
    moment = ops.adapt_datetimefield_value(now)
    owner, source, last_pull = (
        StoredResource._meta.get_field(name).get_db_prep_value(value, connection)  # type: ignore[union-attr]
        for name, value in (("owner", pull.owner_id), ("source", pull.source_id), ("last_pull", pull.pk))
    )
    if connection.vendor == "postgresql":
        _store_rows_postgresql(
            f"INSERT INTO {table} ({columns}) ", conflict, rows, (owner, source, moment, last_pull)
        )
        return
    row = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, NULL, %s)"
    params = [
        (
            owner,
            source,
            resource_type,
            resource_id,
            canonical,
            digest,
            version,
            ops.adapt_datetimefield_value(updated) if updated is not None else None,
            section,
            moment,
            moment,
            moment,
            last_pull,
            "[]",  # no conflicts until record_merge has looked
        )
        for resource_type, resource_id, canonical, digest, version, updated, section in rows
    ]
    # One transaction: SQLite in autocommit would otherwise commit (and sync to disk) row by row. Each batch
    # is one statement of many rows, not a statement per row.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        for start in range(0, len(params), _UPSERT_BATCH):
            batch = params[start : start + _UPSERT_BATCH]
            sql = f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * len(batch))}{conflict}"  # noqa: S608  (names are ours; every value is a parameter)
            cursor.execute(sql, [value for values in batch for value in values])


_UPSERT_BATCH = 500


def _store_rows_postgresql(
    insert: str, conflict: str, rows: list[tuple[Any, ...]], shared: tuple[Any, Any, Any, Any]
) -> None:
    """The rows as one array per column, unnested by the server, bound in binary: a batch is 11 values, not
    14 per row escaped into SQL text (which cost more than storing the rows). ``shared``: owner, source, the
    moment and the pull, the same for every row."""
    import psycopg  # only here: the portal runs on SQLite without it

    owner, source, moment, last_pull = shared
    sql = (
        f"{insert}SELECT %b, %b, u.resource_type, u.resource_id, u.data::jsonb, "  # noqa: S608  (names are ours)
        "u.content_hash, u.version_id, u.last_updated, u.section, %b, %b, %b, %b, NULL, NULL, '[]'::jsonb "
        "FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::timestamptz[], "
        "%b::text[]) AS u(resource_type, resource_id, data, content_hash, version_id, last_updated, section)"
        f"{conflict}"
    )
    with transaction.atomic(savepoint=False):
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:  # server-side binding, unlike Django's cursor
            for start in range(0, len(rows), _UPSERT_BATCH):
                columns = [list(column) for column in zip(*rows[start : start + _UPSERT_BATCH], strict=True)]
                cursor.execute(sql, [owner, source, moment, moment, moment, last_pull, *columns])


_UPSERT_UPDATES = (
    "data",
    "content_hash",
    "version_id",
    "last_updated",
    "section",
    "changed_at",
    "fetched_at",
    "last_pull_id",
    "missing_since",
)
