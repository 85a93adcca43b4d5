"""Reads for the record page: the citizen's own stored resources by IPS section, and their sources' pulls."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from core.fhir.narrative import sanitize_narrative, within_limits
from core.fhir.summary import ItemSummary, summarize
from core.ips.sections import SECTIONS, Section
from portal.accounts.models import User
from portal.accounts.selectors import (
    assurance_suffices,
    identity_for_identifier_pulls,
    national_identity_for,
)
from portal.records.models import AuthMode, Connection, ConnectionStatus, DataSource, Pull, StoredResource

# A section longer than this shows its newest items and says how many more there are.
ITEMS_PER_SECTION = 300
# Upstream markup the record page parses in one view, at most: each narrative is bounded on its own
# (narrative.MAX_NARRATIVE_CHARS / _TAGS), these bound them all together, so a source sending thousands of
# huge narratives cannot make the page take minutes. Items beyond the budget show without the source's text.
NARRATIVE_BUDGET_CHARS = 8_000_000
NARRATIVE_BUDGET_TAGS = 200_000
# Referenced resources the page reads to name things (a statement's medicine, a device in use).
NAMING_TYPES = ("Medication", "Device")


@dataclass(frozen=True)
class RecordItem:
    summary: ItemSummary
    narrative: SafeString
    source_name: str
    fetched_at: datetime
    missing_since: datetime | None
    resource_type: str
    # The stored row's id: the Yellow Button page names single items by it when the citizen leaves one out.
    pk: int = 0


@dataclass(frozen=True)
class RecordSection:
    section: Section
    title: str
    items: list[RecordItem]
    hidden_count: int


def resources_of_owner(*, owner: User) -> QuerySet[StoredResource]:
    return StoredResource.objects.filter(owner=owner)


class _NarrativeBudget:
    def __init__(self) -> None:
        self.chars = NARRATIVE_BUDGET_CHARS
        self.tags = NARRATIVE_BUDGET_TAGS

    def take(self, div: str) -> bool:
        tags = div.count("<")
        if len(div) > self.chars or tags > self.tags:
            return False
        self.chars -= len(div)
        self.tags -= tags
        return True


def _narrative(resource: Mapping[str, Any], budget: _NarrativeBudget) -> SafeString:
    text = resource.get("text")
    div = text.get("div") if isinstance(text, Mapping) else None
    if not within_limits(div) or not budget.take(div):
        return mark_safe("")
    # Sanitised with the FHIR narrative allow-list: safe to place in the page as markup.
    return mark_safe(sanitize_narrative(div))  # noqa: S308


def record_sections(*, owner: User) -> list[RecordSection]:
    """Every IPS section that has items, in IPS order; each item readable and sanitised."""
    resources = resources_of_owner(owner=owner)
    names = {
        (row.source_id, f"{row.resource_type}/{row.resource_id}"): row.data
        for row in resources.filter(resource_type__in=NAMING_TYPES).only(
            "source_id", "resource_type", "resource_id", "data"
        )
    }
    sections = []
    budget = _NarrativeBudget()
    for section in SECTIONS:
        rows = resources.filter(section=section.key).select_related("source").order_by("-changed_at", "id")
        total = rows.count()
        if not total:
            continue
        items = []
        for row in rows[:ITEMS_PER_SECTION]:

            def resolve(reference: str, source_id: int = row.source_id) -> dict[str, Any] | None:
                return names.get((source_id, reference))

            items.append(
                RecordItem(
                    summary=summarize(row.data, resolve),
                    narrative=_narrative(row.data, budget),
                    source_name=row.source.name,
                    fetched_at=row.fetched_at,
                    missing_since=row.missing_since,
                    resource_type=row.resource_type,
                    pk=row.pk,
                )
            )
        sections.append(
            RecordSection(
                section=section,
                title=gettext(section.title),
                items=items,
                hidden_count=max(0, total - ITEMS_PER_SECTION),
            )
        )
    return sections


# What a clinician must see first, in this order: allergies and intolerances, alerts, advance directives.
IMPORTANT_SECTIONS = ("allergies", "alerts", "advance_directives")


@dataclass(frozen=True)
class ImportantItem:
    section_title: str
    item: RecordItem


def important_items(sections: list[RecordSection]) -> list[ImportantItem]:
    """The safety-critical items of the record page's sections, each still at its source, for the panel at
    the top of the page (the sections themselves are read once)."""
    by_key = {record_section.section.key: record_section for record_section in sections}
    return [
        ImportantItem(section_title=by_key[key].title, item=item)
        for key in IMPORTANT_SECTIONS
        if key in by_key
        for item in by_key[key].items
        if item.missing_since is None
    ]


@dataclass(frozen=True)
class SourceStatus:
    source: DataSource
    connection: Connection | None
    last_pull: Pull | None
    warnings: list[str]
    can_connect: bool
    # Why a source that finds people by national identifier cannot be asked yet: "link-eid", "stronger-eid".
    blocked: str = ""


def _warning_text(warning: Any) -> str:
    if not isinstance(warning, Mapping) or not isinstance(warning.get("message"), str):
        return ""
    params = warning.get("params")
    if not isinstance(params, Mapping):
        params = {}
    translated = {
        key: gettext(value) if key == "reason" and isinstance(value, str) else value
        for key, value in params.items()
    }
    try:
        return gettext(warning["message"]) % translated
    except (KeyError, TypeError, ValueError):
        return gettext(warning["message"])


def source_statuses(*, owner: User) -> list[SourceStatus]:
    """Each enabled source with the citizen's connection and last pull."""
    statuses = []
    connections = {c.source_id: c for c in Connection.objects.filter(owner=owner)}
    identity = national_identity_for(user=owner)
    for source in DataSource.objects.filter(enabled=True):
        blocked = ""
        if source.auth_mode != AuthMode.SMART_LAUNCH and not identity_for_identifier_pulls(
            user=owner, system=source.patient_identifier_system
        ):
            blocked = (
                "stronger-eid" if identity is not None and not assurance_suffices(identity) else "link-eid"
            )
        last_pull = (
            Pull.objects.filter(owner=owner, source=source)
            .select_related("job")
            .order_by("-created_at")
            .first()
        )
        connection = connections.get(source.pk)
        statuses.append(
            SourceStatus(
                source=source,
                connection=connection,
                last_pull=last_pull,
                warnings=[
                    text for text in map(_warning_text, last_pull.warnings if last_pull else []) if text
                ],
                can_connect=source.auth_mode == AuthMode.SMART_LAUNCH
                and (connection is None or connection.status != ConnectionStatus.ACTIVE),
                blocked=blocked,
            )
        )
    return statuses


