"""The document both the Yellow Button's download and its links carry: built from what the portal holds for
the citizen by the pure core (``core.ips.assemble``), then checked (``core.ips.validate``) before anything
leaves.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from core.ips.assemble import AssemblyError, Choice, DocumentInfo, RecordEntry, assemble
from core.ips.validate import Problem, validate_document
from portal.accounts.models import User
from portal.jobs.registry import JobError, ProgressReporter
from portal.records.models import DataSource, StoredResource

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
class BuiltDocument:
    bundle: dict[str, Any]
    serialized: bytes
    problems: list[Problem]
    source_names: list[str]


def document_build(
    *,
    owner: User,
    document_id: uuid.UUID,
    sections: Collection[str] = (),
    excluded_items: Collection[int] = (),
    language: str = "en",
) -> BuiltDocument:
    """Assemble and validate the citizen's IPS document from what the portal holds for them."""
    rows = list(
        StoredResource.objects.filter(owner=owner, missing_since__isnull=True)
        .order_by("source_id", "id")
        .values_list("id", "source_id", "section", "resource_type", "data")
    )
    patient_key = next(
        (str(pk) for pk, _s, _sec, resource_type, _d in rows if resource_type == "Patient"), None
    )
    if patient_key is None:
        raise JobError(NO_RECORD)
    entries = [
        RecordEntry(key=str(pk), source=str(source_id), resource=data, section=section)
        for pk, source_id, section, _type, data in rows
    ]
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
                ),
                choice=Choice(
                    sections=frozenset(sections) if sections else None,
                    excluded_items=frozenset(str(pk) for pk in excluded_items),
                ),
                translate=gettext,
            )
        except AssemblyError as error:
            raise JobError(NO_RECORD) from error
    serialized = json.dumps(bundle, ensure_ascii=False, separators=(",", ":")).encode()
    source_ids = sorted({source_id for _pk, source_id, *_rest in rows})
    names = list(DataSource.objects.filter(id__in=source_ids).order_by("name").values_list("name", flat=True))
    return BuiltDocument(
        bundle=bundle,
        serialized=serialized,
        problems=validate_document(bundle, bundle_json=serialized),
        source_names=names,
    )


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


def document_checked(*, order: DocumentOrder, report: ProgressReporter, checked_at: int) -> BuiltDocument:
    """Build the document an export or a share asks for, reporting progress; ``InvalidDocument`` unless it
    passes every check (nothing is written for it)."""
    report(5, COLLECTING)
    built = document_build(
        owner=order.owner,
        document_id=order.id,
        sections=order.sections,
        excluded_items=order.excluded_items,
        language=order.language,
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

    return summary_pdf(
        built.bundle,
        language=language,
        generated_at=timezone.localtime(generated_at),
        sources=built.source_names,
    )
