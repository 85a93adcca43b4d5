"""Assembling an IPS 2.0.0 document bundle from a citizen's stored resources. Pure: no Django.

The document is the portal's own: a new Bundle (type ``document``, identifier, timestamp) whose first entry
is a new Composition (LOINC 60591-5, final, authored by the portal as a Device), then exactly one Patient,
then the chosen sections' entries and the resources they refer to. Every entry gets a ``urn:uuid:``
fullUrl and that uuid as its id; every reference is rewritten to the fullUrl of what it names, and a
reference to anything not in the document (an excluded item, a resource never fetched) is removed with
the element that holds it, so the bundle always resolves.

Narrative is never copied from upstream: each section's text is generated from the structured data of the
entries it actually holds (``status: generated``), escaped as XHTML, and entries carry no narrative of their
own (optional in FHIR; the section tables say it all). An item the citizen left out can therefore not
survive in a narrative, and upstream markup never reaches a reader.

Each section with items names the sources they came from as its ``author``: one Organization per source,
named as the portal knows it (``DocumentInfo.source_names``), so a reader of the document sees where every
fact came from. The generated tables word statuses, dates and numbers as ``wording`` does (the reader's
language), and leave out a column no item fills.

Sections follow the one table in ``core.ips.sections``. A required section (problems, allergies,
medications) with nothing in it carries an ``emptyReason``: ``withheld`` when the citizen left it out,
``unavailable`` when the portal holds no data for it. Optional sections appear only when they have entries.
"""

from __future__ import annotations

import hashlib
import html
import re
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from core.fhir.read import HISTORY, codes_of, mappings_of, without_version
from core.fhir.summary import ItemSummary, summarize
from core.fhir.terms import ACT_CLASS, LIST_EMPTY_REASON, LOINC, XHTML_NS
from core.fhir.wording import AS_GIVEN, Wording
from core.i18n import gettext_noop
from core.ips.profiles import (
    BUNDLE_PROFILE,
    COMPOSITION_PROFILE,
    DOCUMENT_IDENTIFIER_SYSTEM,
    PATIENT_SUMMARY_CODE,
    PATIENT_SUMMARY_DISPLAY,
)
from core.ips.sections import SECTION_BY_KEY, SECTION_BY_LOINC, SECTIONS, Section

# Words the portal writes into the document; the caller's ``translate`` turns them into the reader's language.
DOCUMENT_TITLE: Final = gettext_noop("International Patient Summary")
EMPTY_WITHHELD: Final = gettext_noop("Left out of this summary at the patient's request.")
EMPTY_UNAVAILABLE: Final = gettext_noop("No information is available for this section.")
COLUMN_ITEM: Final = gettext_noop("Item")
COLUMN_STATUS: Final = gettext_noop("Status")
COLUMN_DATE: Final = gettext_noop("Date")
COLUMN_DETAILS: Final = gettext_noop("Details")
COLUMN_SOURCE: Final = gettext_noop("Source")
SOFTWARE_TYPE: Final = gettext_noop("Software that assembled this patient summary")

# Where a resource keeps the date its clinical content is about: they bound the summary's covered period.
_PERIOD_DATE_FIELDS: Final = (
    "onsetDateTime",
    "recordedDate",
    "effectiveDateTime",
    "occurrenceDateTime",
    "performedDateTime",
    "authoredOn",
    "dateAsserted",
    "issued",
    "recorded",
    "date",
)
_PERIOD_FIELDS: Final = ("effectivePeriod", "performedPeriod", "onsetPeriod", "period", "timingPeriod")
_FHIR_DATE: Final = re.compile(r"^\d{4}(-\d{2}(-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2}))?)?)?$")
# The trailing "Type/id" of a relative or absolute RESTful reference, its version left off first.
_RESTFUL: Final = re.compile(r"(?:^|/)([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})$")
# Enough for any real resource; deeper JSON is hostile and is cut rather than walked.
MAX_DEPTH: Final = 48

