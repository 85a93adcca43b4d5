"""Reading a FHIR document bundle: resolving references inside it, its Composition and its Patient.

Tolerant like the rest of the core: a bundle without a Composition or a Patient gives empty answers,
never an error. What these readers return is plain text, to be escaped where it is shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from core.fhir.read import mappings_of, text_of, without_version
from core.fhir.summary import concept_text

Resolver = Callable[[str], Mapping[str, Any] | None]

MAX_TEXT: Final = 300
MAX_IDENTIFIERS: Final = 5
# Identifier systems people know by a short name (the NZ NHI is the IPS examples' patient identifier).
IDENTIFIER_SYSTEMS: Final[Mapping[str, str]] = {
    "urn:oid:1.2.208.176.1.2": "CPR",
    "https://standards.digital.health.nz/ns/nhi-id": "NHI",
}


@dataclass(frozen=True)
class Labelled:
    """One labelled value, e.g. ("NHI", "ABC1234")."""

    label: str
    value: str


def _reference_key(reference: object) -> str | None:
    """A reference or fullUrl as the index keys it: stripped, any version ("/_history/2") left off."""
    if not isinstance(reference, str) or not reference.strip():
        return None
    return without_version(reference.strip())


def bundle_resolver(bundle: Mapping[str, Any]) -> Resolver:
    """Finds a resource of the bundle by a reference to it: its fullUrl or a relative "Type/id".

    Within a document every reference points into the bundle; a relative one is read as "Type/id"
    whichever server base the entries share (the first entry with that type and id wins).
    """
    index: dict[str, Mapping[str, Any]] = {}
    for entry in mappings_of(bundle.get("entry")):
        resource = entry.get("resource")
        if not isinstance(resource, Mapping):
            continue
        full_url = _reference_key(entry.get("fullUrl"))
        if full_url:
            index.setdefault(full_url, resource)
        resource_type, resource_id = resource.get("resourceType"), resource.get("id")
        if isinstance(resource_type, str) and isinstance(resource_id, str):
            index.setdefault(f"{resource_type}/{resource_id}", resource)

    def resolve(reference: str) -> Mapping[str, Any] | None:
        key = _reference_key(reference)
        return index.get(key) if key else None

    return resolve


def resources_of_type(bundle: Mapping[str, Any], resource_type: str) -> Iterator[Mapping[str, Any]]:
    for entry in mappings_of(bundle.get("entry")):
        resource = entry.get("resource")
        if isinstance(resource, Mapping) and resource.get("resourceType") == resource_type:
            yield resource


def reference_of(value: object) -> str | None:
    """The reference of a Reference element, stripped and without its version."""
    return _reference_key(value.get("reference")) if isinstance(value, Mapping) else None


def document_composition(bundle: Mapping[str, Any]) -> Mapping[str, Any]:
    return next(resources_of_type(bundle, "Composition"), {})


def document_patient(bundle: Mapping[str, Any], resolve: Resolver | None = None) -> Mapping[str, Any]:
    """The Composition's subject, else the bundle's first Patient, else {}."""
    resolve = resolve or bundle_resolver(bundle)
    reference = reference_of(document_composition(bundle).get("subject"))
    patient = resolve(reference) if reference else None
    if patient is None or patient.get("resourceType") != "Patient":
        patient = next(resources_of_type(bundle, "Patient"), None)
    return patient or {}


def human_name(patient: Mapping[str, Any]) -> str:
    """The name in use: official or usual first, then any other that is not old or a maiden name."""
    ranked = sorted(
        (n for n in mappings_of(patient.get("name")) if n.get("use") not in ("old", "maiden")),
        key=lambda n: 0 if n.get("use") in ("official", "usual") else 1,
    )
    for name in ranked:
        text = text_of(name.get("text"), MAX_TEXT)
        if text:
            return text
        given = name.get("given")
        parts = [p for p in given if isinstance(p, str)] if isinstance(given, list) else []
        family = name.get("family")
        parts += [family] if isinstance(family, str) else []
        joined = text_of(" ".join(parts), MAX_TEXT)
        if joined:
            return joined
    return ""


def _identifier_label(identifier: Mapping[str, Any]) -> str:
    type_text = concept_text(identifier.get("type"))
    if type_text:
        return type_text
    system = text_of(identifier.get("system"), MAX_TEXT) or ""
    known = IDENTIFIER_SYSTEMS.get(system)
    if known:
        return known
    # A URL reads better without its scheme ("example.org/patient-ids"); an OID stays as it is.
    return re.sub(r"^https?://", "", system).rstrip("/")


def patient_identifiers(patient: Mapping[str, Any]) -> list[Labelled]:
    """The patient's identifiers in use, each with a label a person recognises, at most five."""
    found = [
        Labelled(_identifier_label(identifier), value)
        for identifier in mappings_of(patient.get("identifier"))
        if identifier.get("use") != "old" and (value := text_of(identifier.get("value"), MAX_TEXT))
    ]
    return found[:MAX_IDENTIFIERS]
