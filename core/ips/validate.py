"""Check that a bundle is an IPS 2.0.0 document before the portal lets it out.

Two layers, both needed: the FHIR models know datatypes and cardinalities but none of the document rules.

* ``validate_structure``: FHIR R4 structure (datatypes, cardinalities, unknown elements, choice types), by
  parsing the exact JSON with the ``fhir.resources.R4B`` models.
* ``validate_document_rules``: the rules of a FHIR document and of the IG's Bundle and Composition profiles
  (the ``bdl-*`` invariants, a single Composition and first, one Patient, the Composition's type, status,
  date, title, subject, author and sections, ``ips-comp-1``), the portal's own rules (``urn:uuid``
  fullUrls, declared profiles), and that every reference resolves inside the bundle.

Rules the IG states in FHIRPath are FHIRPath here (fhirpathpy, compiled once at import), evaluated on the
Composition and on a small skeleton of the bundle: its own fields and, of each entry, the fullUrl,
request, response, search and the resource's type, id and meta. fhirpathpy spends microseconds per node
it visits, so the skeleton holds the first entry and then one entry of each distinct shape only (see
``_shape``); the entry rules are all "every entry has / has not ...", whose verdict depends on nothing else,
and plain Python then names the entries that break one. Whatever depends on values across all entries
(unique fullUrls, exactly one Patient, reference resolution, nesting depth) is one pass of plain Python.

Problems never quote resource content: a rule key, plain English, a path and at most a urn:uuid reference.
No Django here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import fhirpathpy
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from core.fhir.read import HISTORY, without_version
from core.fhir.terms import ACT_CLASS, LOINC
from core.ips.profiles import BUNDLE_PROFILE, COMPOSITION_PROFILE, PATIENT_SUMMARY_CODE
from core.ips.sections import SECTION_BY_LOINC, SECTIONS

REQUIRED_SECTION_CODES: Final = tuple(section.loinc for section in SECTIONS if section.required)

# Real resources nest a dozen levels or so; the cap only stops hostile input from exhausting anything.
MAX_DEPTH: Final = 64
MAX_STRUCTURE_PROBLEMS: Final = 20

# The FHIR ``uuid`` datatype: lower-case hex.
_UUID_URN: Final = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The only reference strings repeated in messages: random UUIDs say nothing. Ids and relative or absolute
# URLs can embed identifiers or words (contained ids are free text), so those are left out.
_QUOTABLE_REFERENCE: Final = re.compile(r"urn:uuid:[0-9a-fA-F-]{36}")
_RELATIVE_REFERENCE: Final = re.compile(r"[A-Z][A-Za-z]{1,63}/[A-Za-z0-9\-.]{1,64}")
_LOINC_CODE: Final = re.compile(r"[0-9]{1,8}-[0-9]")


@dataclass(frozen=True)
class Problem:
    """One broken rule. ``rule`` is the IG's constraint key where there is one, else an ``ips-...`` key."""

    rule: str
    message: str
    location: str = ""

    def __str__(self) -> str:
        where = f" at {self.location}" if self.location else ""
        return f"[{self.rule}]{where}: {self.message}"