_DROP: Final = object()
_SCALARS: Final = frozenset({str, int, float, bool})
_XML_FORBIDDEN: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class RecordEntry:
    """One stored resource offered to the document.

    ``key`` is unique among the entries (the portal uses its stored row's id); ``source`` names where it
    came from, since a reference resolves only among resources of the same source; ``section`` is its
    IPS section key, "" for resources that are not items of a section (Patient, Medication, Organization).
    """

    key: str
    source: str
    resource: Mapping[str, Any]
    section: str = ""
    # Other sources that hold the same clinical fact (core.fhir.merge): the document names them too.
    also_from: tuple[str, ...] = ()
    # What those sources disagree on: the document says so beside the item instead of choosing quietly.
    disagreements: tuple[Disagreement, ...] = ()


@dataclass(frozen=True)
class DisagreeingSide:
    value: str  # as the source gave it: a code, or a FHIR date for the "date" field
    source: str  # a RecordEntry.source
    date: str = ""  # that source's main date of the fact, when it has one


@dataclass(frozen=True)
class Disagreement:
    """One field the sources of a merged item disagree on (core.fhir.merge.Conflict): ``status``,
    ``clinicalStatus``, ``verificationStatus`` or ``date``, with every source's side."""

    field: str
    sides: tuple[DisagreeingSide, ...]


@dataclass(frozen=True)
class Choice:
    """What the citizen asked for: some sections (None: all) without some single items."""

    sections: frozenset[str] | None = None
    excluded_items: frozenset[str] = frozenset()

    def wants_section(self, key: str) -> bool:
        return self.sections is None or key in self.sections


@dataclass(frozen=True)
class DocumentInfo:
    document_id: uuid.UUID
    timestamp: datetime  # timezone-aware
    software_name: str = "Yellow Button portal"
    software_version: str = ""
    language: str = "en"
    # The name of each source (``RecordEntry.source``) the items came from: each section names the sources
    # of what it holds as its authors, so a reader sees where every fact came from.
    source_names: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Included:
    entry: RecordEntry
    full_url: str
    resource: dict[str, Any] = field(default_factory=dict)


def _identity(text: str) -> str:
    return text


def _uuid5(namespace: uuid.UUID, name: str) -> str:
    """uuid.uuid5(namespace, name) as a string, without building UUID objects (it runs once per entry)."""
    digest = hashlib.sha1(namespace.bytes + name.encode(), usedforsecurity=False).hexdigest()
    variant = "89ab"[int(digest[16], 16) & 3]
    return f"{digest[:8]}-{digest[8:12]}-5{digest[13:16]}-{variant}{digest[17:20]}-{digest[20:32]}"


class AssemblyError(ValueError):
    """The input cannot make a document at all (no patient): a message for the citizen, no content."""


def entry_full_url(document_id: uuid.UUID, key: str) -> str:
    """The fullUrl the document gives the entry of ``key`` (RecordEntry.key): stable within one document."""
    return f"urn:uuid:{_uuid5(document_id, key)}"


