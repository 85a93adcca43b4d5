"""Reads for the Yellow Button pages: only ever the signed-in citizen's own rows."""

from dataclasses import dataclass

from django.db.models import Count, QuerySet
from django.utils.translation import gettext

from portal.accounts.models import User
from portal.records.selectors import RecordSection, record_sections
from sharing.ips.sections import SECTIONS, Section
from sharing.models import AccessEvent, Activity, Export, Share


def exports_of_owner(*, owner: User) -> QuerySet[Export]:
    """The only way views reach exports: anything not in here is another citizen's, hence a 404."""
    return Export.objects.filter(owner=owner).select_related("job")


def shares_of_owner(*, owner: User) -> QuerySet[Share]:
    """The only way views reach shares: another citizen's share is not in here, hence a 404."""
    return Share.objects.filter(owner=owner).select_related("job")


def accesses_of_owner(*, owner: User) -> QuerySet[AccessEvent]:
    return AccessEvent.objects.filter(owner=owner).select_related("share")


def accesses_of_share(*, share: Share) -> QuerySet[AccessEvent]:
    return AccessEvent.objects.filter(share=share, owner_id=share.owner_id)


def activities_of_owner(*, owner: User, limit: int = 50) -> list[Activity]:
    return list(Activity.objects.filter(owner=owner).select_related("export")[:limit])


@dataclass(frozen=True)
class SectionChoice:
    section: Section
    title: str
    count: int
    record: RecordSection | None


def section_choices(*, owner: User) -> list[SectionChoice]:
    """Every IPS section the citizen can include: the required ones always, the others when there is data."""
    counts = {
        row["section"]: row["total"]
        for row in owner.resources.filter(missing_since__isnull=True)
        .exclude(section="")
        .values("section")
        .annotate(total=Count("id"))
    }
    records = {record.section.key: record for record in record_sections(owner=owner)}
    return [
        SectionChoice(
            section=section,
            title=gettext(section.title),
            count=counts.get(section.key, 0),
            record=records.get(section.key),
        )
        for section in SECTIONS
        if section.required or counts.get(section.key)
    ]
