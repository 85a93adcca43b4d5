from django.conf import settings

from core.identity import acr_meets
from portal.accounts.models import NationalIdentity, User


def national_identity_for(*, user: User, system: str = "") -> NationalIdentity | None:
    """The citizen's national identifier in ``system`` (any system when empty), or None."""
    identities = NationalIdentity.objects.filter(user=user)
    if system:
        identities = identities.filter(system=system)
    return identities.order_by("id").first()


def assurance_suffices(identity: NationalIdentity) -> bool:
    """Whether sources may be asked for the person by this identifier: an eID sign-in at EID_MIN_ASSURANCE or
    above, or a binding an operator recorded (no acr: they checked the person themselves)."""
    if not identity.acr:
        return True
    return acr_meets(identity.acr, accepted=settings.EID_ACR_VALUES, minimum=settings.EID_MIN_ASSURANCE)


def identity_for_identifier_pulls(*, user: User, system: str) -> NationalIdentity | None:
    """The identifier a source may search the citizen by: bound in ``system`` and at enough assurance."""
    identity = national_identity_for(user=user, system=system)
    return identity if identity is not None and assurance_suffices(identity) else None
