"""The public side of a SMART Health Link: manifest, file and direct (U flag) requests, and the access log.

Every request that reaches a known link writes one row of the audit trail. Refusals of any kind (unknown,
expired, revoked, paused, locked) look the same to the requester: the views answer them all with one 404.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Length
from django.utils import timezone

from core.text import one_line
from portal import crypto
from portal.audit.models import Action, AuditEntry, Outcome
from portal.audit.services import audit_record, audit_repeat
from sharing.links.services import manifest_digest, passcode_matches, share_refusal
from sharing.models import Share, ShareFile, SpentFileUrl

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


def rate_limit_group(manifest_id: str) -> str:
    """The rate-limit bucket of a request for this link id: the same rule for ids that exist and ids that
    do not (malformed ones share one bucket)."""
    return f"shl:{manifest_digest(manifest_id)[:32]}" if MANIFEST_ID.match(manifest_id) else "shl:malformed"


def share_by_manifest_id(manifest_id: str) -> Share | None:
    if not MANIFEST_ID.match(manifest_id):
        return None
    try:
        return Share.objects.get(manifest_digest=manifest_digest(manifest_id))
    except Share.DoesNotExist:
        return None


# Each of these is a row of its own: the citizen sees every time their data was handed over.
HANDED_OVER = frozenset({Outcome.OPENED, Outcome.FILE_SENT})


def access_record(
    *, share: Share, recipient: str, action: Action, outcome: Outcome, file_kind: str = ""
) -> None:
    """The citizen's trail of a request that reached a known link (ids and outcomes; the recipient's name
    as given). It keeps its meaning under a flood: like refusals within SHL_ACCESS_LOG_WINDOW_SECONDS are one
    row that counts them, and past SHL_ACCESS_LOG_MAX_ROWS rows a link's further accesses are counted on one
    row per kind, whatever recipient they name."""
    alike: dict[str, Any] = {
        "action": action,
        "owner_id": share.owner_id,
        "target": ("sharing.share", str(share.id)),
        "outcome": outcome,
        "detail": {"file": file_kind} if file_kind else None,
    }
    window = timedelta(seconds=settings.SHL_ACCESS_LOG_WINDOW_SECONDS)
    if outcome not in HANDED_OVER and audit_repeat(
        **alike, recipient=recipient, seen_since=timezone.now() - window
    ):
        return
    rows = AuditEntry.objects.filter(target_type="sharing.share", target_id=str(share.id))
    if rows.count() >= settings.SHL_ACCESS_LOG_MAX_ROWS:
        if audit_repeat(**alike):
            return
        recipient = ""  # the overflow row of its kind: no one recipient's name
    audit_record(**alike, recipient=recipient)


def clean_recipient(value: Any) -> str:
    if not isinstance(value, str):
        raise BadRequest("recipient is required")
    cleaned = one_line(value, RECIPIENT_MAX_LENGTH)
    if not cleaned:
        raise BadRequest("recipient is required")
    return cleaned


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


def _refuse_if_closed(share: Share, *, recipient: str, action: Action) -> None:
    refusal = share_refusal(share)
    if refusal is not None:
        access_record(share=share, recipient=recipient, action=action, outcome=refusal)
        raise NotAvailable


def _check_passcode(share: Share, *, passcode: str | None, recipient: str) -> None:
    if not share.has_passcode:
        return
    if passcode is None:
        access_record(
            share=share, recipient=recipient, action=Action.LINK_MANIFEST, outcome=Outcome.BAD_REQUEST
        )
        raise WrongPasscode(share.passcode_attempts_left)
    if passcode_matches(share, passcode):
        return
    # The lifetime budget: one conditional UPDATE, so parallel guesses can never spend more than it holds.
    spent = Share.objects.filter(id=share.id, passcode_attempts_left__gt=0).update(
        passcode_attempts_left=F("passcode_attempts_left") - 1
    )
    if not spent:
        access_record(share=share, recipient=recipient, action=Action.LINK_MANIFEST, outcome=Outcome.LOCKED)
        raise NotAvailable
    remaining = Share.objects.values_list("passcode_attempts_left", flat=True).get(id=share.id)
    access_record(
        share=share, recipient=recipient, action=Action.LINK_MANIFEST, outcome=Outcome.WRONG_PASSCODE
    )
    raise WrongPasscode(remaining)


def manifest_open(
    *, share: Share, request: ManifestRequest, file_url: Callable[[str], str]
) -> dict[str, list[dict[str, str]]]:
    """The manifest: each file embedded (when the client allows its length) or behind a one-use URL."""
    _refuse_if_closed(share, recipient=request.recipient, action=Action.LINK_MANIFEST)
    _check_passcode(share, passcode=request.passcode, recipient=request.recipient)
    limit = request.embedded_length_max
    files = ShareFile.objects.filter(share=share).order_by("kind")
    # The ciphertexts stay in the database unless embedded: a location answer reads only metadata.
    files = files.annotate(jwe_length=Length("jwe")) if limit is not None else files.defer("jwe")
    entries = []
    for file in files:
        entry = {
            "contentType": file.content_type,
            "lastUpdated": file.created_at.isoformat(timespec="seconds"),
            "status": "finalized",
            "fhirVersion": FHIR_VERSION,
        }
        if limit is not None and getattr(file, "jwe_length", limit + 1) <= limit:
            entry["embedded"] = file.jwe
        else:
            entry["location"] = file_url(file_token(file_id=file.id, recipient=request.recipient))
        entries.append(entry)
    outcome = Outcome.OPENED if entries else Outcome.EXPIRED  # no files: purged meanwhile
    access_record(share=share, recipient=request.recipient, action=Action.LINK_MANIFEST, outcome=outcome)
    if not entries:
        raise NotAvailable
    return {"files": entries}


def file_token(*, file_id: int, recipient: str) -> str:
    """A file URL's last segment: Fernet-encrypted (so it holds the recipient unseen) and dated, so it
    expires by itself; no row to write for each manifest answer."""
    plain = json.dumps({"file": file_id, "recipient": recipient, "nonce": secrets.token_urlsafe(8)})
    return crypto.encrypt(plain)


def _used_before(token: str) -> bool:
    # One use per URL, decided by the database for every process at once: of parallel requests, exactly one
    # INSERT of the unique digest succeeds.
    try:
        with transaction.atomic():
            SpentFileUrl.objects.create(digest=hashlib.sha256(token.encode()).hexdigest())
    except IntegrityError:
        return True
    return False


def file_fetch(*, token: str) -> str:
    """The JWE behind a manifest's ``location``: once, within its lifetime, while the link is open."""
    if len(token) > 1000:
        raise NotAvailable
    try:
        claims = json.loads(crypto.decrypt(token, max_age_seconds=settings.SHL_FILE_URL_LIFETIME_SECONDS))
        file = ShareFile.objects.select_related("share").get(id=claims["file"])
        recipient = str(claims["recipient"])
    except (crypto.DecryptionError, ValueError, KeyError, TypeError, ShareFile.DoesNotExist):
        raise NotAvailable from None  # altered, older than its lifetime, or its files purged
    share = file.share
    _refuse_if_closed(share, recipient=recipient, action=Action.LINK_FILE)
    if _used_before(token):
        access_record(
            share=share,
            recipient=recipient,
            action=Action.LINK_FILE,
            outcome=Outcome.FILE_LINK_GONE,
            file_kind=file.kind,
        )
        raise NotAvailable
    access_record(
        share=share,
        recipient=recipient,
        action=Action.LINK_FILE,
        outcome=Outcome.FILE_SENT,
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
        access_record(share=share, recipient="", action=Action.LINK_DIRECT, outcome=Outcome.BAD_REQUEST)
        raise
    _refuse_if_closed(share, recipient=cleaned, action=Action.LINK_DIRECT)
    file = ShareFile.objects.filter(share=share).order_by("kind").first()
    if file is None:
        access_record(share=share, recipient=cleaned, action=Action.LINK_DIRECT, outcome=Outcome.EXPIRED)
        raise NotAvailable
    access_record(
        share=share,
        recipient=cleaned,
        action=Action.LINK_DIRECT,
        outcome=Outcome.OPENED,
        file_kind=file.kind,
    )
    return file.jwe
