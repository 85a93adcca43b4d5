"""One item per clinical fact: the rows several FHIR R4 sources hold for the same fact, merged.

Pure: plain functions over the stored resources' JSON, no Django. ``merge`` takes every ``Contribution``
(one stored row) of a record and returns one ``MergedItem`` per fact, with every contribution kept, one
chosen to be shown (``primary``) and every disagreement between them kept as a ``Conflict``. Nothing is
resolved silently and nothing is dropped: a merged item shows all its sources.

When two rows are the same fact
-------------------------------
Always within one resourceType, never across types.

1. **Shared business identifier** (any type): an ``identifier`` entry with the same ``system`` and
   ``value`` (both non-blank, compared after trimming) in both resources.
2. **A rule per resource type**; other types merge by identifier only.

   - *Immunization*: the vaccine (``vaccineCode``) and the day of ``occurrenceDateTime``.
   - *Condition*: the ``code`` and the day of the main date (``onsetDateTime``, else ``onsetPeriod.start``,
     else ``recordedDate``). A condition with no such date matches by identifier only: a code alone says
     "the same problem", not "the same episode" (a recurring condition is recorded once per episode).
   - *AllergyIntolerance*, *Flag*: the ``code`` alone. FHIR keeps one allergy per substance and person (each
     reaction is an event inside it) and one flag per warning, so two sources' allergies to penicillin are
     one fact; dates they disagree on are shown as a conflict.
   - *Procedure*: the ``code`` and the day of ``performedDateTime`` (else ``performedPeriod.start``).
   - *Consent*: a ``category`` and the day of ``dateTime``. *CarePlan*: a ``category`` and the day of
     ``created`` (else ``period.start``). Undated ones match by identifier only.
   - *DocumentReference*: the ``type`` and the exact instant of ``date``.
   - *DeviceUseStatement*: the device as named (``device.display``) and the day of ``timingDateTime``,
     ``timingPeriod.start`` or ``recordedOn``; two statements with no date at all match on the device.
   - *MedicationStatement*, *MedicationRequest*: the medication alone (``medicationCodeableConcept``, or
     the code of a contained Medication that ``medicationReference`` points to with ``#id``, or the
     reference's display text). Dates and status may differ between sources (one says active, one
     stopped): that is the conflict the item then shows.
   - *Observation*: the ``code``, the exact effective instant (``effectiveDateTime``, ``effectiveInstant``
     or ``effectivePeriod.start``; the same instant in another time zone is the same) and the value
     (a quantity by number and unit, so 7.5 and 7.50 are equal; a coded value by any code; any other
     ``value[x]`` by its exact JSON); a panel without a value of its own by its ``component`` codes and
     values instead (a blood pressure: both readings). One with neither matches by identifier only.

   "The day" is the date as written, at the precision written: "1998-06-04T00:00:00+02:00" is on
   1998-06-04, and a year-only "2014" matches only "2014".

Concepts (codes) match when they share a coding, a (system, code) pair with both non-blank, after
``CODE_EQUIVALENTS`` has mapped known equivalents across systems to one code. A concept with no such
coding matches another uncoded concept by its text (``text``, else its codings' displays), compared
ignoring case and runs of whitespace; a coded concept never matches on text.

Matching is transitive (union-find over the contributions), with one limit: **a source's own rows are
different facts** unless they share an identifier (directly or through other rows). When the matches
would put two such rows of one source into one item (source A holds simvastatin twice, source B once:
which of A's is B's?), the rule matches of that whole cluster are dropped and its rows stay grouped by
identifier only. A missed merge shows a fact twice; a wrong one would hide a fact, so ambiguity never
merges, and no input order can pick a winner.

What an item shows
------------------
``contributions`` sorted by (source, key); ``primary``, the most recently updated one (ties: the first by
(source, key)); and ``conflicts`` for the fields that disagree between contributions: ``status``,
``clinicalStatus``, ``verificationStatus`` (codes, case-insensitive) and ``date``, the main date (the
fields above, per type). A date that is only less precise does not disagree ("2014" and "2014-03-01");
two instants disagree unless they are the same moment. A contribution without the field takes no side.

``merge`` is order-independent (the result depends only on the set of contributions), idempotent (an item's
contributions merged on their own give that item back) and loses nothing (every contribution is in exactly
one item). It indexes rows by match key, so it runs in about linear time; it never raises on odd upstream
JSON, only on two contributions with the same key.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from core.fhir.read import mappings_of, text_of

SNOMED: Final = "http://snomed.info/sct"
ATC: Final = "http://www.whocc.no/atc"

Coding = tuple[str, str]
"""A (system, code) pair."""
MatchKey = tuple[str, ...]
"""What two resources must share to be the same fact; tuples, so no value can forge another's key."""

