"""The account events the trail records, heard where they happen: Django's sign-in and sign-out, allauth's
second-factor changes. The accounts app stays unaware of the trail."""

from typing import Any

from allauth.mfa.signals import authenticator_added, authenticator_removed, authenticator_reset
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from portal.accounts.models import User
from portal.audit.models import Action
from portal.audit.services import audit_record


def _citizen(user: Any) -> User | None:
    return user if isinstance(user, User) else None


@receiver(user_logged_in)
def _signed_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    citizen = _citizen(user)
    if citizen is not None:
        audit_record(action=Action.SIGNED_IN, owner=citizen, actor=citizen, target=citizen)


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
