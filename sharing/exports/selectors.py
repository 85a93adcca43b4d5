"""Reads for the download page: only ever the signed-in citizen's own rows."""

from django.db.models import QuerySet

from portal.accounts.models import User
from sharing.models import Activity, Export


def exports_of_owner(*, owner: User) -> QuerySet[Export]:
    """The only way views reach exports: anything not in here is another citizen's, hence a 404."""
    return Export.objects.filter(owner=owner).select_related("job")


def activities_of_owner(*, owner: User, limit: int = 50) -> list[Activity]:
    return list(Activity.objects.filter(owner=owner).select_related("export")[:limit])
