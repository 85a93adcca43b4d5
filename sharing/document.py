"""The document both the Yellow Button's download and its links carry: built from what the portal holds for
the citizen by the pure core (``core.ips.assemble``), then checked (``core.ips.validate``) before anything
leaves.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from django.conf import settings
from django.db.models import Count, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from core.fhir.read import mappings_of
from core.ips.assemble import (
    AssemblyError,
    Choice,
    DisagreeingSide,
    Disagreement,
    DocumentInfo,
    RecordEntry,
    assemble,
    disagreement_text,
    entry_full_url,
)
from core.ips.sections import SECTIONS
from core.ips.validate import Problem, validate_document
from portal.accounts.models import User
from portal.jobs.registry import JobError, ProgressReporter
from portal.records.models import DataSource, StoredResource
from portal.records.selectors import conflicts_of_shown, page_wording, sources_merged_into

logger = logging.getLogger(__name__)

SOFTWARE_NAME = "Yellow Button portal"
SOFTWARE_VERSION = "0.1.0"

# Progress both jobs report while the document is made.
COLLECTING = gettext_noop("Collecting your records.")
CHECKING = gettext_noop("Checking the summary against the International Patient Summary rules.")
RENDERING_PDF = gettext_noop("Making the PDF.")
NO_RECORD = gettext_noop(
    "The portal holds no record of you yet, so there is nothing to put in a summary. "
    "Fetch your records first, then press the button again."
)
INVALID = gettext_noop(
    "The summary did not pass its checks, so no file was made. Nothing was lost; please tell us. Reasons: "
)


@dataclass(frozen=True)
class RowLimits:
    """How many of a record's items one document may hold: per IPS section, and in all."""

    per_section: int
    total: int


@dataclass(frozen=True)
class Shortened:
    """What a document bounded by ``RowLimits`` left out: counts only, never which items."""

    shown: int  # items in the document's sections
    total: int  # items the record holds for the chosen sections
    left_out: Mapping[str, int] = field(default_factory=dict)  # IPS section key: items not in the document


@dataclass(frozen=True)
class BuiltDocument:
    bundle: dict[str, Any]
    serialized: bytes
    problems: list[Problem]
    source_names: list[str]
    # Set when the document holds fewer items than the record (``RowLimits``): a PDF's, never the JSON's.
    shortened: Shortened | None = None
    # What the sources of an item disagree on, in the document's language, by the item's fullUrl: the PDF
    # says it beside the item, as the narrative does.
    disagreements: Mapping[str, str] = field(default_factory=dict)


_Row = tuple[int, int, str, str, Any]  # id, source_id, section, resource_type, data
_COLUMNS = ("id", "source_id", "section", "resource_type", "data")
# The id a reference names: "Type/id" (relative, absolute, versioned) or "urn:uuid:id".
_REFERENCED_ID = re.compile(r"(?:^urn:uuid:|/)([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]*)?$")
# Rounds of supporting resources pulled in for a bounded document (an item's Medication, its Organization).
_SUPPORT_DEPTH = 2
_ID_BATCH = 500


