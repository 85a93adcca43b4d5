"""The Yellow Button's download: create an export job, build and check the document, store the file, purge.

The document comes from ``sharing.document`` (assembled by the core and checked before anything is
written): an invalid document fails the job with its reasons and no file ever exists for it. Files go
through Django's storage under a name fixed when the export is created, so a job delivered twice writes the
same one file.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Collection
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_noop

from core.ips.sections import SECTION_BY_KEY
from portal.accounts.models import User
from portal.audit.models import Action, Outcome
from portal.audit.services import audit_record
from portal.jobs.models import Job
from portal.jobs.registry import JobOutcome, ProgressReporter
from portal.jobs.services import job_create
from sharing.document import RENDERING_PDF, document_checked, document_pdf, pdf_row_limits
from sharing.models import Export, ExportFormat

logger = logging.getLogger(__name__)

EXPORT_KIND = "export"
SAVING = gettext_noop("Saving the file.")
READY = gettext_noop("Your summary is ready to download.")
READY_SHORTENED = gettext_noop(
    "Your summary is ready to download. Your record is very large, so the PDF shows only part of it and says "
    "so on its first page; the FHIR JSON download holds everything."
)

CONTENT_TYPES = {ExportFormat.JSON: "application/fhir+json", ExportFormat.PDF: "application/pdf"}


class ExportRequestError(ValueError):
    """What the citizen asked for cannot be made (unknown format or section): a message to show."""


def export_create(
    *,
    owner: User,
    export_format: str,
    sections: Collection[str] = (),
    excluded_items: Collection[int] = (),
    language: str = "en",
) -> Export:
    """Queue a download of the citizen's summary; the job starts once the transaction commits."""
    if export_format not in ExportFormat.values:
        raise ExportRequestError(gettext_noop("Choose JSON or PDF."))
    unknown = [key for key in sections if key not in SECTION_BY_KEY]
    if unknown:
        raise ExportRequestError(gettext_noop("One of the chosen sections is not an IPS section."))
    extension = "json" if export_format == ExportFormat.JSON else "pdf"
    with transaction.atomic():
        job = job_create(owner=owner, kind=EXPORT_KIND)
        return Export.objects.create(
            owner=owner,
            job=job,
            format=export_format,
            sections=sorted(set(sections)),
            excluded_items=sorted(set(excluded_items)),
            language=language,
            # Fixed now, so a job delivered twice writes the same single file; unguessable all the same.
            storage_name=f"exports/{secrets.token_urlsafe(32)}.{extension}",
        )


def export_run(*, job: Job, report: ProgressReporter) -> JobOutcome:
    """The export job: build, check, render, store; safe to run again for the same job."""
    export = Export.objects.select_related("owner").get(job=job)
    is_pdf = export.format == ExportFormat.PDF
    try:
        # A PDF is read by a person: a very large record gives a bounded summary (its memory and time too).
        # The JSON is the complete record, always.
        limits = pdf_row_limits() if is_pdf else None
        built = document_checked(order=export, report=report, checked_at=50, limits=limits)
        if is_pdf:
            report(65, RENDERING_PDF)
            content = document_pdf(built, language=export.language, generated_at=timezone.now())
        else:
            content = built.serialized
        report(90, SAVING)
        _store(export, content, entry_count=len(built.bundle["entry"]))
    except Exception:  # an invalid document, no record yet, the time limit: the trail says it failed
        audit_record(action=Action.EXPORT_FAILED, owner=export.owner, target=export, outcome=Outcome.FAILED)
        raise
    detail = READY_SHORTENED if built.shortened else READY
    return JobOutcome(detail=detail, result_url=reverse("export_download", args=[export.id]))


def _store(export: Export, content: bytes, *, entry_count: int) -> None:
    if default_storage.exists(export.storage_name):
        default_storage.delete(export.storage_name)  # a re-run replaces the file of the run that died
    saved_name = default_storage.save(export.storage_name, ContentFile(content))
    now = timezone.now()
    with transaction.atomic():
        Export.objects.filter(id=export.id).update(
            storage_name=saved_name,
            sha256=hashlib.sha256(content).hexdigest(),
            size=len(content),
            entry_count=entry_count,
            finished_at=now,
            expires_at=now + timedelta(seconds=settings.EXPORT_FILE_LIFETIME_SECONDS),
            file_deleted_at=None,
        )
        # Once: the run that died may have written it already.
        audit_record(
            action=Action.EXPORT_MADE,
            owner=export.owner,
            target=export,
            detail={"format": export.format},
            once=True,
        )


def export_file_name(export: Export) -> str:
    day = timezone.localtime(export.finished_at or export.created_at).strftime("%Y-%m-%d")
    extension = "json" if export.format == ExportFormat.JSON else "pdf"
    return f"patient-summary-{day}.{extension}"


def export_is_downloadable(export: Export) -> bool:
    return export.has_file and export.expires_at is not None and export.expires_at > timezone.now()


def export_record_download(*, export: Export) -> None:
    audit_record(
        action=Action.EXPORT_DOWNLOADED,
        owner=export.owner,
        actor=export.owner,
        target=export,
        detail={"format": export.format},
    )


def exports_purge() -> int:
    """Delete the files of expired exports; the rows stay for the citizen's history. Returns how many."""
    now = timezone.now()
    deleted = 0
    for export in Export.objects.filter(expires_at__lte=now, file_deleted_at__isnull=True).exclude(
        storage_name=""
    ):
        default_storage.delete(export.storage_name)
        deleted += Export.objects.filter(id=export.id, file_deleted_at__isnull=True).update(
            file_deleted_at=now
        )
    if deleted:
        logger.info("exports purge: deleted %d expired files", deleted)
    return deleted