def assemble(
    entries: Iterable[RecordEntry],
    *,
    patient_key: str,
    info: DocumentInfo,
    choice: Choice | None = None,
    translate: Callable[[str], str] = _identity,
    wording: Wording = AS_GIVEN,
) -> dict[str, Any]:
    """The IPS document bundle of the patient ``patient_key`` names, as plain JSON-ready dicts.

    ``translate`` words the portal's own text, ``wording`` the values of the generated narratives (statuses,
    dates, numbers) in the document's language.
    """
    choice = choice or Choice()
    offered = list(entries)
    patient_entry = next((e for e in offered if e.key == patient_key), None)
    if patient_entry is None or patient_entry.resource.get("resourceType") != "Patient":
        raise AssemblyError("no patient")
    namespace = info.document_id

    def full_url_of(key: str) -> str:
        return entry_full_url(namespace, key)

    patient_url = full_url_of(patient_key)
    first_index = _Index(offered)
    placed = _placed_as_upstream_documents_say(offered, first_index)
    index = first_index if placed is offered else _Index(placed)
    offered = placed
    chosen_items = [
        entry
        for entry in offered
        if entry.section in SECTION_BY_KEY
        and choice.wants_section(entry.section)
        and entry.key not in choice.excluded_items
        and entry.resource.get("resourceType") in SECTION_BY_KEY[entry.section].source_types
    ]
    included: dict[str, _Included] = {
        patient_key: _Included(entry=index.by_key[patient_key], full_url=patient_url),
        **{entry.key: _Included(entry=entry, full_url=full_url_of(entry.key)) for entry in chosen_items},
    }

    def target_of(source: str, reference: str) -> str | None:
        """The fullUrl a reference becomes, pulling in the supporting resource it names; None: remove it."""
        found = index.lookup(source, reference)
        if found is None:
            return None
        key, target = found
        # Every Patient the sources hold is this citizen (pulls drop anyone else's): all become the one.
        if key in index.patients:
            return patient_url
        if target is None:
            return None
        if target.key in included:
            return included[target.key].full_url
        # An item of a section that is left out (or a left-out item) stays out, and so does any mention of it;
        # an upstream document's Composition is never part of ours (there is one, first).
        if target.section or target.key in choice.excluded_items or _is_composition(target):
            return None
        supporting = _Included(entry=target, full_url=full_url_of(target.key))
        included[target.key] = supporting
        pending.append(supporting)
        return supporting.full_url

    pending: list[_Included] = list(included.values())
    while pending:
        item = pending.pop()
        item.resource = _rewritten(item.entry, item.full_url, target_of)

    return _document(
        included=included,
        patient_url=patient_url,
        section_items=[included[entry.key] for entry in chosen_items],
        sections_with_data={entry.section for entry in offered if entry.section},
        info=info,
        choice=choice,
        translate=translate,
        wording=wording,
        full_url_of=full_url_of,
    )


class _Index:
    """The offered resources by how references name them, within each source."""

    def __init__(self, offered: Iterable[RecordEntry]) -> None:
        self.by_key: dict[str, RecordEntry] = {}
        self.by_reference: dict[tuple[str, str], RecordEntry] = {}
        # Documents and transactions name entries "urn:uuid:<id>" where the id is that uuid: resolvable by
        # id, when only one resource of the source has it.
        self.by_uuid: dict[tuple[str, str], RecordEntry | None] = {}
        self.patients: set[tuple[str, str]] = set()
        for entry in offered:
            self.by_key[entry.key] = entry
            resource_type, resource_id = entry.resource.get("resourceType"), entry.resource.get("id")
            if not isinstance(resource_type, str) or not isinstance(resource_id, str):
                continue
            reference = f"{resource_type}/{resource_id}"
            self.by_reference[(entry.source, reference)] = entry
            uuid_key = (entry.source, resource_id.lower())
            self.by_uuid[uuid_key] = None if uuid_key in self.by_uuid else entry
            if resource_type == "Patient":
                self.patients.add((entry.source, reference))

    def lookup(self, source: str, reference: str) -> tuple[tuple[str, str], RecordEntry | None] | None:
        """(source, "Type/id") and the entry a reference names within its source, if it names one."""
        if reference.startswith("urn:uuid:"):
            found = self.by_uuid.get((source, reference.removeprefix("urn:uuid:").lower()))
            if found is None:
                return None
            return (source, f"{found.resource['resourceType']}/{found.resource['id']}"), found
        match = _RESTFUL.search(without_version(reference) if HISTORY in reference else reference)
        if match is None:
            return None
        key = (source, f"{match.group(1)}/{match.group(2)}")
        return key, self.by_reference.get(key)


def _is_composition(entry: RecordEntry) -> bool:
    return entry.resource.get("resourceType") == "Composition"