def has_record(*, owner: User) -> bool:
    """Whether the portal holds the citizen's record: a current Patient from some source. A summary or a
    share can be made only then."""
    return (
        resources_of_owner(owner=owner).filter(resource_type="Patient", missing_since__isnull=True).exists()
    )


class IdentityState:
    NONE = "none"  # no national identifier on the account
    WEAK = "weak"  # bound by an eID sign-in below EID_MIN_ASSURANCE
    ENOUGH = "enough"


@dataclass(frozen=True)
class Readiness:
    """Where a citizen stands on the way to their summary, so every page can say what to do next."""

    has_record: bool
    identity: str  # an IdentityState
    # Sources that find the citizen by national identifier, and how many the identifier opens now.
    identifier_sources: int
    identifier_sources_open: int
    # SMART standalone launch sources: how many there are, and how many the citizen has connected.
    launch_sources: int
    launch_sources_connected: int

    @property
    def can_fetch(self) -> bool:
        return bool(self.identifier_sources_open or self.launch_sources_connected)

    @property
    def next_step(self) -> str:
        """ "" when the record is here; else "fetch", "stronger-eid", "link-eid" or "no-source"."""
        if self.has_record:
            return ""
        if self.can_fetch:
            return "fetch"
        if self.identifier_sources and self.identity == IdentityState.WEAK:
            return "stronger-eid"
        if self.identifier_sources and self.identity == IdentityState.NONE:
            return "link-eid"
        if self.launch_sources:
            return "connect"
        return "no-source"


def readiness(*, owner: User) -> Readiness:
    sources = list(
        DataSource.objects.filter(enabled=True).only("id", "auth_mode", "patient_identifier_system")
    )
    identifier = [source for source in sources if source.auth_mode != AuthMode.SMART_LAUNCH]
    launch = [source for source in sources if source.auth_mode == AuthMode.SMART_LAUNCH]
    identity = national_identity_for(user=owner)
    if identity is None:
        state = IdentityState.NONE
    else:
        state = IdentityState.ENOUGH if assurance_suffices(identity) else IdentityState.WEAK
    connected = set(
        Connection.objects.filter(owner=owner, source__in=launch, status=ConnectionStatus.ACTIVE).values_list(
            "source_id", flat=True
        )
    )
    return Readiness(
        has_record=has_record(owner=owner),
        identity=state,
        identifier_sources=len(identifier),
        identifier_sources_open=sum(
            1
            for source in identifier
            if identity_for_identifier_pulls(user=owner, system=source.patient_identifier_system)
        ),
        launch_sources=len(launch),
        launch_sources_connected=len(connected),
    )