class InvalidDocument(Exception):
    """Raised by ``ensure_valid``; ``problems`` says what is wrong."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        # The list is the only argument, so that the exception pickles (Celery results) as it was.
        super().__init__(self.problems)

    def __str__(self) -> str:
        count = len(self.problems)
        shown = "; ".join(str(problem) for problem in self.problems[:5])
        more = f"; and {count - 5} more" if count > 5 else ""
        return f"not a valid IPS document, {count} problem{'s' if count != 1 else ''}: {shown}{more}"


# ---------------------------------------------------------------------------- structure (fhir.resources)


def validate_structure(bundle_json: str | bytes) -> list[Problem]:
    """FHIR R4 structural problems of the serialised bundle, at most ``MAX_STRUCTURE_PROBLEMS``."""
    try:
        Bundle.model_validate_json(bundle_json)
    except ValidationError as error:
        return _structure_problems(error.errors(include_url=False, include_context=False))
    except Exception as error:
        # The models raise e.g. KeyError for an unknown resourceType. The text may quote the input, so only
        # the exception's type is reported.
        return [
            Problem("fhir-structure", f"the FHIR models could not read the bundle ({type(error).__name__})")
        ]
    return []


def _structure_problems(errors: list[Any]) -> list[Problem]:
    problems: list[Problem] = []
    for error in errors:
        if len(problems) == MAX_STRUCTURE_PROBLEMS - 1 and len(errors) > MAX_STRUCTURE_PROBLEMS:
            problems.append(
                Problem("fhir-structure", f"{len(errors) - len(problems)} more structural errors")
            )
            break
        message = " ".join(str(error.get("msg", "invalid")).split())
        value = error.get("input")
        # pydantic's own messages do not quote the input; a custom validator's might.
        if isinstance(value, str) and len(value) >= 4 and value in message:
            message = message.replace(value, "…")
        problems.append(Problem("fhir-structure", message, _loc_path(error.get("loc", ()))))
    return problems


def _loc_path(loc: Iterable[Any]) -> str:
    path = "Bundle"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


# ---------------------------------------------------------------------------- FHIRPath rules

_Compiled = Callable[[Any, Any], list[Any]]
_UNCHECKABLE: Final = "could not be checked: the data has an unexpected shape"


def _evaluate(compiled: _Compiled, data: Mapping[str, Any]) -> Any:
    """The result, or None when fhirpathpy gave up on malformed data."""
    try:
        return compiled(data, None)
    except Exception:
        # fhirpathpy raises bare Exceptions whose text quotes the data: neither the error nor its text
        # may escape.
        return None


@dataclass(frozen=True)
class _Check:
    """A FHIRPath rule: it holds where ``expression`` evaluates to ``true``; ``path`` is where to report."""

    rule: str
    expression: str
    message: str
    path: str = ""
    _compiled: _Compiled = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Compiled once, at import: parsing costs more than evaluating.
        object.__setattr__(self, "_compiled", fhirpathpy.compile(self.expression))

    def holds(self, data: Mapping[str, Any]) -> bool | None:
        """True or False; None when the data could not be evaluated."""
        result = _evaluate(self._compiled, data)
        return None if result is None else result == [True]

    def problems(self, data: Mapping[str, Any], base: str) -> list[Problem]:
        holds = self.holds(data)
        if holds:
            return []
        return [Problem(self.rule, self.message if holds is False else _UNCHECKABLE, base + self.path)]


# The IPS Bundle profile fixes Bundle.type to "document", so the IG's document invariants are checked
# without their "type = 'document' implies" guard, and bdl-2/3/4 as they read for a document.
_BUNDLE_CHECKS: Final = (
    _Check("ips-bundle-type", "type = 'document'", "the bundle's type must be 'document'", "Bundle.type"),
    _Check(
        "bdl-9",
        "identifier.system.exists() and identifier.value.exists()",
        "a document needs an identifier with a system and a value",
        "Bundle.identifier",
    ),
    # The IG says timestamp.hasValue(), which fhirpathpy does not implement; the format is the models' job.
    _Check("bdl-10", "timestamp.exists()", "a document needs a timestamp", "Bundle.timestamp"),
    _Check(
        "bdl-11",
        "entry.first().resource.is(Composition)",
        "the first entry of a document must be a Composition",
        "Bundle.entry[0].resource",
    ),
)
_BUNDLE_PROFILE_CHECK: Final = _Check(
    "ips-bundle-profile",
    f"meta.profile contains '{BUNDLE_PROFILE}'",
    "the bundle must declare the IPS Bundle profile in meta.profile",
    "Bundle.meta.profile",
)


@dataclass(frozen=True)
class _EntryCheck:
    """A FHIRPath rule of the form "every entry ..." on the skeleton; ``offends`` finds the entries."""

    check: _Check
    offends: Callable[[int, Mapping[str, Any], str | None], bool]  # (index, entry, resourceType)
    path: str  # below Bundle.entry[i]

    def problems(self, entries: _Entries) -> list[Problem]:
        holds = self.check.holds(entries.skeleton)
        if holds:
            return []
        if holds is None:
            return [Problem(self.check.rule, _UNCHECKABLE, "Bundle.entry")]
        located = [
            Problem(self.check.rule, self.check.message, f"Bundle.entry[{i}]{self.path}")
            for i, (entry, kind) in enumerate(zip(entries.raw, entries.types, strict=True))
            if self.offends(i, entry, kind)
        ]
        return located or [Problem(self.check.rule, self.check.message, "Bundle.entry")]


def _present(value: object) -> bool:
    """Whether FHIRPath's exists() is true of a JSON value (for values the FHIR models accept)."""
    return value is not None and value != [] and value != {} and value != ""


