"""What the record page, the document narratives and the PDF show for one FHIR R4 resource: a title, a
status, a date and details.

Pure: plain functions over the resource's JSON, no Django. Everything returned is plain text taken from
coded and structured fields (never the narrative HTML); the page escapes it. The words the portal adds
itself (detail labels such as "Body site" or "Yes") are English msgids that the page translates.
Upstream data can be odd in any field, so nothing here raises: an unreadable field is skipped, and a
resource nothing can be read from is titled with its resource type.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, TypeVar

from core.fhir.read import clip, mappings_of, text_of
from core.fhir.terms import MEDICATION_TYPES
from core.fhir.wording import AS_GIVEN, Wording
from core.i18n import gettext_noop

Resolver = Callable[[str], Mapping[str, Any] | None]
T = TypeVar("T")


MAX_TEXT: Final = 300  # characters per title or detail; longer upstream text is cut with an ellipsis
MAX_DETAILS: Final = 12
MAX_DATE: Final = 40
EN_DASH: Final = "\N{EN DASH}"  # between the ends of a period or range

CODE_TITLED_TYPES: Final = frozenset(
    {
        "Condition",
        "AllergyIntolerance",
        "Observation",
        "Procedure",
        "DiagnosticReport",
        "Flag",
        "ClinicalImpression",
    }
)

# Where a resource keeps its most telling date, in order of preference; periods show as start-end (en dash).
DATE_FIELDS: Final = (
    "onsetDateTime",
    "onsetPeriod",
    "onsetString",
    "onsetAge",
    "recordedDate",
    "effectiveDateTime",
    "effectivePeriod",
    "effectiveInstant",
    "occurrenceDateTime",
    "occurrenceString",
    "recorded",
    "performedDateTime",
    "performedPeriod",
    "performedString",
    "issued",
    "authoredOn",
    "whenHandedOver",
    "whenPrepared",
    "dateAsserted",
    "timingDateTime",
    "timingPeriod",
    "recordedOn",
    "date",
    "dateTime",
    "period",
    "created",
)

VALUE_SUFFIXES: Final = (
    "Quantity",
    "CodeableConcept",
    "String",
    "Boolean",
    "Integer",
    "Range",
    "Ratio",
    "DateTime",
    "Period",
    "Time",
)


@dataclass(frozen=True)
class Detail:
    """One detail of a record line: a label the portal writes and a value taken from the resource.

    ``label`` is an English msgid marked with ``gettext_noop`` ("Body site", "Dose", "Yes"), translated
    where the page shows it, or "" when the detail is only a value. ``value`` is upstream text or a
    formatted quantity, number or date, shown as it is, or "" when the label says it all. The page shows
    "label: value", or the one that is not empty:

    - ``Detail("Body site", "Left arm")``, ``Detail("Dose", "1")``, ``Detail("Interpretation", "H")``;
    - ``Detail("", "91.5 kg")``, ``Detail("", "Take one tablet daily")``: upstream text alone;
    - words the portal writes itself are whole labels with no value: ``Detail("Yes", "")`` for a true
      boolean value, ``Detail("Criticality: high", "")`` for a code of FHIR's fixed criticality set.
      In an observation component the component's name becomes the value: ``Detail("Yes", "Smoker")``.
    """

    label: str
    value: str


@dataclass(frozen=True)
class ItemSummary:
    """One line of the record page: plain text, to be escaped where it is shown.

    ``date`` is the FHIR date/dateTime in the wording's format (as given by ``AS_GIVEN``; a period as its
    start and end joined by an en dash); ``raw_date`` is the same date as the source gave it, for filters;
    ``details`` are label/value pairs such as ("", "91.5 kg") or ("Body site", "Left arm"), see ``Detail``.
    """

    title: str
    status: str | None
    date: str | None
    details: tuple[Detail, ...] = ()
    raw_date: str | None = field(default=None, compare=False)  # the same date either way: not compared


def summarize(
    resource: Mapping[str, Any], resolve: Resolver | None = None, wording: Wording = AS_GIVEN
) -> ItemSummary:
    """Title, status, date and details of one resource, in ``wording``'s language and formats.

    ``resolve`` looks up a referenced resource ("Medication/abc", a full URL or "urn:uuid:…") among the
    citizen's stored resources, for titles that live on another resource (medicationReference, the
    Device of a DeviceUseStatement). Without it, or when it finds nothing, the reference's display is used.
    ``wording`` words coded values of FHIR's fixed value sets, dates and numbers (see core.fhir.wording);
    the default keeps them as the resource gives them.
    """
    try:
        return _summarize(resource, resolve, wording)
    except Exception:  # a last resort: the readers below already tolerate odd shapes
        return ItemSummary(title=_type_of(resource), status=None, date=None)


def _summarize(resource: object, resolve: Resolver | None, wording: Wording) -> ItemSummary:
    if not isinstance(resource, Mapping):
        return ItemSummary(title=_type_of(resource), status=None, date=None)
    resource_type = _type_of(resource)
    title = _title(resource, resource_type, resolve) or resource_type
    details = _unique(
        Detail(d.label, _clip(d.value))
        for d in _details(resource, resource_type, wording)
        if d is not None and (d.label or d.value) and d != Detail("", title)
    )
    raw_date = _date(resource, AS_GIVEN)
    return ItemSummary(
        title=_clip(title),
        status=_status(resource, resource_type, wording),
        date=_date(resource, wording) if wording is not AS_GIVEN else raw_date,
        details=tuple(details[:MAX_DETAILS]),
        raw_date=raw_date,
    )


# ---------------------------------------------------------------------------- tolerant readers


def _type_of(resource: object) -> str:
    if isinstance(resource, Mapping):
        resource_type = resource.get("resourceType")
        if isinstance(resource_type, str) and resource_type.strip():
            return _clip(resource_type.strip())
    return "Resource"


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    return clip(text, limit)


_string = text_of  # a non-blank string with its whitespace collapsed, else None


def _first(value: object) -> Mapping[str, Any] | None:
    return next(mappings_of(value), None)


def _unique(items: Iterable[T]) -> list[T]:
    """The items in their first order, each once."""
    seen: list[T] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _labelled(label: str, value: str | None) -> Detail | None:
    """A labelled detail, or None when there is no value to show."""
    return Detail(label, value) if value else None


def _plain(value: str | None) -> Detail | None:
    """A detail that is upstream text alone, or None."""
    return Detail("", value) if value else None


def concept_text(concept: object) -> str | None:
    """A CodeableConcept as people read it: its text, else a coding's display, else ``system|code``."""
    for item in mappings_of(concept):
        text = _string(item.get("text"))
        if text:
            return text
        codings = list(mappings_of(item.get("coding")))
        for coding in codings:
            display = _string(coding.get("display"))
            if display:
                return display
        for coding in codings:
            code = _string(coding.get("code"))
            if code:
                system = _string(coding.get("system"))
                return f"{system}|{code}" if system else code
    return None