def document_build(
    *,
    owner: User,
    document_id: uuid.UUID,
    sections: Collection[str] = (),
    excluded_items: Collection[int] = (),
    language: str = "en",
    limits: RowLimits | None = None,
) -> BuiltDocument:
    """Assemble and validate the citizen's IPS document from what the portal holds for them.

    With ``limits`` a record too large for them gives a shortened document: the database hands over only the
    items kept (the first of each section in the record page's order, newest first) and what they refer to,
    so memory and time stay bounded however large the record is.
    """
    # One row per clinical fact, however many sources hold it (record_merge); the others are named below.
    current = StoredResource.objects.filter(owner=owner, missing_since__isnull=True, merged_into__isnull=True)
    plan = _plan(current, sections, excluded_items, limits) if limits is not None else None
    if plan is None:
        rows: list[_Row] = list(current.order_by("source_id", "id").values_list(*_COLUMNS))
    else:
        rows = _bounded_rows(current, plan, excluded_items)
    patient_key = next(
        (str(pk) for pk, _s, _sec, resource_type, _d in rows if resource_type == "Patient"), None
    )
    if patient_key is None:
        raise JobError(NO_RECORD)
    shown = [pk for pk, _s, section, _t, _d in rows if section]
    also_from = sources_merged_into(owner=owner, shown=shown)
    conflicts = conflicts_of_shown(owner=owner, shown=shown)
    entries = [
        RecordEntry(
            key=str(pk),
            source=str(source_id),
            resource=data,
            section=section,
            also_from=tuple(str(other) for other in also_from.get(pk, ()) if other != source_id),
            disagreements=_disagreements(conflicts.get(pk, [])),
        )
        for pk, source_id, section, _type, data in rows
    ]
    source_ids = sorted(
        {source_id for _pk, source_id, *_rest in rows} | {s for ids in also_from.values() for s in ids}
    )
    source_names = dict(DataSource.objects.filter(id__in=source_ids).values_list("id", "name"))
    names = {str(pk): name for pk, name in source_names.items()}
    with translation.override(language):
        try:
            bundle = assemble(
                entries,
                patient_key=patient_key,
                info=DocumentInfo(
                    document_id=document_id,
                    timestamp=timezone.now(),
                    software_name=SOFTWARE_NAME,
                    software_version=SOFTWARE_VERSION,
                    language=language,
                    source_names=names,
                ),
                choice=Choice(
                    sections=frozenset(sections) if sections else None,
                    excluded_items=frozenset(str(pk) for pk in excluded_items),
                ),
                translate=gettext,
                wording=page_wording(),
            )
        except AssemblyError as error:
            raise JobError(NO_RECORD) from error
        disagreements = {
            entry_full_url(document_id, entry.key): disagreement_text(
                entry, source_names=names, translate=gettext, wording=page_wording()
            )
            for entry in entries
            if entry.disagreements
        }
    serialized = json.dumps(bundle, ensure_ascii=False, separators=(",", ":")).encode()
    return BuiltDocument(
        bundle=bundle,
        serialized=serialized,
        problems=validate_document(bundle, bundle_json=serialized),
        source_names=sorted(source_names.values()),
        shortened=_shortened(bundle, plan) if plan is not None else None,
        disagreements=disagreements,
    )


def _disagreements(conflicts: Iterable[Mapping[str, Any]]) -> tuple[Disagreement, ...]:
    """The conflicts record_merge kept on a row, as the document's disagreements."""
    return tuple(
        Disagreement(
            field=str(conflict.get("field", "")),
            sides=tuple(
                DisagreeingSide(
                    value=str(side.get("value", "")),
                    source=str(side.get("source", "")),
                    date=str(side.get("date") or ""),
                )
                for side in conflict.get("values", [])
                if isinstance(side, Mapping)
            ),
        )
        for conflict in conflicts
        if isinstance(conflict.get("values"), list)
    )


@dataclass(frozen=True)
class _Plan:
    take: dict[str, int]  # section key: items to load
    left_out: dict[str, int]  # section key: items not loaded


def _plan(
    current: QuerySet[StoredResource],
    sections: Collection[str],
    excluded_items: Collection[int],
    limits: RowLimits,
) -> _Plan | None:
    """How many items of each section fit the limits (sections in the IG's order); None: all of them do."""
    counts = {
        row["section"]: row["total"]
        for row in current.exclude(section="")
        .exclude(id__in=list(excluded_items))
        .values("section")
        .annotate(total=Count("id"))
    }
    take: dict[str, int] = {}
    left_out: dict[str, int] = {}
    room = max(limits.total, 0)
    for section in SECTIONS:
        if sections and section.key not in sections:
            continue
        count = counts.get(section.key, 0)
        take[section.key] = min(count, max(limits.per_section, 0), room)
        room -= take[section.key]
        if count > take[section.key]:
            left_out[section.key] = count - take[section.key]
    return _Plan(take=take, left_out=left_out) if left_out else None


def _bounded_rows(
    current: QuerySet[StoredResource], plan: _Plan, excluded_items: Collection[int]
) -> list[_Row]:
    """The kept items, the citizen's Patient rows, any upstream Composition (it places items in sections)
    and the resources the kept ones refer to; the excluded items too (at most one form's worth), so the
    document still says their section was withheld rather than unavailable."""
    rows: list[_Row] = []
    for key, take in plan.take.items():
        if take:
            kept = current.filter(section=key).exclude(id__in=list(excluded_items))
            # Ids first: the database orders narrow rows, not every resource's JSON.
            ids = list(kept.order_by("-changed_at", "id").values_list("id", flat=True)[:take])
            by_id = {row[0]: row for row in current.filter(id__in=ids).values_list(*_COLUMNS)}
            rows += [by_id[pk] for pk in ids]
    rows += current.filter(id__in=list(excluded_items)).values_list(*_COLUMNS)
    rows += current.filter(section="", resource_type__in=("Patient", "Composition")).values_list(*_COLUMNS)
    seen = {row[0] for row in rows}
    wanted = _referenced_ids(row[4] for row in rows)
    for _round in range(_SUPPORT_DEPTH):
        found: list[_Row] = []
        names = sorted(wanted)
        for start in range(0, len(names), _ID_BATCH):
            batch = current.filter(section="", resource_id__in=names[start : start + _ID_BATCH])
            found += [row for row in batch.values_list(*_COLUMNS) if row[0] not in seen]
        if not found:
            break
        rows += found
        seen |= {row[0] for row in found}
        wanted = _referenced_ids(row[4] for row in found) - wanted
    return rows


