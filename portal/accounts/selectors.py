from portal.accounts.models import NationalIdentity, User


def national_identity_for(*, user: User, system: str = "") -> NationalIdentity | None:
    """The citizen's national identifier in ``system`` (any system when empty), or None."""
    identities = NationalIdentity.objects.filter(user=user)
    if system:
        identities = identities.filter(system=system)
    return identities.order_by("id").first()