_ENTRY_CHECKS: Final = (
    _EntryCheck(
        _Check(
            "bdl-ips-1",
            "entry.tail().where(resource is Composition).empty()",
            "an IPS document has one Composition, its first entry; this entry is another",
        ),
        lambda i, entry, kind: i > 0 and kind == "Composition",
        ".resource",
    ),
    _EntryCheck(
        _Check(
            "ips-fullurl-required", "entry.all(fullUrl.exists())", "every entry of a document needs a fullUrl"
        ),
        lambda i, entry, kind: not _present(entry.get("fullUrl")),
        ".fullUrl",
    ),
    _EntryCheck(
        _Check("bdl-2", "entry.search.empty()", "an entry of a document cannot have a search element"),
        lambda i, entry, kind: _present(entry.get("search")),
        ".search",
    ),
    _EntryCheck(
        _Check("bdl-3", "entry.request.empty()", "an entry of a document cannot have a request element"),
        lambda i, entry, kind: _present(entry.get("request")),
        ".request",
    ),
    _EntryCheck(
        _Check("bdl-4", "entry.response.empty()", "an entry of a document cannot have a response element"),
        lambda i, entry, kind: _present(entry.get("response")),
        ".response",
    ),
    _EntryCheck(
        _Check(
            "bdl-5",
            "entry.all(resource.exists() or request.exists() or response.exists())",
            "an entry needs a resource (a document's entries have no request or response)",
        ),
        lambda i, entry, kind: (
            not any(_present(entry.get(key)) for key in ("resource", "request", "response"))
        ),
        ".resource",
    ),
)

_COMPOSITION_CHECKS: Final = (
    _Check(
        "ips-composition-type",
        f"type.coding.where(system = '{LOINC}' and code = '{PATIENT_SUMMARY_CODE}').exists()",
        f"the Composition's type must be LOINC {PATIENT_SUMMARY_CODE} (Patient summary Document)",
        ".type",
    ),
    _Check(
        "ips-composition-status", "status = 'final'", "the Composition's status must be 'final'", ".status"
    ),
    _Check("ips-composition-date", "date.exists()", "the Composition needs a date", ".date"),
    _Check("ips-composition-title", "title.exists()", "the Composition needs a title", ".title"),
    _Check(
        "ips-composition-subject",
        "subject.reference.exists()",
        "the Composition needs a subject referencing the Patient",
        ".subject",
    ),
    _Check(
        "ips-composition-author", "author.exists()", "the Composition needs at least one author", ".author"
    ),
    # The IG's careProvisioningEvent slice: the period the summary covers, as the Yellow Button issues it.
    _Check(
        "ips-composition-event",
        f"event.where(code.coding.where(system = '{ACT_CLASS}'"
        " and code = 'PCPR').exists() and period.exists()).exists()",
        "the Composition needs a care provision event (PCPR) with the period it covers",
        ".event",
    ),
)
_COMPOSITION_PROFILE_CHECK: Final = _Check(
    "ips-composition-profile",
    f"meta.profile contains '{COMPOSITION_PROFILE}'",
    "the Composition must declare the IPS Composition profile in meta.profile",
    ".meta.profile",
)

