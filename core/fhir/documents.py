"""FHIR documents a source publishes through DocumentReference (IHE MHD, the EU Health Data API): which
attachments to fetch, and a fetched document Bundle's entries as resources the pull can store.

Pure functions over parsed JSON; upstream data is hostile until checked.

A document's entries refer to each other by their ``fullUrl`` (``urn:uuid:…`` in real IPS documents), and
their ids, when they have any, are the author's, not this server's: two documents may both hold a
"Condition/1". ``document_resources`` therefore gives every entry an id of its own (a uuid5 of the document's
key and the entry's fullUrl, stable from pull to pull; an entry whose fullUrl is this server's URL of that
very resource keeps its id, being the row a search would store) and rewrites the references between entries to
those ids, so the stored rows refer to each other as any other source's do.

The document's Patient entry becomes a reference to the citizen's Patient at this source only when it is the
citizen (``is_citizen``): the same id at this source, or an identifier the source's Patient carries, and no
identifier that contradicts it. Any other Patient entry keeps an id of its own, so the usual
``upstream.belongs_to_patient`` check drops what is about that person; a document whose Composition is about
anyone else is refused whole.
"""

import base64
import binascii
import copy
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urljoin

from core.fhir import upstream
from core.i18n import gettext_noop

LOINC: Final = "http://loinc.org"
PATIENT_SUMMARY: Final = "60591-5"
LAB_REPORT: Final = "11502-2"
DOCUMENT_TYPES: Final = (PATIENT_SUMMARY, LAB_REPORT)
# The DocumentReference search's `type` parameter: one search for both kinds.
TYPE_PARAMETER: Final = ",".join(f"{LOINC}|{code}" for code in DOCUMENT_TYPES)
FHIR_JSON_TYPES: Final = frozenset({"application/fhir+json", "application/json+fhir", "application/json"})

_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "https://yellow-button.example/fhir/document-entry")

FOREIGN_DOCUMENT = gettext_noop("a document on another server, not fetched")
NOT_A_DOCUMENT = gettext_noop("an attachment that is not a FHIR document")
OTHER_PATIENTS_DOCUMENT = gettext_noop("a document about someone else")


def _codes(concept: Any, system: str) -> set[str]:
    codings = concept.get("coding") if isinstance(concept, Mapping) else None
    return {
        coding["code"]
        for coding in (codings if isinstance(codings, list) else [])
        if isinstance(coding, Mapping)
        and coding.get("system") == system
        and isinstance(coding.get("code"), str)
    }  # fmt: skip


@dataclass(frozen=True)
class Attachment:
    """A document to fetch: the DocumentReference's id and the absolute URL of its FHIR JSON attachment."""

    reference_id: str
    url: str


def attachments(document_reference: Mapping[str, Any], *, base_url: str) -> tuple[list[Attachment], int]:
    """The FHIR JSON attachments of a current DocumentReference of a kind the pull wants, with their URLs
    made absolute against the base; and how many such attachments name another server (never fetched)."""
    reference_id = document_reference.get("id")
    if (
        document_reference.get("resourceType") != "DocumentReference"
        or not upstream.is_resource_id(reference_id)
        or document_reference.get("status") != "current"
        or not _codes(document_reference.get("type"), LOINC) & set(DOCUMENT_TYPES)
    ):
        return [], 0
    found, foreign = [], 0
    contents = document_reference.get("content")
    for content in contents if isinstance(contents, list) else []:
        attachment = content.get("attachment") if isinstance(content, Mapping) else None
        if not isinstance(attachment, Mapping):
            continue
        content_type = attachment.get("contentType")
        url = attachment.get("url")
        if not isinstance(content_type, str) or not isinstance(url, str) or not url:
            continue
        if content_type.split(";")[0].strip().lower() not in FHIR_JSON_TYPES:
            continue
        absolute = urljoin(base_url.rstrip("/") + "/", url)
        if not upstream.is_same_origin(base_url, absolute):
            foreign += 1
            continue
        found.append(Attachment(reference_id=str(reference_id), url=absolute))
    return found, foreign