def _placed_as_upstream_documents_say(offered: list[RecordEntry], index: _Index) -> list[RecordEntry]:
    """Items a source delivered in a ready IPS ($summary) go in the section its Composition put them in.

    The source knows its own content best (a condition it files under functional status stays there); a
    section the portal's table does not let hold that type of resource keeps the portal's placement.
    """
    placement: dict[str, str] = {}
    for document in offered:
        if not _is_composition(document) or PATIENT_SUMMARY_CODE not in codes_of(
            document.resource.get("type"), LOINC
        ):
            continue
        for section in mappings_of(document.resource.get("section")):
            ours = next(
                (SECTION_BY_LOINC[c] for c in codes_of(section.get("code"), LOINC) if c in SECTION_BY_LOINC),
                None,
            )
            if ours is None:
                continue
            for item in mappings_of(section.get("entry")):
                reference = item.get("reference")
                found = index.lookup(document.source, reference) if isinstance(reference, str) else None
                target = found[1] if found else None
                if target is not None and target.resource.get("resourceType") in ours.source_types:
                    placement.setdefault(target.key, ours.key)
    if not placement:
        return offered
    return [replace(e, section=placement[e.key]) if e.key in placement else e for e in offered]


def _rewritten(
    entry: RecordEntry, full_url: str, target_of: Callable[[str, str], str | None]
) -> dict[str, Any]:
    """A copy of the resource with the document's id, its references rewritten, no upstream meta or text."""
    source = entry.source

    def walk(node: Any, depth: int) -> Any:
        # `type(...) is` rather than isinstance: parsed JSON has exactly these types, and this runs per value.
        if depth > MAX_DEPTH:
            return _DROP
        if type(node) is dict:
            reference = node.get("reference")
            if type(reference) is str:
                target = reference if reference.startswith("#") else target_of(source, reference)
                if target is None:
                    return _DROP
            copied: dict[str, Any] = {}
            for key, value in node.items():
                if type(value) in _SCALARS:
                    copied[key] = target if key == "reference" and type(reference) is str else value
                else:
                    new = walk(value, depth + 1)
                    if new is not _DROP:
                        copied[key] = new
            return copied or _DROP
        if type(node) is list:
            items = [value if type(value) in _SCALARS else walk(value, depth + 1) for value in node]
            items = [item for item in items if item is not _DROP]
            return items or _DROP
        return node

    resource: dict[str, Any] = {}
    for key, value in entry.resource.items():
        if key in ("meta", "text", "id"):
            continue
        if key == "contained" and isinstance(value, list):
            # A contained resource may carry no narrative (FHIR dom-2), nor upstream meta.
            value = [
                {name: part for name, part in item.items() if name not in ("text", "meta")}
                if isinstance(item, dict)
                else item
                for item in value
            ]
        new = walk(value, 0)
        if new is not _DROP:
            resource[key] = new
    resource["id"] = full_url.removeprefix("urn:uuid:")
    profiles = _profiles(entry.resource.get("meta"))
    if profiles:
        resource["meta"] = {"profile": profiles}
    # Keep resourceType first, as FHIR JSON is usually written.
    return {"resourceType": entry.resource["resourceType"], **resource}


def _profiles(meta: Any) -> list[str]:
    if not isinstance(meta, Mapping) or not isinstance(meta.get("profile"), list):
        return []
    return [profile for profile in meta["profile"] if isinstance(profile, str) and profile.strip()]


# ---------------------------------------------------------------------------- the document around them