_SECTION_CHECKS: Final = (
    _Check(
        "ips-section-code",
        "code.coding.where(system.exists() and code.exists()).exists()",
        "every section needs a coded code",
        ".code",
    ),
    _Check("ips-section-title", "title.exists()", "every section needs a title", ".title"),
    # "div" is also an operator in FHIRPath, hence the backticks (as in the IG's own expressions).
    _Check("ips-section-text", "text.`div`.exists()", "every section needs a narrative (text.div)", ".text"),
    _Check(
        "ips-section-text-status",
        "text.status.exists()",
        "every section's narrative needs a status",
        ".text.status",
    ),
    _Check(
        "cmp-2", "emptyReason.empty() or entry.empty()", "a section with entries cannot have an emptyReason"
    ),
    _Check("ips-section-nested", "section.empty()", "IPS sections cannot have sub-sections", ".section"),
)
_REQUIRED_SECTION_CHECK: Final = _Check(
    "ips-comp-1",
    "entry.reference.exists() or emptyReason.exists()",
    "a required section needs entries or an emptyReason",
)
_SECTION_LOINC_CODES: Final = fhirpathpy.compile(f"code.coding.where(system = '{LOINC}').code")


# ---------------------------------------------------------------------------- the entries, gathered once


@dataclass
class _Entries:
    """What the rules need of the entries, gathered in one pass; ``skeleton`` is what FHIRPath sees."""

    raw: list[Mapping[str, Any]]
    types: list[str | None]
    full_urls: list[str | None]
    by_full_url: dict[str, int]
    by_type_and_id: dict[str, int]  # "Type/id" of fullUrls ending in one (RESTful fullUrls)
    skeleton: dict[str, Any]


_SKELETON_ENTRY_KEYS: Final = ("fullUrl", "request", "response", "search")
_SKELETON_RESOURCE_KEYS: Final = ("resourceType", "id", "meta")


def _shape(entry: Mapping[str, Any], kind: str | None) -> tuple[object, ...]:
    """All that the skeleton's entry rules can tell apart about an entry.

    Every rule in ``_ENTRY_CHECKS`` says "every entry (after the first) has / has not ..." about these, so
    one entry per shape gives the same verdict as all of them, at a cost that does not grow with the record.
    Type and truthiness rather than just presence, so that odd values ("", {}) are not merged with absence.
    A new entry rule that reads anything else must add it here.
    """
    values = (entry.get(key) for key in (*_SKELETON_ENTRY_KEYS, "resource"))
    return (kind, *((type(value), bool(value)) for value in values))


def _gather(bundle: Mapping[str, Any]) -> _Entries:
    listed = bundle.get("entry")
    raw = (
        [entry if isinstance(entry, Mapping) else {} for entry in listed] if isinstance(listed, list) else []
    )
    entries = _Entries(raw, [], [], {}, {}, {})
    shapes: set[tuple[object, ...]] = set()
    skeleton_entries: list[dict[str, Any]] = []
    for i, entry in enumerate(raw):
        resource = entry.get("resource")
        kind = resource.get("resourceType") if isinstance(resource, Mapping) else None
        kind = kind if isinstance(kind, str) else None
        entries.types.append(kind)
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str):
            entries.full_urls.append(full_url)
            entries.by_full_url.setdefault(full_url, i)
            parts = full_url.rsplit("/", 2)
            if len(parts) == 3 and parts[1] and parts[2]:
                entries.by_type_and_id.setdefault(f"{parts[1]}/{parts[2]}", i)
        else:
            entries.full_urls.append(None)
        shape = _shape(entry, kind)
        if i > 0 and shape in shapes:
            continue
        if i > 0:  # the first entry stands for itself: bdl-11 and bdl-ips-1 tell it from the rest
            shapes.add(shape)
        skeleton_entry = {key: entry[key] for key in _SKELETON_ENTRY_KEYS if key in entry}
        if isinstance(resource, Mapping):
            skeleton_entry["resource"] = {
                key: resource[key] for key in _SKELETON_RESOURCE_KEYS if key in resource
            }
        elif resource is not None:
            skeleton_entry["resource"] = resource
        skeleton_entries.append(skeleton_entry)
    entries.skeleton = {key: value for key, value in bundle.items() if key != "entry"}
    entries.skeleton["entry"] = skeleton_entries
    return entries