def unwrapped(answer: Mapping[str, Any]) -> Any:
    """The document an attachment URL answered with: the Bundle itself, or a Binary holding its JSON."""
    if answer.get("resourceType") != "Binary":
        return answer
    content_type = answer.get("contentType")
    data = answer.get("data")
    if not isinstance(content_type, str) or not isinstance(data, str):
        return None
    if content_type.split(";")[0].strip().lower() not in FHIR_JSON_TYPES:
        return None
    try:
        return upstream.parse_json(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def _identifiers(resource: Mapping[str, Any]) -> set[tuple[str, str]]:
    identifiers = resource.get("identifier")
    return {
        (identifier["system"], identifier["value"])
        for identifier in (identifiers if isinstance(identifiers, list) else [])
        if isinstance(identifier, Mapping)
        and isinstance(identifier.get("system"), str) and identifier["system"]
        and isinstance(identifier.get("value"), str) and identifier["value"]
    }  # fmt: skip


def is_citizen(candidate: Mapping[str, Any], *, patient: Mapping[str, Any]) -> bool:
    """Whether a document's Patient entry is the citizen whose Patient at this source is ``patient``: its id
    there or an identifier it carries, and no identifier in one of its systems with another value."""
    if candidate.get("resourceType") != "Patient":
        return False
    theirs, ours = _identifiers(candidate), _identifiers(patient)
    systems = {system for system, _value in ours}
    if any(system in systems and (system, value) not in ours for system, value in theirs):
        return False
    return bool(theirs & ours) or (
        upstream.is_resource_id(patient.get("id")) and candidate.get("id") == patient["id"]
    )


@dataclass
class DocumentContent:
    """A checked document: the Bundle to store as it came, and its entries ready for the pull's writer.

    ``bundle`` is None when some entry is about someone else (the pull drops those entries and counts them):
    the document as it came would hold them.
    """

    bundle: dict[str, Any] | None
    entries: list[dict[str, Any]] = field(default_factory=list)


def entry_id(document_key: str, full_url: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{document_key}\n{full_url}"))


def document_resources(
    document: Any, *, document_key: str, patient: Mapping[str, Any], base_url: str
) -> DocumentContent | upstream.EntryProblem:
    """A document Bundle's entries with ids of their own and references between them rewritten (above).

    ``document_key`` names the document at its source for good (its attachment URL, say). The Bundle itself
    is returned as it came for storing (with a derived id when it has none), unless an entry is about someone
    else. Not a document, or its
    Composition's subject not the citizen: an EntryProblem, and nothing of it is kept.
    """
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        return upstream.EntryProblem(NOT_A_DOCUMENT, "Bundle")
    raw_entries = document.get("entry")
    if document.get("type") != "document" or not isinstance(raw_entries, list) or not raw_entries:
        return upstream.EntryProblem(NOT_A_DOCUMENT, "Bundle")
    patient_id = str(patient.get("id"))
    citizen = f"Patient/{patient_id}"
    targets: dict[str, str] = {}  # fullUrl → the reference it becomes
    prepared: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw_entries):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            continue
        full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else ""
        resource_type = resource["resourceType"]
        if _is_on_this_server(full_url, resource, base_url):
            own_id = str(resource["id"])  # this server's own resource: the row a search would store
        else:
            name = full_url if full_url and full_url not in seen else f"{full_url}#{index}"
            own_id = entry_id(document_key, name)
        seen.add(full_url)
        if resource_type == "Patient" and is_citizen(resource, patient=patient):
            target = citizen
        else:
            target = f"{resource_type}/{own_id}"
            prepared.append((target, {**copy.deepcopy(resource), "id": own_id}))
        for name in _names_of(full_url, resource, base_url):
            targets.setdefault(name, target)
    first = raw_entries[0].get("resource") if isinstance(raw_entries[0], Mapping) else None
    if not isinstance(first, Mapping) or first.get("resourceType") != "Composition":
        return upstream.EntryProblem(NOT_A_DOCUMENT, "Bundle")
    subject = first.get("subject")
    subject_reference = subject.get("reference") if isinstance(subject, Mapping) else None
    if not isinstance(subject_reference, str):
        return upstream.EntryProblem(OTHER_PATIENTS_DOCUMENT, "Bundle")
    if targets.get(subject_reference, subject_reference) != citizen and not _names_citizen(
        subject_reference, patient_id, base_url
    ):
        return upstream.EntryProblem(OTHER_PATIENTS_DOCUMENT, "Bundle")
    entries = []
    for _target, resource in prepared:
        for reference in _references(resource):
            value = reference.get("reference")
            if isinstance(value, str) and value in targets:
                reference["reference"] = targets[value]
        entries.append({"resource": resource})
    bundle = (
        document
        if upstream.is_resource_id(document.get("id"))
        else {**document, "id": entry_id(document_key, "")}
    )
    only_theirs = all(
        upstream.belongs_to_patient(entry["resource"], patient_id=patient_id, base_url=base_url)
        for entry in entries
    )
    return DocumentContent(bundle=bundle if only_theirs else None, entries=entries)


def _is_on_this_server(full_url: str, resource: Mapping[str, Any], base_url: str) -> bool:
    """The entry's fullUrl is this server's URL of the very resource (``<base>/Condition/1``, Condition 1)."""
    if "://" not in full_url:
        return False
    target = upstream.reference_target(full_url, base_url)
    return target is not None and target == (resource.get("resourceType"), resource.get("id"))


def _names_of(full_url: str, resource: Mapping[str, Any], base_url: str) -> Iterator[str]:
    """How other entries may refer to this one: its fullUrl, and Type/id when that is on this server."""
    if full_url:
        yield full_url
        target = upstream.reference_target(full_url, base_url)
        if target is not None and target[1] == resource.get("id"):
            yield f"{target[0]}/{target[1]}"


def _names_citizen(reference: Any, patient_id: str, base_url: str) -> bool:
    return upstream.reference_target(reference, base_url) == ("Patient", patient_id)


def _references(node: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Every Reference object in the resource (a copy of the entry's: rewriting in place is safe)."""
    if depth > upstream.MAX_RESOURCE_DEPTH + 1:
        return
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node
        for value in node.values():
            yield from _references(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item, depth + 1)