CODE_EQUIVALENTS: Final[tuple[frozenset[Coding], ...]] = (
    # The DTaP-IPV vaccine: the HL7 IPS example Immunization-75680 codes one vaccine in both systems.
    frozenset({(SNOMED, "871878002"), (ATC, "J07CA02")}),
)
"""Groups of codings that name the same thing in different systems. Kept small on purpose: each entry is a
claim about two terminologies that must be checked against a published map; add one with a test."""


def _canonical_table(groups: Iterable[frozenset[Coding]]) -> dict[Coding, Coding]:
    table: dict[Coding, Coding] = {}
    for group in groups:
        first = min(group)
        for coding in group:
            table[coding] = first
    return table


_CANONICAL: Final = _canonical_table(CODE_EQUIVALENTS)

STATUS_FIELDS: Final = ("status", "clinicalStatus", "verificationStatus")
DATE: Final = "date"
"""The name of the conflict on the main date, whichever element each resource keeps it in."""

# Where each type keeps its main date, in order of preference ("a.b": element b of element a).
MAIN_DATE_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "Immunization": ("occurrenceDateTime",),
    "Condition": ("onsetDateTime", "onsetPeriod.start", "recordedDate"),
    "AllergyIntolerance": ("onsetDateTime", "onsetPeriod.start", "recordedDate"),
    "MedicationStatement": ("effectiveDateTime", "effectivePeriod.start", "dateAsserted"),
    "MedicationRequest": ("authoredOn",),
    "Observation": ("effectiveDateTime", "effectiveInstant", "effectivePeriod.start"),
    "Procedure": ("performedDateTime", "performedPeriod.start"),
    "Consent": ("dateTime",),
    "CarePlan": ("created", "period.start"),
    "DocumentReference": ("date",),
    "Flag": ("period.start",),
    "DeviceUseStatement": ("timingDateTime", "timingPeriod.start", "recordedOn"),
}
OTHER_DATE_FIELDS: Final = (
    "occurrenceDateTime",
    "occurrencePeriod.start",
    "performedDateTime",
    "performedPeriod.start",
    "effectiveDateTime",
    "effectivePeriod.start",
    "recordedDate",
    "authoredOn",
    "date",
)

OBSERVATION_VALUES: Final = (
    "valueQuantity",
    "valueCodeableConcept",
    "valueString",
    "valueBoolean",
    "valueInteger",
    "valueRange",
    "valueRatio",
    "valueSampledData",
    "valueTime",
    "valueDateTime",
    "valuePeriod",
)


# What merging reads of a resource, at the top level: nothing else decides a match or a conflict.
MATCH_ELEMENTS: Final = frozenset(
    {
        "resourceType",
        "id",
        "identifier",
        *STATUS_FIELDS,
        "code",
        "vaccineCode",
        "medicationCodeableConcept",
        "medicationReference",
        "category",
        "type",
        "device",
        "component",
        *(name.split(".")[0] for names in MAIN_DATE_FIELDS.values() for name in names),
        *(name.split(".")[0] for name in OTHER_DATE_FIELDS),
        *OBSERVATION_VALUES,
    }
)