# ---------------------------------------------------------------------------- references and depth

_CONTAINED: Final = -1  # resolved to a contained resource of the referring resource


def _resolve(reference: str, entries: _Entries, at: int, contained_ids: set[str]) -> int | None:
    """The index of the entry ``reference`` (made in entry ``at``) points to, ``_CONTAINED``, or None."""
    if reference.startswith("#"):
        # "#" alone is the containing resource itself.
        return _CONTAINED if reference == "#" or reference[1:] in contained_ids else None
    if HISTORY in reference:
        reference = without_version(reference)
    found = entries.by_full_url.get(reference)
    if found is not None or not _RELATIVE_REFERENCE.fullmatch(reference):
        return found
    # Relative "Type/id": against the referring entry's own RESTful base first (FHIR's rule for bundles),
    # then any entry whose fullUrl ends in "/Type/id".
    own = entries.full_urls[at] if 0 <= at < len(entries.full_urls) else None
    if own is not None and own.count("/") >= 2:
        found = entries.by_full_url.get(f"{own.rsplit('/', 2)[0]}/{reference}")
        if found is not None:
            return found
    return entries.by_type_and_id.get(reference)


def _contained_ids(resource: Mapping[str, Any]) -> set[str]:
    contained = resource.get("contained")
    if not isinstance(contained, list):
        return set()
    return {item["id"] for item in contained if isinstance(item, Mapping) and isinstance(item.get("id"), str)}


def _quotable(reference: str) -> str:
    return f" {reference}" if _QUOTABLE_REFERENCE.fullmatch(reference) else ""


# A location is spelt out only for a problem: the walk keeps (parent, key) links, not strings.
_Link = tuple[Any, "str | int"]


def _render(link: _Link | None) -> str:
    parts: list[str | int] = []
    while link is not None:
        link, key = link
        parts.append(key)
    text = ""
    for part in reversed(parts):
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _walk(
    root: Any, base: _Link, entries: _Entries | None, at: int, contained_ids: set[str]
) -> Iterator[Problem]:
    """Unresolved references under ``root`` (none looked for without ``entries``) and nesting deeper than
    ``MAX_DEPTH``. Iterative, so no input can exhaust the stack. Narratives (a resource's ``text``) are
    skipped: they hold no references, and their content stays out of problems."""
    stack: list[tuple[Any, int, _Link]] = [(root, 1, base)]
    while stack:
        node, depth, link = stack.pop()
        if type(node) is dict or (type(node) is not list and isinstance(node, Mapping)):
            is_resource = "resourceType" in node
            items: Iterable[tuple[str | int, Any]] = node.items()
        else:
            is_resource = False
            items = enumerate(node)
        for key, value in items:
            kind = type(value)
            # Exact type tests first: this loop sees every value of the document, most of them strings.
            if kind is str:
                if (
                    key == "reference"
                    and entries is not None
                    and _resolve(value, entries, at, contained_ids) is None
                ):
                    yield Problem(
                        "ips-references-resolve",
                        f"the reference{_quotable(value)} resolves to no entry of the bundle and no contained"
                        " resource",
                        _render((link, key)),
                    )
            elif kind is dict or kind is list or isinstance(value, (Mapping, list)):
                if is_resource and key == "text":
                    continue
                if depth >= MAX_DEPTH:
                    yield Problem(
                        "ips-max-depth",
                        f"the data is nested more than {MAX_DEPTH} levels deep and was not checked further",
                        _render((link, key)),
                    )
                    return
                stack.append((value, depth + 1, (link, key)))


def _reference_problems(bundle: Mapping[str, Any], entries: _Entries) -> Iterator[Problem]:
    # The Bundle's own fields hold no references that matter here, but fhirpathpy and json.dumps read them.
    own_fields = {key: value for key, value in bundle.items() if key != "entry"}
    yield from _walk(own_fields, (None, "Bundle"), None, -1, set())
    for i, entry in enumerate(entries.raw):
        resource = entry.get("resource")
        contained_ids = _contained_ids(resource) if isinstance(resource, Mapping) else set()
        yield from _walk(entry, ((None, "Bundle.entry"), i), entries, i, contained_ids)


