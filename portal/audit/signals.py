"""The account events the trail records, heard where they happen: Django's sign-in and sign-out, allauth's
second-factor changes, the accounts app's eID events. The accounts app stays unaware of the trail."""

from datetime import timedelta
from typing import Any

from allauth.mfa.signals import authenticator_added, authenticator_removed, authenticator_reset
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver
from django.utils import timezone

from portal.accounts.events import eid_sign_in_refused, national_identity_linked
from portal.accounts.models import User
from portal.audit.models import Action, Outcome
from portal.audit.services import audit_record, audit_repeat

# Refused eID sign-ins without an account (anyone can cause them) within this window are one row with a count.
EID_REFUSALS_WINDOW = timedelta(minutes=15)


def _citizen(user: Any) -> User | None:
    return user if isinstance(user, User) else None


def _sign_in_method(request: Any) -> str | None:
    # allauth lists the steps of this session's sign-in; the last one before a second factor says how.
    steps = getattr(request, "session", {}).get("account_authentication_methods") or []
    methods = [step.get("method") for step in steps if isinstance(step, dict) and step.get("method") != "mfa"]
    return "eid" if methods and methods[-1] == "socialaccount" else None


@receiver(user_logged_in)
def _signed_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    citizen = _citizen(user)
    if citizen is not None:
        method = _sign_in_method(request) if request is not None else None
        audit_record(
            action=Action.SIGNED_IN,
            owner=citizen,
            actor=citizen,
            target=citizen,
            detail={"method": method} if method else None,
        )


@receiver(national_identity_linked)
def _eid_linked(sender: Any, identity: Any, **kwargs: Any) -> None:
    citizen = _citizen(identity.user)
    if citizen is not None:
        audit_record(action=Action.EID_LINKED, owner=citizen, actor=citizen, target=identity)


@receiver(eid_sign_in_refused)
def _eid_refused(sender: Any, reason: str, user: Any = None, **kwargs: Any) -> None:
    citizen = _citizen(user)
    detail = {"reason": str(reason)[:40]}
    if citizen is not None:
        audit_record(
            action=Action.EID_REFUSED, owner=citizen, actor=citizen, outcome=Outcome.FAILED, detail=detail
        )
        return
    since = timezone.now() - EID_REFUSALS_WINDOW
    if not audit_repeat(
        action=Action.EID_REFUSED, owner_id=None, target=None, outcome=Outcome.FAILED, detail=detail,
        seen_since=since,
    ):  # fmt: skip
        audit_record(action=Action.EID_REFUSED, outcome=Outcome.FAILED, detail=detail)


@receiver(user_logged_out)
def _signed_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    citizen = _citizen(user)
    if citizen is not None:
        audit_record(action=Action.SIGNED_OUT, owner=citizen, actor=citizen, target=citizen)


def _second_factor(action: Action) -> Any:
    def record(
        sender: Any, request: Any = None, user: Any = None, authenticator: Any = None, **kwargs: Any
    ) -> None:
        citizen = _citizen(user)
        if citizen is not None:
            audit_record(
                action=action,
                owner=citizen,
                actor=citizen,
                target=authenticator if getattr(authenticator, "pk", None) is not None else None,
            )

    return record


# Kept as module attributes: a receiver connected weakly would be collected at once.
_mfa_added = _second_factor(Action.MFA_ADDED)
_mfa_removed = _second_factor(Action.MFA_REMOVED)
_mfa_reset = _second_factor(Action.MFA_RESET)
authenticator_added.connect(_mfa_added, dispatch_uid="audit-mfa-added")
authenticator_removed.connect(_mfa_removed, dispatch_uid="audit-mfa-removed")
authenticator_reset.connect(_mfa_reset, dispatch_uid="audit-mfa-reset")