def match_view(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a resource merging reads (``MATCH_ELEMENTS``, and a contained resource only when the
    medication reference points into it): merging it gives what merging the whole resource gives, so a
    record can be merged without holding every narrative and detail of every resource at once."""
    view = {name: value for name, value in resource.items() if name in MATCH_ELEMENTS}
    reference = view.get("medicationReference")
    target = reference.get("reference") if isinstance(reference, Mapping) else None
    contained = resource.get("contained")
    if isinstance(target, str) and target.startswith("#") and isinstance(contained, list):
        view["contained"] = [
            item for item in contained if isinstance(item, Mapping) and item.get("id") == target[1:]
        ]
    return view


# ---------------------------------------------------------------------------------------------- the types


@dataclass(frozen=True)
class Contribution:
    """One stored row: ``key`` is unique (the row's id), ``resource`` its FHIR JSON as the source gave it."""

    key: str
    source: str
    resource: Mapping[str, Any] = field(hash=False)
    version: str = ""
    updated: str = ""


@dataclass(frozen=True)
class ConflictValue:
    """One side of a conflict as the source gave it, with where it comes from and the contribution's main
    date and last update, so a reader can weigh it."""

    value: str
    source: str
    key: str
    date: str
    updated: str


@dataclass(frozen=True)
class Conflict:
    """A field the contributions of one item disagree on, with every contribution's value (by source, key)."""

    field: str
    values: tuple[ConflictValue, ...]


@dataclass(frozen=True)
class MergedItem:
    """One clinical fact: every contribution, the one to show, and what they disagree on."""

    contributions: tuple[Contribution, ...]
    primary: Contribution
    conflicts: tuple[Conflict, ...] = ()

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(c.key for c in self.contributions)

    @property
    def sources(self) -> tuple[str, ...]:
        """The distinct sources, sorted."""
        return tuple(sorted({c.source for c in self.contributions}))

    @property
    def resource_type(self) -> str:
        return resource_type_of(self.primary.resource)


# ------------------------------------------------------------------------------------------------- merging


def merge(contributions: Iterable[Contribution]) -> list[MergedItem]:
    """One item per clinical fact, in the (source, key) order of each item's first contribution.

    Raises ValueError when two contributions share a key: the key is what "lose nothing" is checked by.
    """
    ordered = sorted(contributions, key=_by_source_and_key)
    keys = [c.key for c in ordered]
    if len(set(keys)) != len(keys):
        raise ValueError("two contributions have the same key")
    forest = _Forest(len(ordered))
    forest.link(identifier_keys(c.resource) for c in ordered)
    by_identifier = [forest.find(i) for i in range(len(ordered))]
    forest.link(rule_keys(c.resource) for c in ordered)

    clusters: dict[int, list[int]] = defaultdict(list)
    for i in range(len(ordered)):
        clusters[forest.find(i)].append(i)
    groups: list[list[int]] = []
    for members in clusters.values():
        if _one_fact_per_source(members, ordered, by_identifier):
            groups.append(members)
        else:
            split: dict[int, list[int]] = defaultdict(list)
            for i in members:
                split[by_identifier[i]].append(i)
            groups.extend(split.values())
    groups.sort(key=lambda members: members[0])  # members are ascending: [0] is the first by (source, key)
    return [_item(tuple(ordered[i] for i in members)) for members in groups]


def _by_source_and_key(contribution: Contribution) -> tuple[str, str]:
    return contribution.source, contribution.key


def _one_fact_per_source(
    members: Sequence[int], ordered: Sequence[Contribution], fact: Sequence[int]
) -> bool:
    """Whether no source has two rows in the cluster that no identifier ties together."""
    seen: dict[str, int] = {}
    return all(seen.setdefault(ordered[i].source, fact[i]) == fact[i] for i in members)


class _Forest:
    """Union-find over indices: linking through a shared key is linear in the number of keys."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))
        self.size = [1] * size

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        i, j = self.find(i), self.find(j)
        if i == j:
            return
        if self.size[i] < self.size[j]:
            i, j = j, i
        self.parent[j] = i
        self.size[i] += self.size[j]

    def link(self, keys_per_index: Iterable[Iterable[MatchKey]]) -> None:
        """Join every index to the first index that had the same key."""
        first: dict[MatchKey, int] = {}
        for i, keys in enumerate(keys_per_index):
            for key in keys:
                j = first.setdefault(key, i)
                if j != i:
                    self.union(i, j)


def _item(contributions: tuple[Contribution, ...]) -> MergedItem:
    # max() keeps the first of equals and the contributions are sorted by (source, key): ties go to the first.
    primary = max(contributions, key=_updated_rank)
    return MergedItem(contributions=contributions, primary=primary, conflicts=conflicts_of(contributions))


_NEVER: Final = datetime.min.replace(tzinfo=UTC)


def _updated_rank(contribution: Contribution) -> tuple[int, datetime]:
    """How recent a contribution is; one with no readable ``updated`` is the oldest. A time without an
    offset is taken as UTC."""
    moment = _parse_moment(contribution.updated)
    if moment is None:
        return 0, _NEVER
    return 1, moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _parse_moment(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip())
    except (ValueError, TypeError, AttributeError):
        return None


# ----------------------------------------------------------------------------------------------- conflicts


def conflicts_of(contributions: Sequence[Contribution]) -> tuple[Conflict, ...]:
    """The status fields and the main date on which the contributions disagree, each with every value."""
    if len(contributions) < 2:
        return ()
    dates = [main_date(c.resource) for c in contributions]
    found: list[Conflict] = []
    for name in STATUS_FIELDS:
        given = [
            (_status_text(c.resource.get(name)), c, date)
            for c, date in zip(contributions, dates, strict=True)
        ]
        sides = [(value, c, date) for value, c, date in given if value]
        if len({value.casefold() for value, _, _ in sides}) > 1:
            found.append(_conflict(name, sides))
    dated = [(date, c, date) for c, date in zip(contributions, dates, strict=True) if date]
    if not dates_agree([date for date, _, _ in dated]):
        found.append(_conflict(DATE, dated))
    return tuple(found)


def _conflict(name: str, sides: Iterable[tuple[str, Contribution, str]]) -> Conflict:
    return Conflict(
        field=name,
        values=tuple(
            ConflictValue(value=value, source=c.source, key=c.key, date=date, updated=c.updated)
            for value, c, date in sides
        ),
    )


def _status_text(value: object) -> str:
    """A status as given: a code, or a CodeableConcept's codes (else its text)."""
    if isinstance(value, str):
        return text_of(value) or ""
    for concept in mappings_of(value):
        codes = sorted({code for _, code in _codings(concept, any_system=True)})
        if codes:
            return ", ".join(codes)
        return text_of(concept.get("text")) or ""
    return ""


def dates_agree(dates: Sequence[str]) -> bool:
    """Whether no two dates contradict each other: instants must be the same moment, and a date only less
    precise than another (a prefix of it: "2014", "2014-03", "2014-03-01") agrees with it."""
    moments: set[datetime] = set()
    days_of_moments: set[tuple[str, ...]] = set()
    plain: list[tuple[str, ...]] = []
    for date in dates:
        parts, moment = _date_parts(date)
        if moment is None:
            plain.append(parts)
        else:
            moments.add(moment)
            days_of_moments.add(parts)
    if len(moments) > 1:
        return False
    if not plain:
        return True
    longest = max(plain, key=len)
    if any(parts != longest[: len(parts)] for parts in plain):
        return False
    return all(day[: len(longest)] == longest for day in days_of_moments)


def _date_parts(date: str) -> tuple[tuple[str, ...], datetime | None]:
    """A date's parts as written ("2014-03-01" → 2014, 03, 01) and, for a time with an offset, its moment.
    A time without an offset (not valid FHIR) is kept as one more part, so it agrees only with itself."""
    day, has_time, time = date.strip().partition("T")
    parts = tuple(day.split("-"))
    if not has_time:
        return parts, None
    moment = _parse_moment(date)
    if moment is None or moment.tzinfo is None:
        return (*parts, time), None
    return parts, moment.astimezone(UTC)


def main_date(resource: Mapping[str, Any]) -> str:
    """The resource's main date as given (the first of its type's date fields that is set), else ""."""
    names = MAIN_DATE_FIELDS.get(resource_type_of(resource), OTHER_DATE_FIELDS)
    for name in names:
        value: object = resource
        for step in name.split("."):
            value = value.get(step) if isinstance(value, Mapping) else None
        text = text_of(value)
        if text:
            return text
    return ""


# ------------------------------------------------------------------------------------------- match keys


def resource_type_of(resource: object) -> str:
    kind = resource.get("resourceType") if isinstance(resource, Mapping) else None
    return kind.strip() if isinstance(kind, str) else ""


def identifier_keys(resource: Mapping[str, Any]) -> frozenset[MatchKey]:
    """One key per business identifier with both a system and a value."""
    kind = resource_type_of(resource)
    if not kind:
        return frozenset()
    keys: set[MatchKey] = set()
    for identifier in mappings_of(resource.get("identifier")):
        system, value = _trimmed(identifier.get("system")), _trimmed(identifier.get("value"))
        if system and value:
            keys.add(("identifier", kind, system, value))
    return frozenset(keys)


def rule_keys(resource: Mapping[str, Any]) -> frozenset[MatchKey]:
    """The keys of the resource type's matching rule (none for types without a rule)."""
    kind = resource_type_of(resource)
    rule = _RULES.get(kind)
    if rule is None:
        return frozenset()
    return frozenset(("rule", kind, *key) for key in rule(resource))


def _immunization(resource: Mapping[str, Any]) -> Iterator[MatchKey]:
    day = _day(resource.get("occurrenceDateTime"))
    if day:
        for concept in concept_keys(resource.get("vaccineCode")):
            yield (*concept, day)


def _coded_with_date(resource: Mapping[str, Any]) -> Iterator[MatchKey]:
    yield from _concept_with_day(resource, "code")


def _category_with_date(resource: Mapping[str, Any]) -> Iterator[MatchKey]:
    yield from _concept_with_day(resource, "category")


def _concept_with_day(resource: Mapping[str, Any], element: str) -> Iterator[MatchKey]:
    day = _day(main_date(resource))
    if day:
        for concept in concept_keys(resource.get(element)):
            yield (*concept, day)


def _coded(resource: Mapping[str, Any]) -> Iterator[MatchKey]:
    yield from concept_keys(resource.get("code"))


def _document(resource: Mapping[str, Any]) -> Iterator[MatchKey]:
    instant = _instant(main_date(resource))
    if instant:
        for concept in concept_keys(resource.get("type")):
            yield (*concept, instant)


def _device_use(resource: Mapping[str, Any]) -> Iterator[MatchKey]:
    device = resource.get("device")
    name = _normalised_text(device.get("display")) if isinstance(device, Mapping) else ""
    if name:
        yield "device", name, _day(main_date(resource))


def _medication(resource: Mapping[str, Any]) -> Iterator[MatchKey]:
    concepts: list[object] = [resource.get("medicationCodeableConcept")]
    texts: list[object] = []
    reference = resource.get("medicationReference")
    if isinstance(reference, Mapping):
        texts.append(reference.get("display"))
        target = reference.get("reference")
        if isinstance(target, str) and target.startswith("#"):
            for contained in mappings_of(resource.get("contained")):
                if contained.get("resourceType") == "Medication" and contained.get("id") == target[1:]:
                    concepts.append(contained.get("code"))
    keys = [key for concept in concepts for key in concept_keys(concept)]
    if any(key[0] == "code" for key in keys):
        yield from (key for key in keys if key[0] == "code")
        return
    yield from keys
    for text in texts:
        if normalised := _normalised_text(text):
            yield "text", normalised


def _observation(resource: Mapping[str, Any]) -> Iterator[MatchKey]:
    instant = _instant(main_date(resource))
    if not instant:
        return
    values = list(_value_keys(resource)) or list(_component_keys(resource))
    for concept in concept_keys(resource.get("code")):
        for value in values:
            yield (*concept, instant, *value)


def _component_keys(resource: Mapping[str, Any]) -> Iterator[MatchKey]:
    """A panel's components as one key: every component's codes with its value, so two panels match only
    when all their readings do."""
    readings = []
    for component in mappings_of(resource.get("component")):
        codes = sorted(concept_keys(component.get("code")))
        values = sorted(_value_keys(component))
        if not codes or not values:
            return
        readings.append(json.dumps([codes, values]))
    if readings:
        yield "components", *sorted(readings)


_RULES: Final[Mapping[str, Callable[[Mapping[str, Any]], Iterator[MatchKey]]]] = {
    "Immunization": _immunization,
    "Condition": _coded_with_date,
    "AllergyIntolerance": _coded,
    "Flag": _coded,
    "Procedure": _coded_with_date,
    "Consent": _category_with_date,
    "CarePlan": _category_with_date,
    "DocumentReference": _document,
    "DeviceUseStatement": _device_use,
    "MedicationStatement": _medication,
    "MedicationRequest": _medication,
    "Observation": _observation,
}


def concept_keys(value: object) -> frozenset[MatchKey]:
    """A concept's codings (equivalents mapped to one) or, when it has none, its normalised texts."""
    coded: set[MatchKey] = set()
    texts: set[MatchKey] = set()
    for concept in mappings_of(value):
        for system, code in _codings(concept):
            coded.add(("code", *_CANONICAL.get((system, code), (system, code))))
        if text := _normalised_text(concept.get("text")):
            texts.add(("text", text))
            continue
        for coding in mappings_of(concept.get("coding")):
            if display := _normalised_text(coding.get("display")):
                texts.add(("text", display))
    return frozenset(coded or texts)


def _codings(concept: Mapping[str, Any], *, any_system: bool = False) -> Iterator[Coding]:
    for coding in mappings_of(concept.get("coding")):
        system, code = _trimmed(coding.get("system")), _trimmed(coding.get("code"))
        if code and (system or any_system):
            yield system, code


def _value_keys(resource: Mapping[str, Any]) -> Iterator[MatchKey]:
    """The Observation's value, as keys: the first value[x] that is set."""
    for name in OBSERVATION_VALUES:
        value = resource.get(name)
        if value is None:
            continue
        if name == "valueQuantity":
            yield from _quantity(value)
        elif name == "valueCodeableConcept":
            yield from (("concept", *key) for key in concept_keys(value))
        elif name == "valueString":
            if normalised := _normalised_text(value):
                yield "string", normalised
        elif name == "valueBoolean":
            if isinstance(value, bool):
                yield "boolean", str(value)
        elif name == "valueDateTime":
            if instant := _instant(text_of(value) or ""):
                yield "dateTime", instant
        else:
            yield "json", name, json.dumps(value, sort_keys=True, default=str)
        return


def _quantity(value: object) -> Iterator[MatchKey]:
    if not isinstance(value, Mapping):
        return
    number = _decimal(value.get("value"))
    if number is None:
        return
    system, code = _trimmed(value.get("system")), _trimmed(value.get("code"))
    unit = f"{system}|{code}" if code else (_normalised_text(value.get("unit")) or "")
    yield "quantity", _trimmed(value.get("comparator")), str(number), unit


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number.normalize() if number.is_finite() else None


def _day(value: object) -> str:
    """The date part as written: "1998-06-04T00:00:00+02:00" → "1998-06-04"; "2014" → "2014"."""
    text = text_of(value)
    return text.partition("T")[0] if text else ""


def _instant(text: str) -> str:
    """A time with an offset as its moment in UTC, so one instant in two time zones is one key; anything
    else as written."""
    _, moment = _date_parts(text)
    return moment.isoformat() if moment is not None else text.strip()


def _trimmed(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _normalised_text(value: object) -> str:
    text = text_of(value)
    return text.casefold() if text else ""
