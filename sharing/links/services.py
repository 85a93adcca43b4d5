"""Sharing with a clinician: create a SMART Health Link, prepare its encrypted files, pause, revoke, purge.

The link's files are made by a job (the PDF takes time): the IPS document, checked like a download, and a
DocumentReference carrying the PDF inline (an SHL manifest may list only FHIR and SMART content types). Only
their JWE ciphertexts are stored. The link itself (manifest id and key) is kept only as a Fernet token.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import uuid
from collections.abc import Collection
from datetime import datetime, timedelta

import segno
from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_noop

from core.ips.pdf_reference import pdf_document_reference
from core.ips.sections import SECTION_BY_KEY
from core.shl import jwe
from core.shl.payload import Payload, flags_of, new_key, new_manifest_id, viewer_link
from core.text import one_line
from portal import crypto
from portal.accounts.models import User
from portal.audit.models import Action, Outcome
from portal.audit.services import audit_record
from portal.jobs.models import Job, JobStatus
from portal.jobs.registry import JobOutcome, ProgressReporter
from portal.jobs.services import job_create
from sharing.document import RENDERING_PDF, document_checked, document_pdf, pdf_row_limits
from sharing.models import Share, ShareFile, ShareFileKind, SpentFileUrl

logger = logging.getLogger(__name__)

SHARE_KIND = "share"
PASSCODE_MIN_LENGTH = 4
PASSCODE_MAX_LENGTH = 64

ENCRYPTING = gettext_noop("Encrypting the files for the link.")
READY = gettext_noop("Your link is ready to share.")


class ShareRequestError(ValueError):
    """What the citizen asked for cannot be made: a message (msgid) to show."""


class ShareStatus(enum.StrEnum):
    PREPARING = "preparing"
    FAILED = "failed"
    ACTIVE = "active"
    PAUSED = "paused"
    REVOKED = "revoked"
    EXPIRED = "expired"
    LOCKED = "locked"


def manifest_digest(manifest_id: str) -> str:
    # A plain hash is enough: the id carries 256 random bits, and lookups survive a SECRET_KEY rotation.
    return hashlib.sha256(manifest_id.encode("ascii")).hexdigest()


def _passcode_hasher() -> Argon2PasswordHasher:
    return Argon2PasswordHasher()


def share_create(
    *,
    owner: User,
    expires_in: int,
    origin: str,
    passcode: str = "",
    label: str = "",
    sections: Collection[str] = (),
    excluded_items: Collection[int] = (),
    direct: bool = False,
    language: str = "en",
) -> Share:
    """Make the link now (its files follow from a job once the transaction commits)."""
    if expires_in not in settings.SHARE_EXPIRY_CHOICES:
        raise ShareRequestError(gettext_noop("Choose how long the link should work."))
    label = one_line(label)  # no controls, bidi overrides or zero-width characters to disguise it
    if len(label) > 80:
        raise ShareRequestError(gettext_noop("The label can be at most 80 characters."))
    if passcode and not PASSCODE_MIN_LENGTH <= len(passcode) <= PASSCODE_MAX_LENGTH:
        raise ShareRequestError(gettext_noop("A passcode needs 4 to 64 characters."))
    if passcode and direct:
        raise ShareRequestError(gettext_noop("A single-file link cannot have a passcode."))
    if any(key not in SECTION_BY_KEY for key in sections):
        raise ShareRequestError(gettext_noop("One of the chosen sections is not an IPS section."))
    manifest_id, key = new_manifest_id(), new_key()
    manifest_url = f"{origin}{reverse('shl_manifest', args=[manifest_id])}"
    if len(manifest_url) > 128:
        # The specification caps the payload's url at 128 characters: a configuration error, not the user's.
        raise ValueError(
            "PORTAL_ORIGIN is too long for SMART Health Link manifest URLs (at most 80 characters)"
        )
    secret = crypto.encrypt(json.dumps({"manifest_id": manifest_id, "key": key}))
    with transaction.atomic():
        job = job_create(owner=owner, kind=SHARE_KIND)
        share = Share.objects.create(
            owner=owner,
            job=job,
            label=label,
            sections=sorted(set(sections)),
            excluded_items=sorted(set(excluded_items)),
            language=language,
            direct=direct,
            origin=origin,
            manifest_digest=manifest_digest(manifest_id),
            link_secret=secret,
            passcode_hash=_passcode_hasher().encode(passcode, _passcode_hasher().salt()) if passcode else "",
            passcode_attempts_left=settings.SHL_PASSCODE_ATTEMPTS if passcode else 0,
            expires_at=timezone.now() + timedelta(seconds=expires_in),
        )
        audit_record(action=Action.SHARE_CREATED, owner=owner, actor=owner, target=share)
    return share


def passcode_matches(share: Share, passcode: str) -> bool:
    return bool(share.passcode_hash) and _passcode_hasher().verify(passcode, share.passcode_hash)


def _secret_of(share: Share) -> tuple[str, str]:
    data = json.loads(crypto.decrypt(share.link_secret))
    return data["manifest_id"], data["key"]


def share_key(share: Share) -> str:
    return _secret_of(share)[1]


def share_payload(share: Share) -> Payload:
    manifest_id, key = _secret_of(share)
    return Payload(
        url=f"{share.origin}{reverse('shl_manifest', args=[manifest_id])}",
        key=key,
        exp=int(share.expires_at.timestamp()),
        flag=flags_of(passcode=share.has_passcode, direct=share.direct),
        label=share.label,
        v=1,
    )


def share_link(share: Share) -> str:
    """``<origin>/viewer/#shlink:/…``: the payload stays in the fragment, out of every server's log."""
    return viewer_link(f"{share.origin}{reverse('viewer')}", share_payload(share))


