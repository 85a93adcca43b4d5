"""Reading what an upstream FHIR server sends: JSON, entries, patient ownership, references, links,
capabilities.

Pure functions over parsed JSON. Upstream data is hostile until checked: nothing here trusts a type.

JSON limits. ``parse_json`` reads an answer so that one odd entry never costs the others: a number no FHIR
element can hold (more than ``MAX_INTEGER_DIGITS`` digits, ``1e999999``, ``NaN``/``Infinity``, which are not
JSON at all) is read as the ``OUT_OF_RANGE`` marker instead of failing the whole answer (Python refuses
integers of more than 4,300 digits) or becoming ``inf`` (which no database column of JSON accepts); and an
answer nested too deeply for the parser has its arrays and objects below ``MAX_DOCUMENT_DEPTH`` replaced by
``null`` and is read again. ``resource_of_entry`` then turns away, entry by entry, a resource that is nested
more than ``MAX_RESOURCE_DEPTH`` levels deep (the IPS examples reach 9), holds such a number, or holds
characters that cannot be stored (NUL, which PostgreSQL refuses in JSON, and lone UTF-16 surrogates, which
are not text at all).
"""

import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from core.fhir.read import without_version
from core.i18n import gettext_noop

# What the pull searches by patient when the source offers neither $summary nor $everything (IPS content).
PATIENT_SEARCH_TYPES = (
    "AllergyIntolerance",
    "Condition",
    "MedicationStatement",
    "MedicationRequest",
    "Immunization",
    "Observation",
    "Procedure",
    "DeviceUseStatement",
    "DiagnosticReport",
    "CarePlan",
    "Flag",
    "Consent",
    "ClinicalImpression",
    "DocumentReference",
)
# Not in the patient's compartment, or not searched by patient: fetched by id when a stored resource refers
# to them.
REFERENCED_TYPES = ("Medication", "Device", "Practitioner", "PractitionerRole", "Organization")
STORED_TYPES = frozenset({"Patient", *PATIENT_SEARCH_TYPES, *REFERENCED_TYPES})
# Types a $summary or $everything answer may hold besides the above; kept, never searched for.
EXTRA_TYPES = frozenset({"Composition", "Specimen", "ImagingStudy", "Location", "Encounter", "Media"})


# \Z, not $: "$" also matches before a final newline, and "p1\n" is no id.
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}\Z")
_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}\Z")

# A FHIR integer has 32 bits, a decimal 18 significant digits; 40 digits leave room and nothing more.
MAX_INTEGER_DIGITS: Final = 40
# Levels of arrays and objects in one resource (the resource object itself is level 1).
MAX_RESOURCE_DEPTH: Final = 32
# Levels kept when an answer is too deep to parse: a Bundle's entries hold resources from level 4 on, so
# every entry that is cut here is also deeper than MAX_RESOURCE_DEPTH and is turned away on its own.
MAX_DOCUMENT_DEPTH: Final = 64

NESTED_TOO_DEEPLY = gettext_noop("an entry nested too deeply")
NUMBER_OUT_OF_RANGE = gettext_noop("an entry with a number out of range")
UNSTORABLE_TEXT = gettext_noop("an entry with characters that cannot be stored")


