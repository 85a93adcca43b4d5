"""The PDF of an IPS document: a readable, printable summary of the bundle, rendered with WeasyPrint.

``summary_pdf`` turns an IPS 2.0.0 document bundle into a PDF in the citizen's language: a patient header,
when it was made and from which sources, the Important panel (every allergy and intolerance, alert and
advance directive, with its status and date, as atop the record page), then each Composition section in
the document's order with its entries as a table (item, status, date, details). The words come from
``core.fhir.summary.summarize`` with the page's wording (structured fields only, the same lines, statuses,
dates and numbers as the record page) and the section table's translated titles.
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
from collections.abc import Iterator, Mapping
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

from core.fhir.document import (
    Resolver,
    bundle_resolver,
    document_composition,
    document_patient,
    human_name,
    patient_identifiers,
    reference_of,
)
from core.fhir.read import codes_of, mappings_of, text_of
from core.fhir.summary import ItemSummary, concept_text, summarize
from core.fhir.terms import LIST_EMPTY_REASON, LOINC
from core.fhir.wording import Wording
from core.ips.sections import SECTION_BY_LOINC
from portal.records.selectors import IMPORTANT_SECTIONS, page_wording

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

# Composition.section.emptyReason (ValueSet list-empty-reason, extensible), in the portal's own words.
EMPTY_REASONS: Final[Mapping[str, str]] = {
    "nilknown": gettext_noop("None known."),
    "notasked": gettext_noop("Not asked: nobody has checked yet."),
    "withheld": gettext_noop("Withheld: the information is not shared."),
    "unavailable": gettext_noop("Unavailable: the information could not be obtained."),
    "notstarted": gettext_noop("Not started: the list has not been filled in yet."),
    "closed": gettext_noop("Closed: the list is no longer kept up to date."),
}
MAX_SECTION_DEPTH: Final = 3  # nested sections deeper than this are not shown
MAX_TEXT: Final = 300


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


PDF_VARIANT = "pdf/ua-1"


def render_pdf(html: str) -> bytes:
    """The PDF of an HTML document whose only outside resources are our own static files."""
    document = HTML(string=html, base_url=BASE_URL, url_fetcher=StaticOnlyFetcher())
    # PDF/UA: tagged, so a screen reader reads it in order, with the document's language and title
    # (from <html lang> and <title>).
    pdf: bytes = document.write_pdf(pdf_variant=PDF_VARIANT)
    return pdf


# ---------------------------------------------------------------------------- the bundle, read tolerantly


@dataclass(frozen=True)
class Row:
    """One entry of a section: what ``summarize`` reads, or only a title when it is not in the bundle."""

    summary: ItemSummary
    date: str
    sources: str = ""  # the sources that hold it, as the document's Provenance names them
    disagreement: str = ""  # what those sources disagree on, in words (BuiltDocument.disagreements)


@dataclass(frozen=True)
class PdfSection:
    title: str
    level: int  # 2 for a Composition section, 3 and more for nested ones
    rows: list[Row]
    empty_text: str  # shown instead of a table when there are no rows
    left_out: int = 0  # entries of a very large record this PDF does not show (the JSON holds them)
    key: str = ""  # the IPS section's key ("allergies"), for a Composition section the portal knows
    # Its items come from more than one source: each row then says which.
    several_sources: bool = False


@dataclass(frozen=True)
class ImportantRow:
    section_title: str
    row: Row


def _section_key(section: Mapping[str, Any]) -> str | None:
    for code in sorted(codes_of(section.get("code"), LOINC, or_no_system=True)):
        if code in SECTION_BY_LOINC:
            return SECTION_BY_LOINC[code].key
    return None


def _section_title(section: Mapping[str, Any]) -> str:
    for code in sorted(codes_of(section.get("code"), LOINC, or_no_system=True)):
        known = SECTION_BY_LOINC.get(code)
        if known is not None:
            return gettext(known.title)
    return (
        text_of(section.get("title"), MAX_TEXT)
        or concept_text(section.get("code"))
        or gettext("Untitled section")
    )


def _empty_text(section: Mapping[str, Any]) -> str:
    reason = section.get("emptyReason")
    for code in sorted(codes_of(reason, LIST_EMPTY_REASON, or_no_system=True)):
        if code in EMPTY_REASONS:
            return gettext(EMPTY_REASONS[code])
    return concept_text(reason) or gettext("No structured entries in this section.")


def item_sources(bundle: Mapping[str, Any], resolve: Resolver) -> dict[str, list[str]]:
    """Entry fullUrl → the names of the sources that hold it: each Provenance's targets, its agent's name."""
    found: dict[str, list[str]] = {}
    for entry in mappings_of(bundle.get("entry")):
        provenance = entry.get("resource")
        if not isinstance(provenance, Mapping) or provenance.get("resourceType") != "Provenance":
            continue
        names = []
        for agent in mappings_of(provenance.get("agent")):
            who = agent.get("who")
            target = reference_of(who) if isinstance(who, Mapping) else None
            organization = resolve(target) if target else None
            name = text_of(organization.get("name"), MAX_TEXT) if organization else ""
            if name:
                names.append(name)
        for target_reference in mappings_of(provenance.get("target")):
            url = reference_of(target_reference)
            if url:
                found.setdefault(url, []).extend(n for n in names if n not in found.get(url, []))
    return found


def _row(
    reference: Mapping[str, Any],
    resolve: Resolver,
    wording: Wording,
    sources: Mapping[str, list[str]],
    disagreements: Mapping[str, str],
) -> Row:
    target = reference_of(reference)
    resource = resolve(target) if target else None
    if resource is None:
        title = text_of(reference.get("display"), MAX_TEXT) or gettext("Not included in this document")
        return Row(ItemSummary(title=title, status=None, date=None), "")
    summary = summarize(resource, resolve, wording)
    return Row(
        summary,
        summary.date or "",
        ", ".join(sources.get(target or "", [])),
        disagreements.get(target or "", ""),
    )


def _sections(
    holder: Mapping[str, Any],
    resolve: Resolver,
    left_out: Mapping[str, int],
    wording: Wording,
    sources: Mapping[str, list[str]],
    disagreements: Mapping[str, str],
    level: int = 2,
) -> Iterator[PdfSection]:
    for section in mappings_of(holder.get("section")):
        rows = [
            _row(reference, resolve, wording, sources, disagreements)
            for reference in mappings_of(section.get("entry"))
        ]
        row_sources = {row.sources for row in rows}
        key = _section_key(section) if level == 2 else None
        yield PdfSection(
            title=_section_title(section),
            level=level,
            rows=rows,
            empty_text="" if rows else _empty_text(section),
            left_out=left_out.get(key, 0) if key else 0,
            key=key or "",
            several_sources=len(row_sources) > 1 or any(", " in text for text in row_sources),
        )
        if level - 1 < MAX_SECTION_DEPTH:
            yield from _sections(section, resolve, {}, wording, sources, disagreements, level + 1)


def important_rows(sections: list[PdfSection]) -> list[ImportantRow]:
    """What the PDF shows first, as the record page does: every entry of the allergies, alerts and advance
    directives sections (in that order), each with its section's name."""
    return [
        ImportantRow(section_title=section.title, row=row)
        for key in IMPORTANT_SECTIONS
        for section in sections
        if section.key == key
        for row in section.rows
    ]


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
    bundle: Mapping[str, Any],
    *,
    generated_at: datetime,
    sources: list[str],
    shown_of_total: tuple[int, int] | None = None,
    left_out: Mapping[str, int] | None = None,
    disagreements: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What the summary template shows, its words translated into the active language.

    Tolerant like the record page: a bundle without a Composition or Patient gives an empty header or
    no sections, never an error. ``shown_of_total``: the bundle is a shortened summary of a very large
    record, holding that many of the record's entries; ``left_out``: entries not shown, by section key.
    """
    resolve = bundle_resolver(bundle)
    composition = document_composition(bundle)
    patient = document_patient(bundle, resolve)
    name = human_name(patient)
    wording = page_wording()
    birth_date = text_of(patient.get("birthDate"), MAX_TEXT) or ""
    sections = list(
        _sections(
            composition, resolve, left_out or {}, wording, item_sources(bundle, resolve), disagreements or {}
        )
    )
    return {
        "patient_name": name,
        "birth_date": wording.date_text(birth_date) if birth_date else "",
        "identifiers": patient_identifiers(patient),
        "generated_at": generated_at,
        "sources": [text for source in sources if (text := text_of(source, MAX_TEXT))],
        "important": important_rows(sections),
        "sections": sections,
        "shortened": (
            {"shown": shown_of_total[0], "total": shown_of_total[1]} if shown_of_total is not None else None
        ),
        "stylesheet_url": static_url(STYLESHEET),
        "page_counter": page_counter_css(),
        # The patient's name atop every page: escaped into a CSS string, so upstream text stays text.
        "page_header": mark_safe(css_string(name) if name else "none"),  # noqa: S308
    }


def summary_html(
    bundle: Mapping[str, Any],
    *,
    language: str,
    generated_at: datetime,
    sources: list[str],
    shown_of_total: tuple[int, int] | None = None,
    left_out: Mapping[str, int] | None = None,
    disagreements: Mapping[str, str] | None = None,
) -> str:
    """The summary as HTML in ``language`` ("da", "en"), ready for ``render_pdf``."""
    with override(language):
        context = summary_context(
            bundle,
            generated_at=generated_at,
            sources=sources,
            shown_of_total=shown_of_total,
            left_out=left_out,
            disagreements=disagreements,
        )
        return render_to_string(TEMPLATE, context)


def summary_pdf(
    bundle: Mapping[str, Any],
    *,
    language: str,
    generated_at: datetime,
    sources: list[str],
    shown_of_total: tuple[int, int] | None = None,
    left_out: Mapping[str, int] | None = None,
    disagreements: Mapping[str, str] | None = None,
) -> bytes:
    """The PDF of an IPS document bundle in ``language``; see ``summary_context`` for a shortened one."""
    return render_pdf(
        summary_html(
            bundle,
            language=language,
            generated_at=generated_at,
            sources=sources,
            shown_of_total=shown_of_total,
            left_out=left_out,
            disagreements=disagreements,
        )
    )