def _document(
    *,
    included: dict[str, _Included],
    patient_url: str,
    section_items: Sequence[_Included],
    sections_with_data: set[str],
    info: DocumentInfo,
    choice: Choice,
    translate: Callable[[str], str],
    wording: Wording,
    full_url_of: Callable[[str], str],
) -> dict[str, Any]:
    resolvable = {item.full_url: item.resource for item in included.values()}
    summaries: dict[str, ItemSummary] = {}

    def summary_of(item: _Included) -> ItemSummary:
        if item.full_url not in summaries:
            summaries[item.full_url] = summarize(item.resource, resolvable.get, wording)
        return summaries[item.full_url]

    device_url = full_url_of("portal:author-device")
    device = _device(device_url, info, translate)
    # One Organization per source the sections draw on, named as the portal knows it.
    source_urls = {
        source: full_url_of(f"portal:source:{source}")
        for source in dict.fromkeys(s for item in section_items for s in _sources_of(item.entry))
        if info.source_names.get(source)
    }

    def disagreement_of(item: _Included) -> str:
        return disagreement_text(
            item.entry, source_names=info.source_names, translate=translate, wording=wording
        )

    sections = _sections(
        section_items,
        sections_with_data,
        choice,
        summary_of,
        disagreement_of,
        translate,
        source_urls,
        info.source_names,
    )
    patient = included[next(key for key, item in included.items() if item.full_url == patient_url)]
    custodian = _custodian(patient.resource, resolvable)
    composition_url = full_url_of("portal:composition")
    composition: dict[str, Any] = {
        "resourceType": "Composition",
        "id": composition_url.removeprefix("urn:uuid:"),
        "meta": {"profile": [COMPOSITION_PROFILE]},
        "language": info.language,
        "status": "final",
        "type": {
            "coding": [{"system": LOINC, "code": PATIENT_SUMMARY_CODE, "display": PATIENT_SUMMARY_DISPLAY}]
        },
        "subject": {"reference": patient_url},
        "date": info.timestamp.isoformat(timespec="seconds"),
        "author": [{"reference": device_url}],
        "title": translate(DOCUMENT_TITLE),
        **({"custodian": {"reference": custodian}} if custodian else {}),
        "event": [
            {
                "code": [{"coding": [{"system": ACT_CLASS, "code": "PCPR"}]}],
                "period": _covered_period([item.resource for item in section_items], info.timestamp),
            }
        ],
        "section": sections,
    }
    others = [item for item in included.values() if item.full_url != patient_url]
    entries = [
        {"fullUrl": composition_url, "resource": composition},
        {"fullUrl": patient_url, "resource": patient.resource},
        {"fullUrl": device_url, "resource": device},
        *(
            {"fullUrl": url, "resource": _source_organization(url, info.source_names[source])}
            for source, url in source_urls.items()
        ),
        *(
            {"fullUrl": full_url_of(f"portal:provenance:{source}"), "resource": provenance}
            for source, provenance in _provenances(section_items, source_urls, info, full_url_of).items()
        ),
        *({"fullUrl": item.full_url, "resource": item.resource} for item in others),
    ]
    return {
        "resourceType": "Bundle",
        "id": str(info.document_id),
        "meta": {"profile": [BUNDLE_PROFILE]},
        "language": info.language,
        "identifier": {"system": DOCUMENT_IDENTIFIER_SYSTEM, "value": f"urn:uuid:{info.document_id}"},
        "type": "document",
        "timestamp": info.timestamp.isoformat(timespec="seconds"),
        "entry": entries,
    }


def _sections(
    items: Sequence[_Included],
    sections_with_data: set[str],
    choice: Choice,
    summary_of: Callable[[_Included], ItemSummary],
    disagreement_of: Callable[[_Included], str],
    translate: Callable[[str], str],
    source_urls: Mapping[str, str],
    source_names: Mapping[str, str],
) -> list[dict[str, Any]]:
    by_section: dict[str, list[_Included]] = {}
    for item in items:
        by_section.setdefault(item.entry.section, []).append(item)
    sections = []
    for section in SECTIONS:
        members = by_section.get(section.key, [])
        if members:
            sources = dict.fromkeys(s for member in members for s in _sources_of(member.entry))
            authors = [source_urls[s] for s in sources if s in source_urls]
            sections.append(
                {
                    **_section_head(section, translate),
                    **({"author": [{"reference": url} for url in authors]} if authors else {}),
                    "text": {
                        "status": "generated",
                        "div": _table(
                            [summary_of(item) for item in members],
                            translate,
                            [
                                ", ".join(source_names[s] for s in _sources_of(m.entry) if s in source_names)
                                for m in members
                            ],
                            [disagreement_of(item) for item in members],
                        ),
                    },
                    "entry": [{"reference": item.full_url} for item in members],
                }
            )
        elif section.required:
            # Left out by the citizen: the whole section, or every item it had.
            withheld = not choice.wants_section(section.key) or section.key in sections_with_data
            code, display, words = (
                ("withheld", "Information Withheld", EMPTY_WITHHELD)
                if withheld
                else ("unavailable", "Unavailable", EMPTY_UNAVAILABLE)
            )
            sections.append(
                {
                    **_section_head(section, translate),
                    "text": {"status": "generated", "div": _div(f"<p>{_escape(translate(words))}</p>")},
                    "emptyReason": {
                        "coding": [{"system": LIST_EMPTY_REASON, "code": code, "display": display}]
                    },
                }
            )
    return sections