class _OutOfRange:
    """Stands in for a number no FHIR element can hold. Not JSON-serialisable on purpose: it never gets
    further than the entry check."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "OUT_OF_RANGE"


OUT_OF_RANGE: Final = _OutOfRange()


def _integer(text: str) -> int | _OutOfRange:
    return int(text) if len(text.lstrip("-")) <= MAX_INTEGER_DIGITS else OUT_OF_RANGE


def _decimal(text: str) -> float | _OutOfRange:
    value = float(text)
    return value if math.isfinite(value) else OUT_OF_RANGE


def _constant(text: str) -> _OutOfRange:
    return OUT_OF_RANGE  # NaN, Infinity, -Infinity


def _loads(text: str) -> Any:
    return json.loads(text, parse_int=_integer, parse_float=_decimal, parse_constant=_constant)


_SIGNIFICANT = re.compile(r'[\[\]{}"\\]')


def _flattened(text: str, max_depth: int) -> str:
    """The JSON text with every array or object below ``max_depth`` levels replaced by ``null``.

    One pass over brackets, quotes and backslashes only (strings are skipped, escapes respected), so its
    cost is linear in the text whatever the input. Malformed input stays malformed.
    """
    pieces: list[str] = []
    depth, kept_until, cut_at, in_string, skip_until = 0, 0, -1, False, -1
    for match in _SIGNIFICANT.finditer(text):
        at = match.start()
        if at < skip_until:
            continue  # the character after a backslash
        char = text[at]
        if in_string:
            if char == "\\":
                skip_until = at + 2
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth == max_depth + 1:
                cut_at = at
        elif char in "]}":
            if depth == max_depth + 1 and cut_at >= 0:
                pieces += [text[kept_until:cut_at], "null"]
                kept_until, cut_at = match.end(), -1
            depth -= 1
    pieces.append(text[kept_until:])
    return "".join(pieces)


def parse_json(raw: bytes | str) -> Any:
    """Upstream JSON read with the limits above; ValueError when it cannot be read at all."""
    text = raw.decode(json.detect_encoding(raw), "surrogatepass") if isinstance(raw, bytes) else raw
    try:
        return _loads(text)
    except RecursionError:
        pass  # deeper than the parser goes: cut the deep parts, the entries holding them are refused
    try:
        return _loads(_flattened(text, MAX_DOCUMENT_DEPTH))
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    return text.isascii() or _SURROGATE.search(text) is None


def content_problem(resource: Mapping[str, Any]) -> str | None:
    """Why a parsed resource cannot be kept whatever its type: too deep, a number out of range, text that
    cannot be stored. Iterative: no input can exhaust the stack."""
    stack: list[tuple[Any, int]] = [(resource, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_RESOURCE_DEPTH:
            return NESTED_TOO_DEEPLY
        if isinstance(node, Mapping):
            if not all(_storable(key) for key in node if isinstance(key, str)):
                return UNSTORABLE_TEXT
            values: Any = node.values()
        else:
            values = node
        for value in values:
            if isinstance(value, str):
                if not _storable(value):
                    return UNSTORABLE_TEXT
            elif isinstance(value, Mapping | list):
                stack.append((value, depth + 1))
            elif value is OUT_OF_RANGE:
                return NUMBER_OUT_OF_RANGE
    return None


def is_resource_id(value: Any) -> bool:
    """A FHIR logical id: letters, digits, "-" and ".", at most 64."""
    return isinstance(value, str) and _ID.match(value) is not None


@dataclass(frozen=True)
class EntryProblem:
    """Why one entry was not kept: a short English reason and the type, never the content."""

    reason: str
    resource_type: str = ""


def resource_of_entry(entry: Any, *, allowed_types: frozenset[str]) -> dict[str, Any] | EntryProblem:
    if not isinstance(entry, Mapping):
        return EntryProblem(gettext_noop("an entry that is not an object"))
    resource = entry.get("resource")
    if not isinstance(resource, dict):
        return EntryProblem(gettext_noop("an entry without a resource"))
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not _TYPE.match(resource_type):
        return EntryProblem(gettext_noop("an entry without a valid resource type"))
    if resource_type not in allowed_types:
        return EntryProblem(gettext_noop("an entry of an unexpected type"), resource_type)
    resource_id = resource.get("id")
    if not isinstance(resource_id, str) or not _ID.match(resource_id):
        return EntryProblem(gettext_noop("an entry without a valid id"), resource_type)
    problem = content_problem(resource)
    if problem is not None:
        return EntryProblem(problem, resource_type)
    return resource


def outcome_issues(resource: Any) -> list[tuple[str, str]]:
    """(severity, code) of an OperationOutcome: enough to explain, nothing an upstream could inject."""
    if not isinstance(resource, Mapping) or resource.get("resourceType") != "OperationOutcome":
        return []
    issues = resource.get("issue")
    found = []
    for issue in issues if isinstance(issues, list) else []:
        if isinstance(issue, Mapping):
            severity, code = issue.get("severity"), issue.get("code")
            found.append(
                (
                    severity if isinstance(severity, str) and _TYPE.match(severity.title()) else "error",
                    code if isinstance(code, str) and re.fullmatch(r"[a-z\-]{1,40}", code) else "unknown",
                )
            )
    return found


def _reference_target(reference: Any, base_url: str) -> tuple[str, str] | None:
    """("Patient", "123") for "Patient/123", "<base>/Patient/123" or ".../_history/2"; None otherwise."""
    if not isinstance(reference, str):
        return None
    value = reference
    base = base_url.rstrip("/") + "/"
    if "://" in value:
        if not value.startswith(base):
            return None
        value = value[len(base) :]
    parts = without_version(value).split("/")
    if len(parts) != 2 or not _TYPE.match(parts[0]) or not _ID.match(parts[1]):
        return None
    return parts[0], parts[1]


def reference_target(reference: Any, base_url: str) -> tuple[str, str] | None:
    """("Patient", "123") for a reference to a resource on this server; None for any other reference."""
    return _reference_target(reference, base_url)


def belongs_to_patient(resource: Mapping[str, Any], *, patient_id: str, base_url: str) -> bool:
    """True when every patient reference of the resource names this patient (and there is one, where the type
    has one). An upstream that ignores a search parameter must not put someone else's data in this record."""
    if resource.get("resourceType") == "Patient":
        return resource.get("id") == patient_id
    references = []
    for field in ("subject", "patient"):
        value = resource.get(field)
        if isinstance(value, Mapping):
            references.append(value.get("reference"))
        elif value is not None:
            return False
    if not references:
        # Medication, Organization…: no patient of their own; a Device without a patient is fine too.
        return resource.get("resourceType") not in PATIENT_SEARCH_TYPES
    return all(_reference_target(ref, base_url) == ("Patient", patient_id) for ref in references)


