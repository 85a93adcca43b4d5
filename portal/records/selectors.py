"""Reads for the record page: the citizen's own stored resources by IPS section, and their sources' pulls."""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Count, Max, Q, QuerySet
from django.utils import formats, timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, gettext_lazy, pgettext

from core.fhir.narrative import readable_narrative, within_limits
from core.fhir.read import mappings_of
from core.fhir.summary import EN_DASH, ItemSummary, summarize
from core.fhir.wording import Wording, parse_fhir_date
from core.ips.sections import SECTIONS, Section
from portal.accounts.models import User
from portal.accounts.selectors import (
    assurance_suffices,
    identity_for_identifier_pulls,
    national_identity_for,
)
from portal.jobs.models import Job, JobStatus
from portal.records.models import AuthMode, Connection, ConnectionStatus, DataSource, Pull, StoredResource
from portal.records.services import MERGE_KIND

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
    # Every source that holds this fact (core.fhir.merge), the shown row's first; and what they disagree on.
    source_names: tuple[str, ...] = ()
    conflicts: tuple["ShownConflict", ...] = ()

    @property
    def other_sources(self) -> tuple[str, ...]:
        return self.source_names[1:]


@dataclass(frozen=True)
class ConflictSide:
    value: str  # worded in the page's language
    source_name: str
    date: str


@dataclass(frozen=True)
class ShownConflict:
    """What the sources of one fact disagree on, every side with its source: never resolved quietly."""

    field: str  # "status", "clinicalStatus", "verificationStatus" or "date"
    label: str
    sides: tuple[ConflictSide, ...]


@dataclass(frozen=True)
class RecordSection:
    section: Section
    title: str
    items: list[RecordItem]
    hidden_count: int
    # Items of the section, and of those the ones the filter lets through (all of them without a filter).
    total: int = 0
    matched: int = 0


# ---------------------------------------------------------------------------- wording


def _number(text: str) -> str:
    try:
        return formats.number_format(Decimal(text), use_l10n=True)
    except (InvalidOperation, ValueError):
        return text


def _moment(value: datetime) -> str:
    # An aware time is shown in the portal's TIME_ZONE; one without a zone as the source wrote it.
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return formats.date_format(local, "DATETIME_FORMAT")


def page_wording() -> Wording:
    """The wording of the active language: FHIR's fixed codes through the catalogue, Django's formats for
    dates and numbers. The pages, the Yellow Button's lists and the PDF all use it."""
    return Wording(
        term=pgettext,
        number=_number,
        day=lambda value: formats.date_format(value, "DATE_FORMAT"),
        month=lambda value: formats.date_format(value, "YEAR_MONTH_FORMAT"),
        year=str,
        moment=_moment,
        dates=True,
        range_separator=f" {EN_DASH} ",
    )


# ---------------------------------------------------------------------------- the filter


@dataclass(frozen=True)
class RecordFilter:
    """What the citizen looks for: words (each must appear) and a period (items dated within it)."""

    text: str = ""
    since: date | None = None
    until: date | None = None
    # The dates as typed, for the form, and whether one could not be read.
    since_input: str = ""
    until_input: str = ""
    invalid_dates: tuple[str, ...] = field(default=())

    @property
    def active(self) -> bool:
        return bool(self.words or self.since or self.until)

    @property
    def words(self) -> list[str]:
        return self.text.casefold().split()