def _section_head(section: Section, translate: Callable[[str], str]) -> dict[str, Any]:
    return {
        "title": translate(section.title),
        "code": {"coding": [{"system": LOINC, "code": section.loinc, "display": section.loinc_display}]},
    }


def _device(full_url: str, info: DocumentInfo, translate: Callable[[str], str]) -> dict[str, Any]:
    device: dict[str, Any] = {
        "resourceType": "Device",
        "id": full_url.removeprefix("urn:uuid:"),
        "text": {"status": "generated", "div": _div(f"<p>{_escape(info.software_name)}</p>")},
        "deviceName": [{"name": info.software_name, "type": "user-friendly-name"}],
        "type": {"text": translate(SOFTWARE_TYPE)},
    }
    if info.software_version:
        device["version"] = [{"value": info.software_version}]
    return device


DISAGREEMENT: Final = gettext_noop("The sources disagree on the %(field)s: %(sides)s.")
DISAGREEING_SIDE: Final = gettext_noop("%(value)s according to %(source)s")
DISAGREEING_SIDE_DATED: Final = gettext_noop("%(value)s according to %(source)s (%(date)s)")
DISAGREEMENT_FIELDS: Final = {
    "status": gettext_noop("status"),
    "clinicalStatus": gettext_noop("clinical status"),
    "verificationStatus": gettext_noop("verification status"),
    "date": gettext_noop("date"),
}


def disagreement_text(
    entry: RecordEntry,
    *,
    source_names: Mapping[str, str],
    translate: Callable[[str], str] = _identity,
    wording: Wording = AS_GIVEN,
) -> str:
    """What the item's sources disagree on, as one or more sentences in the document's language ("" when
    they agree): the narrative and the PDF say it beside the item."""
    resource_type = str(entry.resource.get("resourceType", ""))
    sentences = []
    for disagreement in entry.disagreements:
        sides = []
        for side in disagreement.sides:
            if disagreement.field == "date":
                value = wording.date_text(side.value)
            else:
                value = (
                    wording.code(f"{resource_type}.{disagreement.field}", side.value, side.value)
                    or side.value
                )
            source = source_names.get(side.source, "")
            dated = side.date and disagreement.field != "date"
            sides.append(
                translate(DISAGREEING_SIDE_DATED if dated else DISAGREEING_SIDE)
                % {"value": value, "source": source, "date": wording.date_text(side.date)}
            )
        field_name = DISAGREEMENT_FIELDS.get(disagreement.field, disagreement.field)
        sentences.append(
            translate(DISAGREEMENT) % {"field": translate(field_name), "sides": "; ".join(sides)}
        )
    return " ".join(sentences)


def _sources_of(entry: RecordEntry) -> tuple[str, ...]:
    return (entry.source, *entry.also_from)


def _source_organization(full_url: str, name: str) -> dict[str, Any]:
    """The source a section's items came from, as the Organization its ``author`` names."""
    return {
        "resourceType": "Organization",
        "id": full_url.removeprefix("urn:uuid:"),
        "text": {"status": "generated", "div": _div(f"<p>{_escape(name)}</p>")},
        "name": name,
    }


PROVENANCE_PARTICIPANT: Final = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"