def _concept_label(concept: object) -> str | None:
    """A short label for a status-like CodeableConcept: text, display or the bare code."""
    for item in mappings_of(concept):
        text = _string(item.get("text"))
        if text:
            return text
        for coding in mappings_of(item.get("coding")):
            label = _string(coding.get("display")) or _string(coding.get("code"))
            if label:
                return label
    return None


def _concept_codes(concept: object) -> set[str]:
    return {
        code
        for item in mappings_of(concept)
        for coding in mappings_of(item.get("coding"))
        if (code := _string(coding.get("code")))
    }


def _concept_labels(value: object) -> list[str]:
    """concept_text of each CodeableConcept in a field holding one or a list."""
    return [text for item in mappings_of(value) if (text := concept_text(item))]


def _number(value: object, wording: Wording = AS_GIVEN) -> str | None:
    text = _number_text(value)
    return wording.number(text) if text is not None and _DECIMAL.fullmatch(text) else text


_DECIMAL: Final = re.compile(r"-?\d+(?:\.\d+)?")


def _number_text(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return _string(value)  # FHIR decimals kept as strings by some parsers


def _quantity(quantity: object, wording: Wording = AS_GIVEN) -> str | None:
    if not isinstance(quantity, Mapping):
        return None
    value = _number(quantity.get("value"), wording)
    if value is None:
        return None
    comparator = _string(quantity.get("comparator")) or ""
    unit = _string(quantity.get("unit"))
    if unit is None:
        code = _string(quantity.get("code"))
        unit = code if code != "1" else None  # UCUM's "1" is a plain count
    return f"{comparator}{value} {unit}" if unit else f"{comparator}{value}"


def _period(period: object, wording: Wording = AS_GIVEN) -> str | None:
    if not isinstance(period, Mapping):
        return None
    start = _string(period.get("start"))
    end = _string(period.get("end"))
    dash = wording.range_separator
    if start and end:
        if start == end:
            return wording.date_text(start)
        return f"{wording.date_text(start)}{dash}{wording.date_text(end)}"
    if start:
        return f"{wording.date_text(start)}{dash}"
    if end:
        return f"{dash}{wording.date_text(end)}"
    return None


def _range(value: object, wording: Wording = AS_GIVEN) -> str | None:
    if not isinstance(value, Mapping):
        return None
    low = _quantity(value.get("low"), wording)
    high = _quantity(value.get("high"), wording)
    if low and high:
        return f"{low}{EN_DASH}{high}"
    if low:
        return f"≥ {low}"
    if high:
        return f"≤ {high}"
    return None


def _ratio(value: object, wording: Wording = AS_GIVEN) -> str | None:
    if not isinstance(value, Mapping):
        return None
    numerator = _quantity(value.get("numerator"), wording)
    denominator = _quantity(value.get("denominator"), wording)
    if numerator and denominator:
        return f"{numerator} / {denominator}"
    return numerator


def _typed_value(holder: Mapping[str, Any], prefix: str, wording: Wording = AS_GIVEN) -> Detail | None:
    """A choice element such as value[x], read from its first present type.

    A boolean is a label alone ("Yes" or "No"); anything else is its text as the value.
    """
    for suffix in VALUE_SUFFIXES:
        name = prefix + suffix
        if name not in holder:
            continue
        value = holder[name]
        text: str | None
        if suffix == "Boolean":
            if isinstance(value, bool):
                return Detail(gettext_noop("Yes") if value else gettext_noop("No"), "")
            continue
        if suffix == "Quantity":
            text = _quantity(value, wording)
        elif suffix == "CodeableConcept":
            text = concept_text(value)
        elif suffix == "Integer":
            text = _number(value, wording)
        elif suffix == "Range":
            text = _range(value, wording)
        elif suffix == "Ratio":
            text = _ratio(value, wording)
        elif suffix == "Period":
            text = _period(value, wording)
        elif suffix == "DateTime":
            text = wording.date_text(value) if (value := _string(value)) else None
        else:
            text = _string(value)
        if text:
            return Detail("", text)
    return None


def _reference(value: object) -> tuple[str | None, str | None]:
    """(reference, display) of a Reference."""
    if not isinstance(value, Mapping):
        return None, None
    return _string(value.get("reference")), _string(value.get("display"))


def _lookup(
    owner: Mapping[str, Any], reference: str | None, resolve: Resolver | None
) -> Mapping[str, Any] | None:
    """The resource a reference points to: a contained one ("#id") or one the resolver finds."""
    if not reference:
        return None
    if reference.startswith("#"):
        wanted = reference[1:]
        for contained in mappings_of(owner.get("contained")):
            if contained.get("id") == wanted:
                return contained
        return None
    if resolve is None:
        return None
    try:
        found = resolve(reference)
    except Exception:  # a failing lookup must not take the page down; the display text still shows
        return None
    return found if isinstance(found, Mapping) else None


# ---------------------------------------------------------------------------- title


def _title(resource: Mapping[str, Any], resource_type: str, resolve: Resolver | None) -> str | None:
    if resource_type in CODE_TITLED_TYPES:
        title = concept_text(resource.get("code"))
        if not title and resource_type == "ClinicalImpression":
            title = _string(resource.get("description")) or _string(resource.get("summary"))
        return title
    if resource_type in MEDICATION_TYPES:
        return _medication_title(resource, resolve)
    if resource_type == "Immunization":
        return concept_text(resource.get("vaccineCode"))
    if resource_type == "ImmunizationRecommendation":
        recommendation = _first(resource.get("recommendation")) or {}
        return concept_text(recommendation.get("vaccineCode")) or concept_text(
            recommendation.get("targetDisease")
        )
    if resource_type == "DeviceUseStatement":
        return _device_title(resource, resolve)
    if resource_type == "CarePlan":
        return (
            _string(resource.get("title"))
            or _string(resource.get("description"))
            or concept_text(resource.get("category"))
        )
    if resource_type == "Consent":
        return concept_text(resource.get("category")) or concept_text(resource.get("scope"))
    if resource_type == "DocumentReference":
        return (
            concept_text(resource.get("type"))
            or _string(resource.get("description"))
            or next(iter(_attachment_titles(resource)), None)
        )
    if resource_type == "Medication":
        return concept_text(resource.get("code"))
    if resource_type == "Device":
        return _device_name(resource)
    return concept_text(resource.get("code"))


def _medication_title(resource: Mapping[str, Any], resolve: Resolver | None) -> str | None:
    title = concept_text(resource.get("medicationCodeableConcept"))
    if title:
        return title
    reference, display = _reference(resource.get("medicationReference"))
    medication = _lookup(resource, reference, resolve)
    if medication is not None:
        title = concept_text(medication.get("code"))
    return title or display


def _device_name(device: Mapping[str, Any]) -> str | None:
    for name in mappings_of(device.get("deviceName")):
        text = _string(name.get("name"))
        if text:
            return text
    return concept_text(device.get("type"))


def _device_title(resource: Mapping[str, Any], resolve: Resolver | None) -> str | None:
    reference, display = _reference(resource.get("device"))
    device = _lookup(resource, reference, resolve)
    title = _device_name(device) if device is not None else None
    return title or display


def _attachment_titles(resource: Mapping[str, Any]) -> list[str]:
    return [
        title
        for content in mappings_of(resource.get("content"))
        if isinstance(content.get("attachment"), Mapping)
        and (title := _string(content["attachment"].get("title")))
    ]


# ---------------------------------------------------------------------------- status and date


def _coded_status(
    resource: Mapping[str, Any], resource_type: str, element: str, wording: Wording
) -> str | None:
    """A status-like CodeableConcept of a fixed value set, worded by the table when its code is in it."""
    concept = resource.get(element)
    label = _concept_label(concept)
    for code in sorted(_concept_codes(concept)):
        worded = wording.code(f"{resource_type}.{element}", code, None)
        if worded:
            return worded
    return label


def _status(resource: Mapping[str, Any], resource_type: str, wording: Wording) -> str | None:
    clinical = _coded_status(resource, resource_type, "clinicalStatus", wording)
    verification = None
    if "confirmed" not in _concept_codes(resource.get("verificationStatus")):
        verification = _coded_status(resource, resource_type, "verificationStatus", wording)
    if clinical and verification:
        return _clip(f"{clinical} ({verification})")
    if clinical or verification:
        return _clip(clinical or verification or "")
    status = _string(resource.get("status"))
    if not status:
        return None
    return _clip(wording.code(f"{resource_type}.status", status, status) or status)


def _date(resource: Mapping[str, Any], wording: Wording) -> str | None:
    for name in DATE_FIELDS:
        if name not in resource:
            continue
        value = resource[name]
        if name.endswith("Period") or name == "period":
            text = _period(value, wording)
        elif name == "onsetAge":
            text = _quantity(value, wording)
        else:
            text = _string(value)
            text = wording.date_text(text) if text and not name.endswith("String") else text
        if text:
            return _clip(text, MAX_DATE)
    return None


# ---------------------------------------------------------------------------- details

# AllergyIntolerance.criticality is bound (required) to a fixed set of codes: the portal words them itself.
CRITICALITY_LABELS: Final[Mapping[str, str]] = {
    "low": gettext_noop("Criticality: low"),
    "high": gettext_noop("Criticality: high"),
    "unable-to-assess": gettext_noop("Criticality: unable to assess"),
}


def _details(resource: Mapping[str, Any], resource_type: str, wording: Wording) -> Iterator[Detail | None]:
    if resource_type == "Observation":
        yield from _observation_details(resource, wording)
    elif resource_type == "AllergyIntolerance":
        yield from _allergy_details(resource, wording)
    elif resource_type in MEDICATION_TYPES:
        yield from _dosage_texts(resource)
    elif resource_type == "Condition":
        yield _labelled(gettext_noop("Severity"), concept_text(resource.get("severity")))
    elif resource_type == "Immunization":
        yield from _immunization_details(resource, wording)
    elif resource_type == "DiagnosticReport":
        yield _plain(_string(resource.get("conclusion")))
        yield from _plains(_concept_labels(resource.get("conclusionCode")))
    elif resource_type == "Procedure":
        yield _labelled(gettext_noop("Outcome"), concept_text(resource.get("outcome")))
    elif resource_type == "Flag":
        yield from _plains(_concept_labels(resource.get("category")))
    elif resource_type == "CarePlan":
        yield _plain(_string(resource.get("description")))
        yield from _plains(_concept_labels(resource.get("category")))
    elif resource_type == "Consent":
        provision = resource.get("provision")
        if isinstance(provision, Mapping):
            yield from _plains(_concept_labels(provision.get("code")))
    elif resource_type == "DocumentReference":
        yield _plain(_string(resource.get("description")))
        yield from _plains(_attachment_titles(resource))
    elif resource_type == "ClinicalImpression":
        yield _plain(_string(resource.get("summary")))
    yield _labelled(gettext_noop("Body site"), concept_text(resource.get("bodySite")))


def _plains(texts: Iterable[str]) -> Iterator[Detail | None]:
    return (_plain(text) for text in texts)


def _observation_details(observation: Mapping[str, Any], wording: Wording) -> Iterator[Detail | None]:
    yield _typed_value(observation, "value", wording)
    absent = _concept_label(observation.get("dataAbsentReason"))
    yield _labelled(gettext_noop("No value"), absent)
    for component in mappings_of(observation.get("component")):
        name = concept_text(component.get("code"))
        value = _typed_value(component, "value", wording)
        if name and value is not None:
            # A yes/no keeps its translatable label and takes the component's name as its value.
            yield Detail(value.label, name) if value.label else Detail("", f"{name}: {value.value}")
        else:
            yield value
    for interpretation in mappings_of(observation.get("interpretation")):
        yield _labelled(gettext_noop("Interpretation"), _concept_label(interpretation))


def _allergy_details(allergy: Mapping[str, Any], wording: Wording) -> Iterator[Detail | None]:
    criticality = _string(allergy.get("criticality"))
    worded = CRITICALITY_LABELS.get(criticality) if criticality else None
    yield Detail(worded, "") if worded else _labelled(gettext_noop("Criticality"), criticality)
    if wording.term is not None:  # the document's own narrative keeps its columns as they were
        kind = _string(allergy.get("type"))
        yield _labelled(gettext_noop("Type"), wording.code("AllergyIntolerance.type", kind, kind))
    manifestations = _unique(
        text
        for reaction in mappings_of(allergy.get("reaction"))
        for text in _concept_labels(reaction.get("manifestation"))
    )
    yield _labelled(gettext_noop("Reaction"), ", ".join(manifestations))


def _dosage_texts(resource: Mapping[str, Any]) -> Iterator[Detail | None]:
    # MedicationStatement.dosage is a list, MedicationAdministration.dosage one object;
    # requests and dispenses carry dosageInstruction.
    for element in ("dosage", "dosageInstruction"):
        for dosage in mappings_of(resource.get(element)):
            yield _plain(_string(dosage.get("text")))


def _immunization_details(immunization: Mapping[str, Any], wording: Wording) -> Iterator[Detail | None]:
    for protocol in mappings_of(immunization.get("protocolApplied")):
        dose = _number(protocol.get("doseNumberPositiveInt"), wording) or _string(
            protocol.get("doseNumberString")
        )
        yield _labelled(gettext_noop("Dose"), dose)
    yield _labelled(gettext_noop("Body site"), concept_text(immunization.get("site")))