def _date_input(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def record_filter(*, text: str = "", since: str = "", until: str = "") -> RecordFilter:
    """The filter of the record page's form (q=, from=, to= with dates as YYYY-MM-DD); a date that cannot
    be read is left out of the filter and named in ``invalid_dates`` ("from", "to")."""
    text = " ".join(text.split())[:200]
    since_date = _date_input(since) if since.strip() else None
    until_date = _date_input(until) if until.strip() else None
    invalid = tuple(
        name
        for name, typed, read in (("from", since, since_date), ("to", until, until_date))
        if typed.strip() and read is None
    )
    return RecordFilter(
        text=text,
        since=since_date,
        until=until_date,
        since_input=since.strip()[:20],
        until_input=until.strip()[:20],
        invalid_dates=invalid,
    )


def _dated_between(raw_date: str | None) -> tuple[date, date] | None:
    """The days a summary's date can mean (a year is all of it, a period its start to its end)."""
    if not raw_date:
        return None
    start_text, dash, end_text = raw_date.partition(EN_DASH)
    start = parse_fhir_date(start_text) if start_text else None
    end = parse_fhir_date(end_text) if end_text else None
    if not dash:
        end = start
    if start is None and end is None:
        return None
    return (start.first_day if start else date.min, end.last_day if end else date.max)


def _matches(item: RecordItem, wanted: RecordFilter) -> bool:
    if wanted.since or wanted.until:
        days = _dated_between(item.summary.raw_date)
        if days is None:
            return False
        if wanted.since and days[1] < wanted.since:
            return False
        if wanted.until and days[0] > wanted.until:
            return False
    if wanted.words:
        summary = item.summary
        parts = [summary.title, summary.status or "", summary.date or "", item.source_name]
        for detail in summary.details:
            parts.extend((gettext(detail.label) if detail.label else "", detail.value))
        haystack = " ".join(parts).casefold()
        return all(word in haystack for word in wanted.words)
    return True


def resources_of_owner(*, owner: User) -> QuerySet[StoredResource]:
    return StoredResource.objects.filter(owner=owner)


def shown_resources_of_owner(*, owner: User) -> QuerySet[StoredResource]:
    """The rows that stand for a fact: one per fact however many sources hold it (record_merge)."""
    return resources_of_owner(owner=owner).filter(merged_into__isnull=True)


CONFLICT_LABELS = {
    "status": gettext_lazy("Status"),
    "clinicalStatus": gettext_lazy("Clinical status"),
    "verificationStatus": gettext_lazy("Verification status"),
    "date": gettext_lazy("Date"),
}


def _shown_conflicts(
    row: StoredResource, source_names: Mapping[str, str], wording: Wording
) -> tuple[ShownConflict, ...]:
    shown = []
    for conflict in mappings_of(row.conflicts):
        field_name = conflict.get("field")
        if not isinstance(field_name, str):
            continue
        sides = []
        for side in mappings_of(conflict.get("values")):
            value = str(side.get("value", ""))
            if field_name == "date":
                worded = wording.date_text(value)
            else:
                worded = wording.code(f"{row.resource_type}.{field_name}", value, value) or value
            date_text = wording.date_text(str(side.get("date", ""))) if side.get("date") else ""
            sides.append(ConflictSide(worded, source_names.get(str(side.get("source")), ""), date_text))
        label = CONFLICT_LABELS.get(field_name, field_name)
        shown.append(ShownConflict(field=field_name, label=str(label), sides=tuple(sides)))
    return tuple(shown)


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
    # Sanitised with the FHIR narrative allow-list (and the generator's boilerplate taken out): safe to
    # place in the page as markup.
    return mark_safe(readable_narrative(div))  # noqa: S308


def record_sections(
    *,
    owner: User,
    wanted: RecordFilter | None = None,
    wording: Wording | None = None,
    only: tuple[str, ...] | None = None,
) -> list[RecordSection]:
    """Every IPS section that has items, in IPS order; each item readable and sanitised, worded in the
    active language. With a filter, each section holds the items it lets through (and says how many of
    how many); a section none of whose items match stays, empty, so the counts stay honest. ``only``:
    the sections of these keys."""
    wording = wording or page_wording()
    wanted = wanted if wanted is not None and wanted.active else None
    resources = resources_of_owner(owner=owner)
    source_names = {str(pk): name for pk, name in DataSource.objects.values_list("pk", "name")}
    names = {
        (row.source_id, f"{row.resource_type}/{row.resource_id}"): row.data
        for row in resources.filter(resource_type__in=NAMING_TYPES).only(
            "source_id", "resource_type", "resource_id", "data"
        )
    }
    sections = []
    budget = _NarrativeBudget()
    for section in SECTIONS:
        if only is not None and section.key not in only:
            continue
        rows = (
            shown_resources_of_owner(owner=owner)
            .filter(section=section.key)
            .select_related("source")
            .order_by("-changed_at", "id")
        )
        total = rows.count()
        if not total:
            continue
        items: list[RecordItem] = []
        matched = 0
        # Without a filter only the shown items are read; a filter has to look at every one.
        for row in rows.iterator(chunk_size=500) if wanted else rows[:ITEMS_PER_SECTION]:

            def resolve(reference: str, source_id: int = row.source_id) -> dict[str, Any] | None:
                return names.get((source_id, reference))

            item = RecordItem(
                summary=summarize(row.data, resolve, wording),
                narrative=mark_safe(""),
                source_name=row.source.name,
                fetched_at=row.fetched_at,
                missing_since=row.missing_since,
                resource_type=row.resource_type,
                pk=row.pk,
                source_names=(row.source.name,),
                conflicts=_shown_conflicts(row, source_names, wording),
            )
            if wanted and not _matches(item, wanted):
                continue
            matched += 1
            if len(items) < ITEMS_PER_SECTION:
                items.append(replace(item, narrative=_narrative(row.data, budget)))
        if not wanted:
            matched = total
        items = _with_every_source(items, owner, source_names)
        sections.append(
            RecordSection(
                section=section,
                title=gettext(section.title),
                items=items,
                hidden_count=max(0, matched - len(items)),
                total=total,
                matched=matched,
            )
        )
    return sections


MERGED_BATCH = 500


def sources_merged_into(*, owner: User, shown: list[int]) -> dict[int, list[int]]:
    """For each shown row (by id), the sources of the rows merged into it: the same fact, held elsewhere too
    (record_merge). Rows no longer at their source are not counted."""
    others: dict[int, list[int]] = {}
    merged = resources_of_owner(owner=owner).filter(missing_since__isnull=True, merged_into__isnull=False)
    for start in range(0, len(shown), MERGED_BATCH):
        batch = merged.filter(merged_into__in=shown[start : start + MERGED_BATCH]).order_by("source_id")
        for merged_into, source_id in batch.values_list("merged_into_id", "source_id"):
            if source_id not in others.setdefault(merged_into, []):
                others[merged_into].append(source_id)
    return others


def conflicts_of_shown(*, owner: User, shown: list[int]) -> dict[int, list[Mapping[str, Any]]]:
    """For each shown row (by id) whose sources disagree, what they disagree on, as record_merge kept it."""
    found: dict[int, list[Mapping[str, Any]]] = {}
    rows = resources_of_owner(owner=owner).filter(merged_into__isnull=True).exclude(conflicts=[])
    for start in range(0, len(shown), MERGED_BATCH):
        for pk, conflicts in rows.filter(pk__in=shown[start : start + MERGED_BATCH]).values_list(
            "pk", "conflicts"
        ):
            found[pk] = list(mappings_of(conflicts))
    return found


def _with_every_source(
    items: list[RecordItem], owner: User, source_names: Mapping[str, str]
) -> list[RecordItem]:
    """The shown items, each naming every source that holds its fact (one query for the whole section)."""
    others = sources_merged_into(owner=owner, shown=[item.pk for item in items])
    named = []
    for item in items:
        names = sorted({source_names.get(str(source), "") for source in others.get(item.pk, [])} - {""})
        also = tuple(name for name in names if name != item.source_name)
        named.append(replace(item, source_names=(item.source_name, *also)) if also else item)
    return named


@dataclass(frozen=True)
class ContentsEntry:
    key: str
    title: str
    shown: int  # items the filter lets through
    total: int


@dataclass(frozen=True)
class RecordContents:
    entries: list[ContentsEntry]
    shown: int
    total: int


def record_contents(sections: list[RecordSection]) -> RecordContents:
    """The contents list atop the record page: each section with how many of its items are shown."""
    entries = [
        ContentsEntry(key=record.section.key, title=record.title, shown=record.matched, total=record.total)
        for record in sections
    ]
    return RecordContents(
        entries=entries,
        shown=sum(entry.shown for entry in entries),
        total=sum(entry.total for entry in entries),
    )


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
    # What the portal holds from this source: said here once, not on every item of the record.
    held: int = 0
    fetched_at: datetime | None = None


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
    """Each enabled source (and any other the citizen holds data from) with the citizen's connection, last
    pull, and how many items the portal holds from it, fetched when."""
    statuses = []
    connections = {c.source_id: c for c in Connection.objects.filter(owner=owner)}
    identity = national_identity_for(user=owner)
    held = {
        row["source_id"]: (row["count"], row["fetched"])
        for row in resources_of_owner(owner=owner)
        .order_by()
        .values("source_id")
        # The items the record page shows (those filed in a section), so the numbers agree with its contents.
        .annotate(count=Count("id", filter=~Q(section="")), fetched=Max("fetched_at"))
    }
    # A disabled source is listed only for what the portal still holds from it: nothing to fetch there now.
    for source in DataSource.objects.filter(Q(enabled=True) | Q(pk__in=list(held))):
        blocked = ""
        if (
            source.enabled
            and source.auth_mode != AuthMode.SMART_LAUNCH
            and not identity_for_identifier_pulls(user=owner, system=source.patient_identifier_system)
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
                can_connect=source.enabled
                and source.auth_mode == AuthMode.SMART_LAUNCH
                and (connection is None or connection.status != ConnectionStatus.ACTIVE),
                blocked=blocked,
                held=held.get(source.pk, (0, None))[0],
                fetched_at=held.get(source.pk, (0, None))[1],
            )
        )
    return statuses


UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)


@dataclass(frozen=True)
class SourceProgress:
    source_id: int
    status: str  # the last pull's job status, "" when never pulled
    progress: int
    detail: str  # translated


@dataclass(frozen=True)
class RecordActivity:
    """Whether the record is still changing (a pull or the merge queued or running), each source's last pull,
    and ``version``, which changes whenever what the record page shows may have: a pull's state, what a
    source delivered so far, or a merge done."""

    busy: bool
    version: str
    sources: tuple[SourceProgress, ...]


def record_activity(*, owner: User, statuses: list[SourceStatus]) -> RecordActivity:
    merges = Job.objects.filter(owner=owner, kind=MERGE_KIND)
    merging = merges.filter(status__in=UNFINISHED).exists()
    last_merge = merges.filter(status__in=(JobStatus.SUCCEEDED, JobStatus.FAILED)).order_by("-finished_at")
    merged_at = last_merge.values_list("finished_at", flat=True).first()
    sources = tuple(
        SourceProgress(
            source_id=status.source.pk,
            status=status.last_pull.job.status if status.last_pull else "",
            progress=status.last_pull.job.progress if status.last_pull else 0,
            detail=gettext(status.last_pull.job.detail)
            if status.last_pull and status.last_pull.job.detail
            else "",
        )
        for status in statuses
    )
    parts = [
        f"{status.source.pk}:{status.last_pull.pk if status.last_pull else '-'}:{status.held}:{state.status}"
        for status, state in zip(statuses, sources, strict=True)
    ]
    parts.append(f"merged:{merged_at.isoformat() if merged_at else ''}")
    return RecordActivity(
        busy=merging or any(progress.status in UNFINISHED for progress in sources),
        version="|".join(parts),
        sources=sources,
    )


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