def _provenances(
    items: Sequence[_Included],
    source_urls: Mapping[str, str],
    info: DocumentInfo,
    full_url_of: Callable[[str], str],
) -> dict[str, dict[str, Any]]:
    """One Provenance per source: every item it holds (also an item another source holds as well), with the
    source as the author, so each entry of the document says where it came from."""
    targets: dict[str, list[str]] = {source: [] for source in source_urls}
    for item in items:
        for source in dict.fromkeys(_sources_of(item.entry)):
            if source in targets:
                targets[source].append(item.full_url)
    return {
        source: {
            "resourceType": "Provenance",
            "id": full_url_of(f"portal:provenance:{source}").removeprefix("urn:uuid:"),
            "target": [{"reference": url} for url in urls],
            "recorded": info.timestamp.isoformat(timespec="seconds"),
            "agent": [
                {
                    "type": {"coding": [{"system": PROVENANCE_PARTICIPANT, "code": "author"}]},
                    "who": {"reference": source_urls[source]},
                }
            ],
        }
        for source, urls in targets.items()
        if urls
    }


def _custodian(patient: Mapping[str, Any], resolvable: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The organisation that looks after the patient's record, when the sources named one we hold."""
    managing = patient.get("managingOrganization")
    reference = managing.get("reference") if isinstance(managing, Mapping) else None
    if isinstance(reference, str) and resolvable.get(reference, {}).get("resourceType") == "Organization":
        return reference
    return None


def _covered_period(resources: Collection[Mapping[str, Any]], timestamp: datetime) -> dict[str, str]:
    """From the earliest date the included items are about to the moment the summary was made."""
    dates = [date for resource in resources for date in _dates_of(resource)]
    period = {"end": timestamp.isoformat(timespec="seconds")}
    if dates:
        # Comparing the date part only: FHIR dates of different precision compare sensibly that way.
        earliest = min(dates, key=lambda value: value[:10])
        if earliest[:10] <= period["end"][:10]:
            period = {"start": earliest, **period}
    return period


def _dates_of(resource: Mapping[str, Any]) -> Iterable[str]:
    # A resource has one or two of these at most: look them up, rather than scanning the resource.
    for name in _PERIOD_DATE_FIELDS:
        value = resource.get(name)
        if type(value) is str and _FHIR_DATE.match(value):
            yield value
    for name in _PERIOD_FIELDS:
        period = resource.get(name)
        start = period.get("start") if type(period) is dict else None
        if type(start) is str and _FHIR_DATE.match(start):
            yield start


# ---------------------------------------------------------------------------- generated narrative


def _escape(text: str) -> str:
    # XML-safe: FHIR narrative is XHTML, and characters XML forbids would make the document unreadable.
    return html.escape(_XML_FORBIDDEN.sub("", text), quote=True)


def _div(body: str) -> str:
    return f'<div xmlns="{XHTML_NS}">{body}</div>'


def _detail_text(summary: ItemSummary, translate: Callable[[str], str]) -> str:
    parts = []
    for detail in summary.details:
        label = translate(detail.label) if detail.label else ""
        parts.append(f"{label}: {detail.value}" if label and detail.value else label or detail.value)
    return "; ".join(parts)


def _table(
    summaries: Sequence[ItemSummary],
    translate: Callable[[str], str],
    sources: Sequence[str],
    disagreements: Sequence[str],
) -> str:
    """The section's items as a table; a column no item fills is left out (the item's name always stays),
    and so is the source of each item when one source holds them all (the section's author says it). What
    an item's sources disagree on ends its details."""
    cells = [
        (
            summary.title,
            summary.status or "",
            summary.date or "",
            " ".join(part for part in (_detail_text(summary, translate), disagreement) if part),
            source,
        )
        for summary, source, disagreement in zip(summaries, sources, disagreements, strict=True)
    ]
    columns = (COLUMN_ITEM, COLUMN_STATUS, COLUMN_DATE, COLUMN_DETAILS, COLUMN_SOURCE)
    one_source = len(set(sources)) <= 1 and not any(", " in source for source in sources)
    kept = [
        i
        for i in range(len(columns))
        if i == 0 or (any(row[i] for row in cells) and not (columns[i] == COLUMN_SOURCE and one_source))
    ]
    head = "".join(f"<th>{_escape(translate(columns[i]))}</th>" for i in kept)
    rows = "".join("<tr>" + "".join(f"<td>{_escape(row[i])}</td>" for i in kept) + "</tr>" for row in cells)
    return _div(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
