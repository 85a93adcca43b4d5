"""Reads for the citizen's link pages: only ever the signed-in citizen's own rows."""

from django.db.models import QuerySet

from portal.accounts.models import User
from sharing.models import AccessEvent, Share


def shares_of_owner(*, owner: User) -> QuerySet[Share]:
    """The only way views reach shares: another citizen's share is not in here, hence a 404."""
    return Share.objects.filter(owner=owner).select_related("job")


def accesses_of_owner(*, owner: User) -> QuerySet[AccessEvent]:
    return AccessEvent.objects.filter(owner=owner).select_related("share")


def accesses_of_share(*, share: Share) -> QuerySet[AccessEvent]:
    return AccessEvent.objects.filter(share=share, owner_id=share.owner_id)