# ---------------------------------------------------------------------------- the rules


def validate_document_rules(
    bundle: Mapping[str, Any], *, require_uuid_fullurls: bool = True, require_profiles: bool = True
) -> list[Problem]:
    """The IPS document rules the FHIR models do not check; an empty list when all hold.

    ``require_uuid_fullurls`` and ``require_profiles`` are the portal's own stricter rules: turn them off
    to check documents from elsewhere (the IG's examples use https fullUrls and few declare the
    Composition profile).
    """
    if not isinstance(bundle, Mapping):
        return [Problem("ips-bundle-resource", "the bundle is not a JSON object")]
    problems: list[Problem] = []
    if bundle.get("resourceType") != "Bundle":
        problems.append(
            Problem("ips-bundle-resource", "the resourceType must be 'Bundle'", "Bundle.resourceType")
        )
    entries = _gather(bundle)
    problems.extend(_reference_problems(bundle, entries))
    for check in (*_BUNDLE_CHECKS, _BUNDLE_PROFILE_CHECK) if require_profiles else _BUNDLE_CHECKS:
        problems.extend(check.problems(entries.skeleton, ""))
    problems.extend(_entry_problems(entries, require_uuid_fullurls=require_uuid_fullurls))
    problems.extend(_composition_problems(entries, require_profiles=require_profiles))
    return problems


def _entry_problems(entries: _Entries, *, require_uuid_fullurls: bool) -> Iterator[Problem]:
    for entry_check in _ENTRY_CHECKS:
        yield from entry_check.problems(entries)
    # Plain Python from here: these depend on values across all entries.
    seen: set[tuple[str, str | None]] = set()
    for i, full_url in enumerate(entries.full_urls):
        if full_url is None:
            continue
        # bdl-7: a fullUrl may repeat only for different versions (meta.versionId) of a resource.
        key = (full_url, _version_id(entries.raw[i]))
        if key in seen:
            yield Problem(
                "bdl-7", "this fullUrl is already used by an earlier entry", f"Bundle.entry[{i}].fullUrl"
            )
        seen.add(key)
        if HISTORY in full_url:
            yield Problem(
                "bdl-8", "a fullUrl cannot be version specific (/_history/)", f"Bundle.entry[{i}].fullUrl"
            )
        if require_uuid_fullurls and not _UUID_URN.fullmatch(full_url):
            yield Problem(
                "ips-fullurl-uuid",
                "the portal's fullUrls must be urn:uuid: and a lower-case UUID",
                f"Bundle.entry[{i}].fullUrl",
            )
    patients = [i for i, kind in enumerate(entries.types) if kind == "Patient"]
    if not patients:
        yield Problem(
            "ips-one-patient", "an IPS document needs exactly one Patient entry; it has none", "Bundle.entry"
        )
    for i in patients[1:]:
        yield Problem(
            "ips-one-patient",
            "an IPS document needs exactly one Patient entry; this is another",
            f"Bundle.entry[{i}].resource",
        )


def _version_id(entry: Mapping[str, Any]) -> str | None:
    resource = entry.get("resource")
    meta = resource.get("meta") if isinstance(resource, Mapping) else None
    version = meta.get("versionId") if isinstance(meta, Mapping) else None
    return version if isinstance(version, str) else None


def _composition_problems(entries: _Entries, *, require_profiles: bool) -> Iterator[Problem]:
    # bdl-11 reports a Composition that is not first; its own rules are checked wherever it is.
    at = next((i for i, kind in enumerate(entries.types) if kind == "Composition"), None)
    if at is None:
        return
    composition = entries.raw[at]["resource"]
    base = f"Bundle.entry[{at}].resource"
    for check in (
        (*_COMPOSITION_CHECKS, _COMPOSITION_PROFILE_CHECK) if require_profiles else _COMPOSITION_CHECKS
    ):
        yield from check.problems(composition, base)
    yield from _subject_and_author_problems(composition, entries, at, base)
    yield from _section_problems(composition.get("section"), f"{base}.section")


