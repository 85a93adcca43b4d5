"""Writing the audit trail: one call per state change, and the retention purge."""

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from core.text import one_line
from portal.accounts.models import User
from portal.audit.models import (
    ONCE_PER_TARGET_ACTIONS,
    RECIPIENT_ACTIONS,
    Action,
    ActorKind,
    AuditEntry,
    FileKind,
    Outcome,
)

logger = logging.getLogger("portal.audit")

RECIPIENT_MAX_LENGTH = 200
TARGET_TYPE_MAX_LENGTH = 40
TARGET_ID_MAX_LENGTH = 64
# EHDS Art. 9: a citizen's access history is kept at least three years, whatever a setting says.
MINIMUM_RETENTION_DAYS = 3 * 365

Target = models.Model | tuple[str, str] | None


def _is_short_string(value: object, max_length: int) -> bool:
    return isinstance(value, str) and len(value) <= max_length


def _is_list_of_short_strings(value: object, *, max_items: int, max_length: int) -> bool:
    return (
        isinstance(value, list)
        and len(value) <= max_items
        and all(_is_short_string(item, max_length) for item in value)
    )


# Nothing but ids, codes and field names may enter the trail: each allowed key with its check.
DETAIL_CHECKS: dict[str, Callable[[object], bool]] = {
    "file": lambda value: isinstance(value, str) and value in FileKind.values,
    "fields": lambda value: _is_list_of_short_strings(value, max_items=30, max_length=80),
    "format": lambda value: _is_short_string(value, 16),
    "model": lambda value: _is_short_string(value, 80),
    # How a sign-in was made ("eid"), why an eID sign-in was refused (a short code, never a claim's value).
    "method": lambda value: _is_short_string(value, 16),
    "reason": lambda value: _is_short_string(value, 40),
}


def _clean_detail(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in (detail or {}).items():
        check = DETAIL_CHECKS.get(key)
        if check is None:
            raise ValueError(f"audit detail key {key!r} is not allowed")
        if not check(value):
            raise ValueError(f"audit detail {key!r} has a value that is not allowed")
        cleaned[key] = [str(item) for item in value] if isinstance(value, list) else str(value)
    return cleaned


def clean_recipient(recipient: str) -> str:
    """The name as the recipient gave it, on one line: no control or invisible characters, at most 200."""
    return one_line(recipient, RECIPIENT_MAX_LENGTH)


def _target_of(target: Target) -> tuple[str, str]:
    if target is None:
        return "", ""
    if isinstance(target, tuple):
        target_type, target_id = str(target[0]), str(target[1])
    elif target.pk is None:
        raise ValueError("an audit target must be saved first")
    else:
        target_type, target_id = f"{target._meta.app_label}.{target._meta.model_name}", str(target.pk)
    # PostgreSQL would refuse these anyway; SQLite would keep them, so say it here for both.
    if len(target_type) > TARGET_TYPE_MAX_LENGTH or len(target_id) > TARGET_ID_MAX_LENGTH:
        raise ValueError("an audit target's type or id is too long")
    return target_type, target_id


def _actor_kind_of(*, action: str, owner_id: int | None, actor: User | None) -> ActorKind:
    if action in RECIPIENT_ACTIONS:
        return ActorKind.RECIPIENT
    if actor is None:
        return ActorKind.SYSTEM
    if owner_id is not None and actor.pk == owner_id:
        return ActorKind.CITIZEN
    return ActorKind.OPERATOR


def audit_record(
    *,
    action: str,
    owner: User | None = None,
    owner_id: int | None = None,
    actor: User | None = None,
    actor_kind: str | None = None,
    target: Target = None,
    outcome: str = Outcome.OK,
    recipient: str = "",
    detail: Mapping[str, Any] | None = None,
    once: bool = False,
) -> AuditEntry | None:
    """Write one row of the trail. With ``once``, a second row for the same action and target is not
    written (a job delivered twice) and None comes back. ``owner_id`` names the owner without loading the
    row (the public link endpoints, on every request)."""
    if action not in Action.values:
        raise ValueError(f"unknown audit action {action!r}")
    if outcome not in Outcome.values:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    if actor_kind is not None and actor_kind not in ActorKind.values:
        raise ValueError(f"unknown audit actor kind {actor_kind!r}")
    if recipient and action not in RECIPIENT_ACTIONS:
        raise ValueError("only a link access names a recipient")
    target_type, target_id = _target_of(target)
    if once and (action not in ONCE_PER_TARGET_ACTIONS or not target_id):
        # Without the database constraint behind it, `once` would silently write duplicates.
        raise ValueError(f"{action!r} with a target is needed for once=True")
    entry = AuditEntry(
        owner_id=owner.pk if owner is not None else owner_id,
        actor=actor,
        actor_kind=actor_kind
        or _actor_kind_of(action=action, owner_id=owner.pk if owner is not None else owner_id, actor=actor),
        recipient=clean_recipient(recipient),
        action=action,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        detail=_clean_detail(detail),
    )
    about = f"{target_type}:{target_id}" if target_type else "-"
    if once:
        try:
            with transaction.atomic():
                entry.save()
        except IntegrityError:
            logger.info("audit %s %s already recorded", action, about)
            return None
    else:
        entry.save()
    logger.info("audit %s %s %s", action, about, outcome)
    return entry


def audit_repeat(
    *,
    action: str,
    owner_id: int | None,
    target: Target,
    outcome: str,
    recipient: str = "",
    detail: Mapping[str, Any] | None = None,
    seen_since: datetime | None = None,
) -> bool:
    """Count one more on the newest row just like this one (last seen at or after ``seen_since``, or at any
    time when None), instead of writing a new row. False when there is no such row."""
    target_type, target_id = _target_of(target)
    alike = AuditEntry.objects.filter(
        owner_id=owner_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        recipient=clean_recipient(recipient),
        detail=_clean_detail(detail),
    )
    if seen_since is not None:
        alike = alike.filter(
            models.Q(last_at__gte=seen_since) | models.Q(last_at__isnull=True, created_at__gte=seen_since)
        )
    newest = alike.order_by("-created_at", "-id").values_list("pk", flat=True).first()
    if newest is None:
        return False
    # One UPDATE: parallel repeats each count.
    AuditEntry.objects.filter(pk=newest).update(repeats=models.F("repeats") + 1, last_at=timezone.now())
    return True


def audit_purge(*, now: datetime | None = None) -> int:
    """Delete the rows older than ACCESS_LOG_RETENTION_DAYS; returns how many went."""
    days = max(settings.ACCESS_LOG_RETENTION_DAYS, MINIMUM_RETENTION_DAYS)
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted, _ = AuditEntry.objects.filter(created_at__lt=cutoff).delete()
    logger.info("audit purge: deleted %d entries older than %d days", deleted, days)
    return deleted