def share_qr(link: str) -> segno.QRCode:
    # Error correction M, as the specification recommends for SHL QR codes (segno would otherwise raise the
    # level whenever the same symbol size allows).
    return segno.make(link, error="m", micro=False, boost_error=False)


def share_qr_svg(link: str) -> str:
    return str(share_qr(link).svg_inline(scale=4, border=4, omitsize=True))


def share_status(share: Share, *, now: datetime | None = None) -> ShareStatus:
    now = now or timezone.now()
    if share.revoked_at:
        return ShareStatus.REVOKED
    if share.expires_at <= now:
        return ShareStatus.EXPIRED
    if share.has_passcode and share.passcode_attempts_left == 0:
        return ShareStatus.LOCKED
    if share.ready_at is None:
        return ShareStatus.FAILED if share.job.status == JobStatus.FAILED else ShareStatus.PREPARING
    if share.paused_at:
        return ShareStatus.PAUSED
    return ShareStatus.ACTIVE


REFUSALS = {
    ShareStatus.REVOKED: Outcome.REVOKED,
    ShareStatus.EXPIRED: Outcome.EXPIRED,
    ShareStatus.LOCKED: Outcome.LOCKED,
    ShareStatus.PAUSED: Outcome.PAUSED,
    ShareStatus.PREPARING: Outcome.NOT_READY,
    ShareStatus.FAILED: Outcome.NOT_READY,
}


def share_refusal(share: Share) -> Outcome | None:
    """Why a request for this link must get the 404, or None when the link may be opened."""
    return REFUSALS.get(share_status(share))


def share_revoke(*, share: Share) -> None:
    """For good: the manifest answers 404 from now on, and the files are deleted."""
    now = timezone.now()
    with transaction.atomic():
        if Share.objects.filter(id=share.id, revoked_at__isnull=True).update(revoked_at=now):
            _audited(share, Action.SHARE_REVOKED)
        _delete_files(share.id, now=now)
    share.refresh_from_db()


def share_pause(*, share: Share) -> None:
    with transaction.atomic():
        paused = Share.objects.filter(id=share.id, revoked_at__isnull=True, paused_at__isnull=True).update(
            paused_at=timezone.now()
        )
        if paused:
            _audited(share, Action.SHARE_PAUSED)
    share.refresh_from_db()


def share_resume(*, share: Share) -> None:
    with transaction.atomic():
        resumed = Share.objects.filter(id=share.id, revoked_at__isnull=True, paused_at__isnull=False).update(
            paused_at=None
        )
        if resumed:
            _audited(share, Action.SHARE_RESUMED)
    share.refresh_from_db()


def _audited(share: Share, action: Action) -> None:
    """Only the citizen pauses, resumes or revokes their links, and only a change writes a row."""
    audit_record(action=action, owner_id=share.owner_id, actor=share.owner, target=share)


def _delete_files(share_id: uuid.UUID, *, now: datetime) -> None:
    ShareFile.objects.filter(share_id=share_id).delete()
    Share.objects.filter(id=share_id, files_deleted_at__isnull=True).update(files_deleted_at=now)


def shares_purge() -> int:
    """Delete the ciphertexts of expired or revoked links; shares and access log stay. Returns how many."""
    now = timezone.now()
    done = 0
    stale = Share.objects.filter(files_deleted_at__isnull=True).filter(
        Q(expires_at__lte=now) | Q(revoked_at__isnull=False)
    )
    for share_id in stale.values_list("id", flat=True):
        with transaction.atomic():
            _delete_files(share_id, now=now)
        done += 1
    if done:
        logger.info("shares purge: deleted the files of %d links", done)
    # A spent file URL's row matters only while the URL itself could still be accepted.
    SpentFileUrl.objects.filter(
        spent_at__lt=now - timedelta(seconds=settings.SHL_FILE_URL_LIFETIME_SECONDS + 60)
    ).delete()
    return done


def share_prepare(*, job: Job, report: ProgressReporter) -> JobOutcome:
    """The share job: build and check the document, render the PDF, store both encrypted. Safe to re-run."""
    share = Share.objects.select_related("owner").get(job=job)
    result_url = reverse("share_detail", args=[share.id])
    if share.ready_at is not None:
        return JobOutcome(detail=READY, result_url=result_url)
    # The PDF a person reads is bounded (a very large record gives a summary that says so); the FHIR document
    # is the whole record, built a second time only when the bounded build left something out.
    bounded = document_checked(order=share, report=report, checked_at=35, limits=pdf_row_limits())
    built = (
        bounded if bounded.shortened is None else document_checked(order=share, report=report, checked_at=45)
    )
    report(55, RENDERING_PDF)
    now = timezone.now()
    pdf = document_pdf(bounded, language=share.language, generated_at=now)
    reference = pdf_document_reference(
        pdf, document_id=uuid.uuid5(share.id, "pdf"), language=share.language, created=now
    )
    report(85, ENCRYPTING)
    key = share_key(share)
    files = {ShareFileKind.DOCUMENT: built.serialized}
    if not share.direct:  # a single-file (U) link carries the document only
        files[ShareFileKind.PDF] = json.dumps(reference, separators=(",", ":")).encode()
    with transaction.atomic():
        for kind, plaintext in files.items():
            ShareFile.objects.update_or_create(
                share=share, kind=kind, defaults={"jwe": jwe.encrypt(plaintext, key=key)}
            )
        Share.objects.filter(id=share.id, ready_at__isnull=True).update(ready_at=timezone.now())
    return JobOutcome(detail=READY, result_url=result_url)
