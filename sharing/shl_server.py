"""The public side of a SMART Health Link: manifest, file and direct (U flag) requests, and the access log.

Every request that reaches a known link writes one ``AccessEvent``. Refusals of any kind (unknown, expired,
revoked, paused, locked) look the same to the requester: the views answer them all with one 404.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from sharing.models import AccessAction, AccessEvent, AccessOutcome, FileTicket, Share, ShareFile
from sharing.shares import manifest_digest, passcode_matches, share_refusal

logger = logging.getLogger(__name__)

MANIFEST_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")
RECIPIENT_MAX_LENGTH = 200
FHIR_VERSION = "4.0.1"


class NotAvailable(Exception):
    """Answered with the one 404, whatever the reason (the reason goes only into the owner's access log)."""


class BadRequest(Exception):
    """The request does not follow the specification: a short message safe to return."""


@dataclass(frozen=True)
class WrongPasscode(Exception):
    remaining_attempts: int


def share_by_manifest_id(manifest_id: str) -> Share | None:
    if not MANIFEST_ID.match(manifest_id):
        return None
    return Share.objects.select_related("job").filter(manifest_digest=manifest_digest(manifest_id)).first()


def access_record(
    *, share: Share, recipient: str, action: AccessAction, outcome: AccessOutcome, file_kind: str = ""
) -> None:
    AccessEvent.objects.create(
        owner_id=share.owner_id,
        share=share,
        recipient=recipient,
        action=action,
        outcome=outcome,
        file_kind=file_kind,
    )
    # Ids and outcomes only: never the link, key, passcode, recipient or body.
    logger.info("shl %s share=%s outcome=%s", action, share.id, outcome)


def clean_recipient(value: Any) -> str:
    if not isinstance(value, str):
        raise BadRequest("recipient is required")
    cleaned = " ".join("".join(char for char in value if char.isprintable()).split())
    if not cleaned:
        raise BadRequest("recipient is required")
    return cleaned[:RECIPIENT_MAX_LENGTH]


@dataclass(frozen=True)
class ManifestRequest:
    recipient: str
    passcode: str | None
    embedded_length_max: int | None


def parse_manifest_request(data: Any) -> ManifestRequest:
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    passcode = data.get("passcode")
    if passcode is not None and not isinstance(passcode, str):
        raise BadRequest("passcode must be a string")
    limit = data.get("embeddedLengthMax")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise BadRequest("embeddedLengthMax must be a non-negative integer")
    return ManifestRequest(
        recipient=clean_recipient(data.get("recipient")), passcode=passcode, embedded_length_max=limit
    )


def _refuse_if_closed(share: Share, *, recipient: str, action: AccessAction) -> None:
    refusal = share_refusal(share)
    if refusal is not None:
        access_record(share=share, recipient=recipient, action=action, outcome=refusal)
        raise NotAvailable


def _check_passcode(share: Share, *, passcode: str | None, recipient: str) -> None:
    if not share.has_passcode:
        return
    if passcode is None:
        access_record(
            share=share, recipient=recipient, action=AccessAction.MANIFEST, outcome=AccessOutcome.BAD_REQUEST
        )
        raise WrongPasscode(share.passcode_attempts_left)
    if passcode_matches(share, passcode):
        return
    # The lifetime budget: one conditional UPDATE, so parallel guesses can never spend more than it holds.
    spent = Share.objects.filter(id=share.id, passcode_attempts_left__gt=0).update(
        passcode_attempts_left=F("passcode_attempts_left") - 1
    )
    if not spent:
        access_record(
            share=share, recipient=recipient, action=AccessAction.MANIFEST, outcome=AccessOutcome.LOCKED
        )
        raise NotAvailable
    remaining = Share.objects.values_list("passcode_attempts_left", flat=True).get(id=share.id)
    access_record(
        share=share, recipient=recipient, action=AccessAction.MANIFEST, outcome=AccessOutcome.WRONG_PASSCODE
    )
    raise WrongPasscode(remaining)


def manifest_open(
    *, share: Share, request: ManifestRequest, file_url: Callable[[str], str]
) -> dict[str, list[dict[str, str]]]:
    """The manifest: each file embedded (when the client allows its length) or behind a one-use URL."""
    _refuse_if_closed(share, recipient=request.recipient, action=AccessAction.MANIFEST)
    _check_passcode(share, passcode=request.passcode, recipient=request.recipient)
    now = timezone.now()
    entries = []
    for file in ShareFile.objects.filter(share=share).order_by("kind"):
        entry = {
            "contentType": file.content_type,
            "lastUpdated": file.created_at.isoformat(timespec="seconds"),
            "status": "finalized",
            "fhirVersion": FHIR_VERSION,
        }
        limit = request.embedded_length_max
        if limit is not None and len(file.jwe) <= limit:
            entry["embedded"] = file.jwe
        else:
            token = secrets.token_urlsafe(32)
            FileTicket.objects.create(
                token_digest=hashlib.sha256(token.encode()).hexdigest(),
                file=file,
                recipient=request.recipient,
                expires_at=now + timedelta(seconds=settings.SHL_FILE_URL_LIFETIME_SECONDS),
            )
            entry["location"] = file_url(token)
        entries.append(entry)
    if not entries:  # the files were purged in the meantime
        access_record(
            share=share,
            recipient=request.recipient,
            action=AccessAction.MANIFEST,
            outcome=AccessOutcome.EXPIRED,
        )
        raise NotAvailable
    access_record(
        share=share, recipient=request.recipient, action=AccessAction.MANIFEST, outcome=AccessOutcome.OPENED
    )
    return {"files": entries}


def file_fetch(*, token: str) -> str:
    """The JWE behind a manifest's ``location``: once, within its lifetime, while the link is open."""
    if not 20 <= len(token) <= 100:
        raise NotAvailable
    ticket = (
        FileTicket.objects.select_related("file__share__job")
        .filter(token_digest=hashlib.sha256(token.encode()).hexdigest())
        .first()
    )
    if ticket is None:
        raise NotAvailable
    share, file = ticket.file.share, ticket.file
    _refuse_if_closed(share, recipient=ticket.recipient, action=AccessAction.FILE)
    now = timezone.now()
    claimed = FileTicket.objects.filter(pk=ticket.pk, used_at__isnull=True, expires_at__gt=now).update(
        used_at=now
    )
    if not claimed:
        access_record(
            share=share,
            recipient=ticket.recipient,
            action=AccessAction.FILE,
            outcome=AccessOutcome.FILE_LINK_GONE,
            file_kind=file.kind,
        )
        raise NotAvailable
    access_record(
        share=share,
        recipient=ticket.recipient,
        action=AccessAction.FILE,
        outcome=AccessOutcome.FILE_SENT,
        file_kind=file.kind,
    )
    return file.jwe


def direct_fetch(*, share: Share, recipient: Any) -> str:
    """A U-flag link: ``GET url?recipient=`` answers with the document's JWE itself."""
    if not share.direct:
        raise NotAvailable
    try:
        cleaned = clean_recipient(recipient)
    except BadRequest:
        access_record(
            share=share, recipient="", action=AccessAction.DIRECT, outcome=AccessOutcome.BAD_REQUEST
        )
        raise
    _refuse_if_closed(share, recipient=cleaned, action=AccessAction.DIRECT)
    file = ShareFile.objects.filter(share=share).order_by("kind").first()
    if file is None:
        access_record(
            share=share, recipient=cleaned, action=AccessAction.DIRECT, outcome=AccessOutcome.EXPIRED
        )
        raise NotAvailable
    access_record(
        share=share,
        recipient=cleaned,
        action=AccessAction.DIRECT,
        outcome=AccessOutcome.OPENED,
        file_kind=file.kind,
    )
    return file.jwe