def _subject_and_author_problems(
    composition: Mapping[str, Any], entries: _Entries, at: int, base: str
) -> Iterator[Problem]:
    contained_ids = _contained_ids(composition)
    subject = composition.get("subject")
    reference = subject.get("reference") if isinstance(subject, Mapping) else None
    if isinstance(reference, str):  # a missing one is reported by the FHIRPath check
        target = _resolve(reference, entries, at, contained_ids)
        if target is None or target == _CONTAINED or entries.types[target] != "Patient":
            yield Problem(
                "ips-composition-subject",
                "the Composition's subject must resolve to the bundle's Patient entry",
                f"{base}.subject",
            )
    authors = composition.get("author")
    for k, author in enumerate(authors if isinstance(authors, list) else []):
        reference = author.get("reference") if isinstance(author, Mapping) else None
        if not isinstance(reference, str) or _resolve(reference, entries, at, contained_ids) is None:
            yield Problem(
                "ips-composition-author",
                "each author of the Composition must reference a resource in the bundle",
                f"{base}.author[{k}]",
            )


def _section_problems(sections: object, base: str) -> Iterator[Problem]:
    # Index, section: anything else in the list is the models' to report.
    listed = (
        [(k, s) for k, s in enumerate(sections) if isinstance(s, Mapping)]
        if isinstance(sections, list)
        else []
    )
    codes_of = [_loinc_codes(section) for _, section in listed]
    seen: set[str] = set()
    for (k, section), codes in zip(listed, codes_of, strict=True):
        where = f"{base}[{k}]"
        for check in _SECTION_CHECKS:
            yield from check.problems(section, where)
        if not codes.isdisjoint(REQUIRED_SECTION_CODES):
            yield from _REQUIRED_SECTION_CHECK.problems(section, where)
        for code in sorted(codes & seen):
            shown = f" (LOINC {code})" if _LOINC_CODE.fullmatch(code) else ""
            yield Problem(
                "ips-section-unique", f"the section code{shown} appears more than once", f"{where}.code"
            )
        seen |= codes
    for code in REQUIRED_SECTION_CODES:
        count = sum(1 for codes in codes_of if code in codes)
        if count != 1:
            state = "is missing" if count == 0 else f"appears {count} times"
            yield Problem(
                "ips-required-sections",
                f"the required section {SECTION_BY_LOINC[code].title} (LOINC {code}) {state};"
                " it must appear exactly once",
                base,
            )


def _loinc_codes(section: Mapping[str, Any]) -> set[str]:
    found = _evaluate(_SECTION_LOINC_CODES, section) or []
    return {code for code in found if isinstance(code, str)}


# ---------------------------------------------------------------------------- both


def validate_document(
    bundle: Mapping[str, Any],
    *,
    bundle_json: str | bytes | None = None,
    require_uuid_fullurls: bool = True,
    require_profiles: bool = True,
) -> list[Problem]:
    """Structure and document rules; an empty list means the document may go out.

    Pass ``bundle_json`` when the bundle is already serialised: that exact text is what gets validated, and
    the bundle is not serialised again.
    """
    problems: list[Problem] = []
    if bundle_json is None:
        try:
            bundle_json = json.dumps(bundle, default=_mapping_as_dict, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            problems.append(Problem("fhir-structure", "the bundle cannot be serialised as JSON", "Bundle"))
    if bundle_json is not None:
        problems.extend(validate_structure(bundle_json))
    problems.extend(
        validate_document_rules(
            bundle, require_uuid_fullurls=require_uuid_fullurls, require_profiles=require_profiles
        )
    )
    return problems


def _mapping_as_dict(value: object) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(type(value).__name__)


def ensure_valid(bundle: Mapping[str, Any], *, bundle_json: str | bytes | None = None) -> None:
    """Raise ``InvalidDocument`` unless the bundle is a valid IPS document by all of the portal's rules."""
    problems = validate_document(bundle, bundle_json=bundle_json)
    if problems:
        raise InvalidDocument(problems)
