from django.contrib.sessions.models import Session
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.identity import VerifiedIdentity
from portal.accounts.events import national_identity_linked
from portal.accounts.models import CitizenProfile, Language, NationalIdentity, User


def profile_ensure(*, user: User) -> CitizenProfile:
    profile, _created = CitizenProfile.objects.get_or_create(user=user)
    return profile


def profile_set_language(*, user: User, language: str) -> CitizenProfile:
    if language not in Language.values:
        raise ValueError(f"Unsupported language: {language!r}")
    profile = profile_ensure(user=user)
    profile.preferred_language = language
    profile.save(update_fields=["preferred_language"])
    return profile


def sessions_purge() -> int:
    """Delete the sessions past their expiry (Django keeps them until asked); returns how many went."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted


# ---------------------------------------------------------------------------- national identity (eID)


class IdentityConflict(Exception):
    """An eID identity that cannot be bound to the account at hand; ``code`` says why (no values)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _conflict(*, user_id: int | None, identity: VerifiedIdentity) -> str | None:
    """Why ``identity`` cannot belong to account ``user_id`` (None: a new account); None when it can."""
    row = NationalIdentity.objects.filter(system=identity.system, value=identity.value).first()
    if row is not None:
        if row.user_id != user_id:
            return "bound-elsewhere"
        if row.subject and (row.issuer, row.subject) != (identity.issuer, identity.subject):
            # Two eID persons stating one identifier: neither is believed over the other.
            return "other-eid-person"
    same_person = NationalIdentity.objects.filter(issuer=identity.issuer, subject=identity.subject)
    if row is not None:
        same_person = same_person.exclude(pk=row.pk)
    if same_person.exists():
        return "eid-person-has-other-identifier"
    if user_id is not None:
        others = NationalIdentity.objects.filter(user_id=user_id, system=identity.system)
        if row is not None:
            others = others.exclude(pk=row.pk)
        if others.exists():
            return "account-has-other-identifier"
    return None


def identity_account(*, identity: VerifiedIdentity) -> User | None:
    """The account that holds this identifier already (an eID sign-in lands there), or None."""
    row = (
        NationalIdentity.objects.select_related("user")
        .filter(system=identity.system, value=identity.value)
        .first()
    )
    return row.user if row is not None else None


def identity_check(*, user: User | None, identity: VerifiedIdentity) -> None:
    """Raise IdentityConflict unless ``identity`` may be bound to ``user`` (None: a new account)."""
    code = _conflict(user_id=user.pk if user is not None else None, identity=identity)
    if code is not None:
        raise IdentityConflict(code)


def identity_bind(*, user: User, identity: VerifiedIdentity) -> NationalIdentity:
    """Bind the verified identity to ``user``: a new row, a seeded row claimed (issuer and subject filled),
    or the same binding verified again (assurance and time refreshed). IdentityConflict if it is elsewhere."""
    try:
        with transaction.atomic():
            # Lock the rows this binding competes with, so two sign-ins at once cannot both bind.
            list(
                NationalIdentity.objects.select_for_update().filter(
                    system=identity.system, value=identity.value
                )
            )
            identity_check(user=user, identity=identity)
            row = NationalIdentity.objects.filter(system=identity.system, value=identity.value).first()
            linked = row is None or not row.subject
            if row is None:
                row = NationalIdentity(user=user, system=identity.system, value=identity.value)
            row.issuer, row.subject, row.acr = identity.issuer, identity.subject, identity.acr
            row.verified_at = timezone.now()
            row.save()
    except IntegrityError as error:
        # Another request bound it between our check and our write.
        raise IdentityConflict("bound-elsewhere") from error
    if linked:
        national_identity_linked.send(sender=NationalIdentity, identity=row)
    return row


def identity_record_on_file(*, user: User, system: str, value: str) -> NationalIdentity:
    """An identifier known before any eID sign-in (seed data, imports): issuer and subject stay empty until
    the first eID sign-in with this identifier claims the row. Idempotent; IdentityConflict if another account
    holds it."""
    row, _created = NationalIdentity.objects.get_or_create(
        system=system, value=value, defaults={"user": user}
    )
    if row.user_id != user.pk:
        raise IdentityConflict("bound-elsewhere")
    return row
