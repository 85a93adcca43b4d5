"""The document both the Yellow Button's download and its links carry: built from what the portal holds for
the citizen by the pure core (``core.ips.assemble``), then checked (``core.ips.validate``) before anything
leaves.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from core.ips.assemble import AssemblyError, Choice, DocumentInfo, RecordEntry, assemble
from core.ips.validate import Problem, validate_document
from portal.accounts.models import User
from portal.jobs.registry import JobError
from portal.records.models import DataSource, StoredResource

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


def invalid_document_error(problems: list[Problem]) -> JobError:
    """The citizen's message for a document that failed its checks: rule keys and messages, no content."""
    reasons = "; ".join(f"{p.rule}: {p.message}" for p in problems[:5])
    return JobError(gettext(INVALID) + reasons)