def _referenced_ids(resources: Iterable[Any]) -> set[str]:
    """The ids every reference in these resources names (any type: a wrong guess only loads a row more)."""
    ids: set[str] = set()
    stack: list[tuple[Any, int]] = [(resource, 0) for resource in resources]
    while stack:
        node, depth = stack.pop()
        if depth > 48:  # hostile nesting: the assembler cuts it too
            continue
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "reference" and isinstance(value, str):
                    match = _REFERENCED_ID.search(value)
                    if match:
                        ids.add(match.group(1))
                elif isinstance(value, dict | list):
                    stack.append((value, depth + 1))
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node if isinstance(item, dict | list))
    return ids


def _shortened(bundle: Mapping[str, Any], plan: _Plan) -> Shortened:
    """The counts a shortened document states: what its sections hold, and what the record holds besides."""
    entries = mappings_of(bundle.get("entry"))
    composition = next((e.get("resource") for e in entries), None)
    shown = 0
    for section in mappings_of(composition.get("section") if isinstance(composition, Mapping) else None):
        shown += sum(1 for _entry in mappings_of(section.get("entry")))
    left_out = sum(plan.left_out.values())
    return Shortened(shown=shown, total=shown + left_out, left_out=dict(plan.left_out))


class InvalidDocument(JobError):
    """The document failed its checks: the citizen's message names rule keys and messages, no content."""

    def __init__(self, problems: list[Problem]) -> None:
        reasons = "; ".join(f"{p.rule}: {p.message}" for p in problems[:5])
        super().__init__(gettext(INVALID) + reasons)


class DocumentOrder(Protocol):
    """What a download or a link asks for (both rows carry these)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def owner(self) -> User: ...
    @property
    def sections(self) -> Any: ...
    @property
    def excluded_items(self) -> Any: ...
    @property
    def language(self) -> str: ...


def document_checked(
    *, order: DocumentOrder, report: ProgressReporter, checked_at: int, limits: RowLimits | None = None
) -> BuiltDocument:
    """Build the document an export or a share asks for, reporting progress; ``InvalidDocument`` unless it
    passes every check (nothing is written for it). ``limits``: see ``document_build``."""
    report(5, COLLECTING)
    built = document_build(
        owner=order.owner,
        document_id=order.id,
        sections=order.sections,
        excluded_items=order.excluded_items,
        language=order.language,
        limits=limits,
    )
    report(checked_at, CHECKING)
    if built.problems:
        # Rule keys only: the messages name no clinical content, but the log needs no more than the keys.
        kind = type(order).__name__.lower()
        logger.warning("%s %s: invalid document: %s", kind, order.id, [p.rule for p in built.problems[:20]])
        raise InvalidDocument(built.problems)
    return built


def document_pdf(built: BuiltDocument, *, language: str, generated_at: datetime) -> bytes:
    """The document as the PDF a person reads, in ``language``."""
    from sharing.pdf import summary_pdf  # WeasyPrint loads only where PDFs are made

    shortened = built.shortened
    return summary_pdf(
        built.bundle,
        language=language,
        generated_at=timezone.localtime(generated_at),
        sources=built.source_names,
        shown_of_total=(shortened.shown, shortened.total) if shortened else None,
        left_out=shortened.left_out if shortened else None,
        disagreements=built.disagreements,
    )


def pdf_row_limits() -> RowLimits:
    """The limits a PDF's document is built with (``PDF_MAX_ROWS_PER_SECTION``, ``PDF_MAX_ROWS``)."""
    return RowLimits(per_section=settings.PDF_MAX_ROWS_PER_SECTION, total=settings.PDF_MAX_ROWS)
