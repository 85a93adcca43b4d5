"""The PDF of an IPS document: a readable, printable summary of the bundle, rendered with WeasyPrint.

``summary_pdf`` turns an IPS 2.0.0 document bundle into a PDF in the citizen's language: a patient header,
when it was made and from which sources, then each Composition section in the document's order with its
entries as a table (item, status, date, details). The words come from ``portal.records.display.summarize``
(structured fields only, the same lines as the record page) and the section table's translated titles.
Upstream narrative (``text.div``) is never rendered: every upstream string reaches the PDF as text,
escaped by the template engine.

WeasyPrint fetches whatever a document points at (images, stylesheets, fonts; ``file://`` and any host)
unless told otherwise. ``render_pdf`` therefore gives it a URL fetcher that serves our own static files
only, through one URL form we generate ourselves (``portal-static:css/summary-pdf.css``), found with the
staticfiles finders. Anything else is refused: ``file:``, ``http(s):``, ``ftp:``, relative URLs, path
traversal, and ``data:`` too. A ``data:`` URL reaches neither the network nor the disk, but we never make
one, and decoding an image someone else supplied (an image bomb) only costs time and memory.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, gettext_noop, override
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from portal.records.display import ItemSummary, concept_text, summarize
from sharing.ips.sections import LOINC, SECTION_BY_LOINC, mappings_of

logger = logging.getLogger(__name__)

TEMPLATE: Final = "sharing/summary_pdf.html"
STYLESHEET: Final = "css/summary-pdf.css"
# The one URL form the fetcher serves. A scheme of our own: no host, no file path, nothing that a
# standard URL (or a relative one joined onto the base below) can turn into.
STATIC_SCHEME: Final = "portal-static:"
BASE_URL: Final = STATIC_SCHEME
# Path segments start with a letter, digit, "_" or "-": no "." or ".." segment, no leading "/", no
# "%" escapes, "\\", "?" or "#"; and only the kinds of file a summary needs.
STATIC_PATH: Final = re.compile(r"(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*")
CONTENT_TYPES: Final[Mapping[str, str]] = {".css": "text/css; charset=utf-8"}
SCHEME: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,30}):")

LIST_EMPTY_REASON: Final = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
# Composition.section.emptyReason (ValueSet list-empty-reason, extensible), in the portal's own words.
EMPTY_REASONS: Final[Mapping[str, str]] = {
    "nilknown": gettext_noop("None known."),
    "notasked": gettext_noop("Not asked: nobody has checked yet."),
    "withheld": gettext_noop("Withheld: the information is not shared."),
    "unavailable": gettext_noop("Unavailable: the information could not be obtained."),
    "notstarted": gettext_noop("Not started: the list has not been filled in yet."),
    "closed": gettext_noop("Closed: the list is no longer kept up to date."),
}
# Identifier systems people know by a short name (the NZ NHI is the IPS examples' patient identifier).
IDENTIFIER_SYSTEMS: Final[Mapping[str, str]] = {
    "urn:oid:1.2.208.176.1.2": "CPR",
    "https://standards.digital.health.nz/ns/nhi-id": "NHI",
}
MAX_IDENTIFIERS: Final = 5
MAX_SECTION_DEPTH: Final = 3  # nested sections deeper than this are not shown
MAX_TEXT: Final = 300
FHIR_DATE_TIME: Final = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d)")

Resolver = Callable[[str], Mapping[str, Any] | None]


# ---------------------------------------------------------------------------- fetching


class RefusedURL(ValueError):
    """A URL the PDF may not load. The message names the scheme only: URLs can carry data."""


def static_url(path: str) -> str:
    """The URL under which a document links one of our static files, e.g. ``css/summary-pdf.css``."""
    return STATIC_SCHEME + path


def _scheme(url: str) -> str:
    match = SCHEME.match(url)
    return match[1].lower() if match else "relative"


def _refuse(url: str, why: str) -> RefusedURL:
    scheme = _scheme(url)
    logger.info("PDF: refused to load a %s URL (%s)", scheme, why)
    return RefusedURL(f"refused a {scheme} URL ({why})")


class _SchemesOnly(logging.Filter):
    """Keeps only the scheme of the URLs in WeasyPrint's own log lines.

    WeasyPrint logs every stylesheet it loads and every resource it fails to load, with the URL; a URL in
    a document handed to ``render_pdf`` could carry personal data ("…/pixel.png?cpr=…"). In the lines
    about resources every string argument is a URL, or the name of an inline source ("CSS string").
    """

    RESOURCE_WORDS: Final = ("load", "Fetching", "URL", "URI", "SVG")
    INLINE: Final = frozenset({"CSS string", "HTML string"})

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        if isinstance(record.args, tuple) and any(word in message for word in self.RESOURCE_WORDS):
            record.args = tuple(
                f"<{_scheme(arg)} URL>" if isinstance(arg, str) and arg not in self.INLINE else arg
                for arg in record.args
            )
        return True


# A logger's filters see only the records logged on it, not its children's: both loggers WeasyPrint uses.
for _name in ("weasyprint", "weasyprint.progress"):
    logging.getLogger(_name).addFilter(_SchemesOnly())


class StaticOnlyFetcher(URLFetcher):
    """Serves ``portal-static:<path>`` from the staticfiles finders and refuses every other URL.

    A WeasyPrint ``URLFetcher`` (its ``fetch`` wrapper reads the fetcher's settings), but it never uses
    the urllib machinery it inherits: nothing here opens a socket or a path outside the static files.
    """

    def __init__(self) -> None:
        super().__init__(allowed_protocols=(), allow_redirects=False, fail_on_errors=False)

    def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> URLFetcherResponse:
        if not url.startswith(STATIC_SCHEME):
            raise _refuse(url, "not a static file")
        path = url.removeprefix(STATIC_SCHEME)
        content_type = CONTENT_TYPES.get(Path(path).suffix) if STATIC_PATH.fullmatch(path) else None
        if content_type is None:
            raise _refuse(url, "not an allowed static path")
        # The pattern above is the first wall; find() joins safely too (it raises outside its roots).
        found = finders.find(path)
        if found is None:
            raise _refuse(url, "no such static file")
        return URLFetcherResponse(url, Path(found).read_bytes(), headers={"Content-Type": content_type})


def render_pdf(html: str) -> bytes:
    """The PDF of an HTML document whose only outside resources are our own static files."""
    document = HTML(string=html, base_url=BASE_URL, url_fetcher=StaticOnlyFetcher())
    pdf: bytes = document.write_pdf()
    return pdf


# ---------------------------------------------------------------------------- the bundle, read tolerantly


@dataclass(frozen=True)
class Labelled:
    """One line of the patient header, e.g. ("NHI", "ABC1234")."""

    label: str
    value: str


@dataclass(frozen=True)
class Row:
    """One entry of a section: what ``summarize`` reads, or only a title when it is not in the bundle."""

    summary: ItemSummary
    date: str


@dataclass(frozen=True)
class PdfSection:
    title: str
    level: int  # 2 for a Composition section, 3 and more for nested ones
    rows: list[Row]
    empty_text: str  # shown instead of a table when there are no rows


def _string(value: object) -> str | None:
    if isinstance(value, str):
        text = " ".join(value.split())
        if text:
            return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1].rstrip() + "…"
    return None


def _reference_key(reference: object) -> str | None:
    """A reference or fullUrl as the index keys it: stripped, any version ("/_history/2") left off."""
    if not isinstance(reference, str) or not reference.strip():
        return None
    return reference.strip().split("/_history/", 1)[0]


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


def _resources(bundle: Mapping[str, Any], resource_type: str) -> Iterator[Mapping[str, Any]]:
    for entry in mappings_of(bundle.get("entry")):
        resource = entry.get("resource")
        if isinstance(resource, Mapping) and resource.get("resourceType") == resource_type:
            yield resource


def _reference_of(value: object) -> str | None:
    return _reference_key(value.get("reference")) if isinstance(value, Mapping) else None


def _patient(
    composition: Mapping[str, Any], bundle: Mapping[str, Any], resolve: Resolver
) -> Mapping[str, Any]:
    reference = _reference_of(composition.get("subject"))
    patient = resolve(reference) if reference else None
    if patient is None or patient.get("resourceType") != "Patient":
        patient = next(_resources(bundle, "Patient"), None)
    return patient or {}


def _human_name(patient: Mapping[str, Any]) -> str:
    names = list(mappings_of(patient.get("name")))
    # The name in use: official or usual first, then any other that is not old or a maiden name.
    ranked = sorted(
        (n for n in names if n.get("use") not in ("old", "maiden")),
        key=lambda n: 0 if n.get("use") in ("official", "usual") else 1,
    )
    for name in ranked:
        text = _string(name.get("text"))
        if text:
            return text
        given = name.get("given")
        parts = [p for p in given if isinstance(p, str)] if isinstance(given, list) else []
        family = name.get("family")
        parts += [family] if isinstance(family, str) else []
        joined = _string(" ".join(parts))
        if joined:
            return joined
    return ""


def _identifier_label(identifier: Mapping[str, Any]) -> str:
    type_text = concept_text(identifier.get("type"))
    if type_text:
        return type_text
    system = _string(identifier.get("system")) or ""
    known = IDENTIFIER_SYSTEMS.get(system)
    if known:
        return known
    # A URL reads better without its scheme ("example.org/patient-ids"); an OID stays as it is.
    return re.sub(r"^https?://", "", system).rstrip("/")


def _identifiers(patient: Mapping[str, Any]) -> list[Labelled]:
    found = [
        Labelled(_identifier_label(identifier), value)
        for identifier in mappings_of(patient.get("identifier"))
        if identifier.get("use") != "old" and (value := _string(identifier.get("value")))
    ]
    return found[:MAX_IDENTIFIERS]


def _coded(concept: object, system: str) -> Iterator[str]:
    """The codes of a CodeableConcept's codings of one system (or of none given)."""
    for item in mappings_of(concept):
        for coding in mappings_of(item.get("coding")):
            code = coding.get("code")
            if isinstance(code, str) and coding.get("system") in (system, None):
                yield code


def _section_title(section: Mapping[str, Any]) -> str:
    for code in _coded(section.get("code"), LOINC):
        known = SECTION_BY_LOINC.get(code)
        if known is not None:
            return gettext(known.title)
    return _string(section.get("title")) or concept_text(section.get("code")) or gettext("Untitled section")


def _empty_text(section: Mapping[str, Any]) -> str:
    reason = section.get("emptyReason")
    for code in _coded(reason, LIST_EMPTY_REASON):
        if code in EMPTY_REASONS:
            return gettext(EMPTY_REASONS[code])
    return concept_text(reason) or gettext("No structured entries in this section.")


def _row(reference: Mapping[str, Any], resolve: Resolver) -> Row:
    target = _reference_of(reference)
    resource = resolve(target) if target else None
    if resource is None:
        title = _string(reference.get("display")) or gettext("Not included in this document")
        return Row(ItemSummary(title=title, status=None, date=None), "")
    summary = summarize(resource, resolve)
    # "2024-04-10T09:58:00+00:00" → "2024-04-10 09:58:00+00:00": the column can wrap it after the date.
    date = FHIR_DATE_TIME.sub(r"\1 \2", summary.date) if summary.date else ""
    return Row(summary, date)


def _sections(holder: Mapping[str, Any], resolve: Resolver, level: int = 2) -> Iterator[PdfSection]:
    for section in mappings_of(holder.get("section")):
        rows = [_row(reference, resolve) for reference in mappings_of(section.get("entry"))]
        yield PdfSection(
            title=_section_title(section),
            level=level,
            rows=rows,
            empty_text="" if rows else _empty_text(section),
        )
        if level - 1 < MAX_SECTION_DEPTH:
            yield from _sections(section, resolve, level + 1)


def css_string(text: str) -> str:
    """A CSS string literal; everything but letters, digits and spaces as a hex escape (no "</style>")."""
    return '"' + "".join(c if c.isalnum() or c == " " else f"\\{ord(c):x} " for c in text) + '"'


def page_counter_css() -> SafeString:
    """The content of the page number margin box, "Page N of M" in the active language."""
    words = gettext("Page %(page)s of %(pages)s")
    parts = []
    for piece in re.split(r"(%\(pages?\)s)", words):
        if piece == "%(page)s":
            parts.append("counter(page)")
        elif piece == "%(pages)s":
            parts.append("counter(pages)")
        elif piece:
            parts.append(css_string(piece.replace("%%", "%")))
    # Built from escaped pieces and counter() calls only, so it may sit in the template's <style>.
    return mark_safe(" ".join(parts) or "counter(page)")  # noqa: S308


# ---------------------------------------------------------------------------- the document


def summary_context(
    bundle: Mapping[str, Any], *, generated_at: datetime, sources: list[str]
) -> dict[str, Any]:
    """What the summary template shows, its words translated into the active language.

    Tolerant like the record page: a bundle without a Composition or Patient gives an empty header or
    no sections, never an error.
    """
    resolve = bundle_resolver(bundle)
    composition = next(_resources(bundle, "Composition"), {})
    patient = _patient(composition, bundle, resolve)
    name = _human_name(patient)
    return {
        "patient_name": name,
        "birth_date": _string(patient.get("birthDate")) or "",
        "identifiers": _identifiers(patient),
        "generated_at": generated_at,
        "sources": [text for source in sources if (text := _string(source))],
        "sections": list(_sections(composition, resolve)),
        "stylesheet_url": static_url(STYLESHEET),
        "page_counter": page_counter_css(),
        # The patient's name atop every page: escaped into a CSS string, so upstream text stays text.
        "page_header": mark_safe(css_string(name) if name else "none"),  # noqa: S308
    }


def summary_html(
    bundle: Mapping[str, Any], *, language: str, generated_at: datetime, sources: list[str]
) -> str:
    """The summary as HTML in ``language`` ("da", "en"), ready for ``render_pdf``."""
    with override(language):
        return render_to_string(TEMPLATE, summary_context(bundle, generated_at=generated_at, sources=sources))


def summary_pdf(
    bundle: Mapping[str, Any], *, language: str, generated_at: datetime, sources: list[str]
) -> bytes:
    """The PDF of an IPS document bundle in ``language``."""
    return render_pdf(summary_html(bundle, language=language, generated_at=generated_at, sources=sources))