def _walk_references(node: Any, depth: int = 0) -> Iterator[Any]:
    if depth > 64:  # hostile nesting: stop, the resource is checked elsewhere
        return
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "reference":
                yield value
            else:
                yield from _walk_references(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_references(item, depth + 1)


def referenced_resources(resource: Mapping[str, Any], *, base_url: str) -> set[tuple[str, str]]:
    """The (type, id) of every Medication, Device, Practitioner… the resource points to on this server."""
    found = set()
    for reference in _walk_references(resource):
        target = _reference_target(reference, base_url)
        if target is not None and target[0] in REFERENCED_TYPES:
            found.add(target)
    return found


def next_link(bundle: Mapping[str, Any]) -> str | None:
    links = bundle.get("link")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, Mapping) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None


def is_same_origin(base_url: str, url: str) -> bool:
    """A `next` link may only lead back to the same server, under the same base path: the bearer token
    goes with it."""
    base, target = urlsplit(base_url), urlsplit(url)
    if not target.scheme:
        return False
    return (
        target.scheme == base.scheme
        and target.hostname == base.hostname
        and (target.port or _default_port(target.scheme)) == (base.port or _default_port(base.scheme))
        and not target.username
        and not target.password
        and (target.path + "/").startswith(base.path.rstrip("/") + "/")
    )


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def patient_operations(capability: Mapping[str, Any]) -> set[str]:
    """Operation names ("summary", "everything") the CapabilityStatement offers on Patient."""
    found: set[str] = set()
    rests = capability.get("rest")
    for rest in rests if isinstance(rests, list) else []:
        if not isinstance(rest, Mapping):
            continue
        resources = rest.get("resource")
        for resource in resources if isinstance(resources, list) else []:
            if isinstance(resource, Mapping) and resource.get("type") == "Patient":
                found |= _operation_names(resource.get("operation"))
    return found


def _operation_names(operations: Any) -> set[str]:
    names = set()
    for operation in operations if isinstance(operations, list) else []:
        if isinstance(operation, Mapping) and isinstance(operation.get("name"), str):
            names.add(operation["name"].lstrip("$"))
    return names


OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def oauth_uris(capability: Mapping[str, Any]) -> dict[str, str]:
    """{"token": …, "authorize": …} from the CapabilityStatement's SMART oauth-uris extension."""
    found: dict[str, str] = {}
    rests = capability.get("rest")
    for rest in rests if isinstance(rests, list) else []:
        security = rest.get("security") if isinstance(rest, Mapping) else None
        extensions = security.get("extension") if isinstance(security, Mapping) else None
        for extension in extensions if isinstance(extensions, list) else []:
            if not isinstance(extension, Mapping) or extension.get("url") != OAUTH_URIS:
                continue
            inner = extension.get("extension")
            for item in inner if isinstance(inner, list) else []:
                if isinstance(item, Mapping) and isinstance(item.get("valueUri"), str):
                    found[str(item.get("url"))] = item["valueUri"]
    return found


def canonical_json(resource: Mapping[str, Any]) -> str:
    """The resource as compact JSON with sorted keys: one text for one content, whatever the key order."""
    return json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash_of(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()


def content_hash(resource: Mapping[str, Any]) -> str:
    return content_hash_of(canonical_json(resource))
