"""The IPS summary PDF: what it shows (read back with pdftotext), its languages, its page numbers, and that
it loads nothing but our own stylesheet: no local files, no network, no upstream markup."""

import base64
import copy
import http.server
import logging
import re
import struct
import subprocess
import threading
import zlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.utils.translation import override
from weasyprint import HTML

from core.fhir.summary import summarize
from core.fhir.terms import LOINC
from core.fhir.wording import FIXED_CODES
from core.ips.sections import SECTION_BY_KEY
from sharing.pdf import (
    EMPTY_REASONS,
    LIST_EMPTY_REASON,
    StaticOnlyFetcher,
    bundle_resolver,
    css_string,
    page_counter_css,
    render_pdf,
    static_url,
    summary_html,
    summary_pdf,
)
from tests.conftest import REPO, ips_example

GENERATED_AT = datetime(2025, 3, 4, 11, 30, tzinfo=UTC)
ALL_SECTIONS = "Bundle-bundle-ips-all-sections"
# The Danish section titles in locale/da/LC_MESSAGES/django.po.
DANISH_TITLES = {
    "Problems": "Helbredsproblemer",
    "Allergies and Intolerances": "Allergier og intolerancer",
    "Medication Summary": "Medicinoversigt",
    "Immunizations": "Vaccinationer",
}


def pdf_text(pdf: bytes) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()


def pdf_pages(text: str) -> list[str]:
    """pdftotext ends every page with a form feed."""
    return text.split("\f")[:-1]


def squeezed(text: str) -> str:
    """Text without whitespace: a cell alone on its lines reads the same however WeasyPrint wrapped it."""
    return "".join(text.split())


def image_count(pdf: bytes, tmp_path: Path) -> int:
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)
    listing = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, check=True, text=True)
    return len(listing.stdout.splitlines()) - 2  # a header line and a rule


def words(text: str) -> list[str]:
    """Words, split also after "/" and "-": WeasyPrint may break a line there ("mcg/" + "0.3 mL")."""
    return re.findall(r"[^\s/-]*[/-]|[^\s/-]+", text)


def missing_in_order(text: str, items: list[str]) -> list[str]:
    """The items whose words are not found in the text in order, each after the previous item found.

    pdftotext -layout puts the lines of a wrapped table cell between the other columns' text, so an item
    is matched as a subsequence of the words rather than as one string. Items are consumed in document
    order: an item listed twice needs two rows.
    """
    found = words(text)
    position = 0
    missing = []
    for item in items:
        at = position
        for word in words(item):
            try:
                at = found.index(word, at) + 1
            except ValueError:
                missing.append(item)
                break
        else:
            position = at
    return missing


def concept_words(concept: Mapping[str, Any]) -> str:
    """What a coded field says: its text, else its first coding's display (as the IG's examples have)."""
    return concept.get("text") or concept["coding"][0]["display"]


def section_items(bundle: dict[str, Any], key: str) -> list[str]:
    """The names of the items of one section of the bundle's Composition, from their codes."""
    by_reference = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        by_reference[f"{resource['resourceType']}/{resource['id']}"] = resource
    composition = bundle["entry"][0]["resource"]
    (section,) = [
        s for s in composition["section"] if s["code"]["coding"][0]["code"] == SECTION_BY_KEY[key].loinc
    ]
    names = []
    for reference in section["entry"]:
        resource = by_reference[reference["reference"]]
        field = {"MedicationStatement": "medicationCodeableConcept", "Immunization": "vaccineCode"}.get(
            resource["resourceType"], "code"
        )
        names.append(concept_words(resource[field]))
    return names


def document(*sections: tuple[str, list[dict[str, Any]]], **section_extra: Any) -> dict[str, Any]:
    """A small IPS document: a patient and the given (section key, resources), with relative references."""
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "name": [{"family": "Testesen", "given": ["Tove"]}],
        "birthDate": "1970-01-02",
    }
    entries: list[dict[str, Any]] = [patient]
    composition_sections = []
    for key, resources in sections:
        section: dict[str, Any] = {
            "title": key,
            "code": {"coding": [{"system": LOINC, "code": SECTION_BY_KEY[key].loinc}]},
            "entry": [{"reference": f"{r['resourceType']}/{r['id']}"} for r in resources],
        }
        section.update(section_extra.get(key, {}))
        composition_sections.append(section)
        entries += resources
    composition = {
        "resourceType": "Composition",
        "id": "c1",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "section": composition_sections,
    }
    return {
        "resourceType": "Bundle",
        "type": "document",
        "entry": [
            {"fullUrl": f"https://fhir.example.org/{r['resourceType']}/{r['id']}", "resource": r}
            for r in [composition, *entries]
        ],
    }


def condition(resource_id: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": resource_id, "code": {"text": name}, **extra}


# ---------------------------------------------------------------------------- the all-sections example


def test_all_sections_example_shows_the_patient_and_every_item() -> None:
    bundle = ips_example(ALL_SECTIONS)
    patient = bundle["entry"][1]["resource"]
    text = pdf_text(summary_pdf(bundle, language="en", generated_at=GENERATED_AT, sources=["Sandbox"]))

    name = patient["name"][0]
    assert f"{name['given'][0]} {name['family']}" in text
    assert patient["birthDate"] == "1956-09-30"
    assert "Sept. 30, 1956" in text  # in the language's date format, never as ISO
    assert patient["identifier"][0]["value"] in text
    assert "March 4, 2025, 12:30 p.m." in text  # the generation time, in the portal's time zone (Copenhagen)
    assert "Sandbox" in text
    items = {
        key: section_items(bundle, key) for key in ("allergies", "problems", "medications", "immunizations")
    }
    assert len(items["immunizations"]) == 8  # the example's, so the test covers repeated vaccines
    for key, names in items.items():
        assert SECTION_BY_KEY[key].title in text
        assert missing_in_order(text, names) == [], key
    pages = pdf_pages(text)
    assert f"Page 1 of {len(pages)}" in pages[0]


def test_a_dropped_item_is_noticed() -> None:
    """The check above fails when the PDF lacks an item, even one whose name another row repeats."""
    bundle = ips_example(ALL_SECTIONS)
    expected = {key: section_items(bundle, key) for key in ("problems", "medications", "immunizations")}
    dropped = copy.deepcopy(bundle)
    for section in dropped["entry"][0]["resource"]["section"]:
        code = section["code"]["coding"][0]["code"]
        if code in {SECTION_BY_KEY[key].loinc for key in expected}:
            section["entry"].pop()  # the last: for immunizations, the fourth of the same COVID-19 vaccine
    dropped_names = [names[-1] for names in expected.values()]
    text = pdf_text(summary_pdf(dropped, language="en", generated_at=GENERATED_AT, sources=[]))
    assert [m for names in expected.values() for m in missing_in_order(text, names)] == dropped_names


def test_danish_pdf_has_danish_titles_and_page_numbers() -> None:
    """Needs the compiled catalogue (locale/da/LC_MESSAGES/django.mo, `make messages`)."""
    bundle = ips_example(ALL_SECTIONS)
    text = pdf_text(summary_pdf(bundle, language="da", generated_at=GENERATED_AT, sources=[]))
    for english, danish in DANISH_TITLES.items():
        assert danish in text
        assert english not in text
    assert "Navn" in text
    assert "Side 1 af" in text


@pytest.mark.parametrize(
    ("language", "title"), [("en", "International Patient Summary"), ("da", "Internationalt patientresumé")]
)
def test_the_pdf_is_tagged_for_screen_readers_with_its_language_and_title(
    tmp_path: Path, language: str, title: str
) -> None:
    pdf = tmp_path / "summary.pdf"
    pdf.write_bytes(
        summary_pdf(ips_example(ALL_SECTIONS), language=language, generated_at=GENERATED_AT, sources=[])
    )
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, check=True, text=True).stdout
    fields = {
        key.strip(): value.strip() for key, _, value in (line.partition(":") for line in info.splitlines())
    }
    assert fields["Tagged"] == "yes"
    assert fields["Title"].startswith(title)
    # The document's language, in its catalogue (which may sit in a compressed object stream).
    assert f"/Lang ({language})".encode() in pdf_objects(pdf.read_bytes())


def pdf_objects(pdf: bytes) -> bytes:
    """The PDF's bytes with every Flate stream decompressed after it, to search its objects."""
    parts = [pdf]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.DOTALL):
        try:
            parts.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"\n".join(parts)


def test_summary_html_holds_no_upstream_markup_and_links_our_stylesheet() -> None:
    bundle = ips_example(ALL_SECTIONS)
    html = summary_html(bundle, language="en", generated_at=GENERATED_AT, sources=[])
    assert "Generated Narrative" not in html  # the example's text.div headers
    assert 'xmlns="http://www.w3.org/1999/xhtml"' not in html
    assert f'href="{static_url("css/summary-pdf.css")}"' in html
    assert html.count("<img") == 0


# ---------------------------------------------------------------------------- sections, references, words


def test_empty_reasons_and_unresolved_entries_are_worded() -> None:
    keys = ("problems", "allergies", "medications", "immunizations", "results", "procedures", "devices")
    reasons: list[dict[str, Any]] = [
        {"coding": [{"system": LIST_EMPTY_REASON, "code": code}]} for code in EMPTY_REASONS
    ]
    reasons.append({"text": "Asked the GP"})  # a code the portal does not word: the source's text
    sections: dict[str, dict[str, Any]] = {
        key: {"emptyReason": reason} for key, reason in zip(keys, reasons, strict=True)
    }
    sections["vital_signs"] = {"entry": [{"reference": "Observation/elsewhere", "display": "Pulse"}]}
    sections["plan_of_care"] = {"entry": [{"reference": "CarePlan/elsewhere"}]}
    bundle = document(*((key, []) for key in sections), **sections)
    html = summary_html(bundle, language="en", generated_at=GENERATED_AT, sources=[])
    for worded in [*EMPTY_REASONS.values(), "Asked the GP", "Pulse", "Not included in this document"]:
        assert worded in html
    assert html.count('<table class="items">') == 2  # the unresolved entries' rows; no empty table anywhere


def test_bundle_resolver_finds_full_urls_and_relative_references() -> None:
    bundle = document(("problems", [condition("x1", "Asthma")]))
    resolve = bundle_resolver(bundle)
    by_full_url = resolve("https://fhir.example.org/Condition/x1")
    assert by_full_url is not None
    assert by_full_url["id"] == "x1"
    assert resolve("Condition/x1") is by_full_url
    assert resolve("Condition/x1/_history/3") is by_full_url
    assert resolve("Condition/nope") is None


def test_page_numbers_are_css_built_from_the_translation() -> None:
    with override("en"):
        assert page_counter_css() == '"Page " counter(page) " of " counter(pages)'
    # A translation with quotes or markup stays one CSS string: no way out of the string or the <style>.
    literal = css_string('Næste "side" </style><script>')
    assert literal.startswith('"Næste ')
    assert literal.endswith('"')
    assert not set('<>"/') & set(literal[1:-1])


# ---------------------------------------------------------------------------- nothing fetched but our own


def png_pixel() -> bytes:
    """A valid 1x1 PNG, made by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8 bits, RGB
    pixels = zlib.compress(b"\x00\xff\xd2\x00")  # filter byte, then one yellow pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


class CountingServer(http.server.ThreadingHTTPServer):
    hits: list[str]


class CountingHandler(http.server.BaseHTTPRequestHandler):
    server: CountingServer

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        css = self.path.endswith(".css")
        body = b"body { color: red }" if css else png_pixel()
        self.send_response(200)
        self.send_header("Content-Type", "text/css" if css else "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[CountingServer]:
    """A real HTTP server on 127.0.0.1 that counts every request and serves a PNG or CSS."""
    httpd = CountingServer(("127.0.0.1", 0), CountingHandler)
    httpd.hits = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def server_url(httpd: CountingServer) -> str:
    host, port = httpd.server_address[:2]
    return f"http://{host!s}:{port}"


def test_upstream_markup_and_urls_stay_text(server: CountingServer, tmp_path: Path) -> None:
    local = server_url(server)
    hostile = condition(
        "h1",
        f'<img src="{local}/text.png"> <img src="file:///etc/passwd">',
        text={
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">NARRATIVE <img src="file:///etc/passwd">'
            f'<img src="{local}/div.png"><link rel="stylesheet" href="{local}/div.css"></div>',
        },
    )
    bundle = document(("problems", [hostile, condition("h2", "Asthma")]))
    pdf = summary_pdf(bundle, language="en", generated_at=GENERATED_AT, sources=[])
    text = pdf_text(pdf)
    assert server.hits == []
    assert image_count(pdf, tmp_path) == 0
    assert squeezed(f'<img src="{local}/text.png"> <img src="file:///etc/passwd">') in squeezed(text)
    assert "NARRATIVE" not in text
    assert "Asthma" in text


def test_render_pdf_loads_no_file_and_no_url(
    server: CountingServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    local = server_url(server)
    pixel = tmp_path / "pixel.png"
    pixel.write_bytes(png_pixel())
    hostile = f"""<!DOCTYPE html><html><head>
      <link rel="stylesheet" href="{local}/link.css">
      <style>
        @import url("{local}/import.css");
        @font-face {{ font-family: Remote; src: url("{local}/font.woff2"); }}
        body {{ font-family: Remote; background: url("{local}/background.png"); }}
        p {{ background: url("file://{pixel}"); }}
      </style></head><body>
      <p>text</p>
      <img src="file://{pixel}">
      <img src="{local}/img.png?cpr=0101901234">
      <img src="0101901234.png">
      <img src="data:image/png;base64,{base64.b64encode(png_pixel()).decode()}">
      <img src="{static_url("../../portal/settings.py")}">
      <svg width="10" height="10"><image href="{local}/svg.png" width="10" height="10"/></svg>
      <object data="{local}/object.png"></object><embed src="{local}/embed.png">
      <a rel="attachment" href="{local}/attachment.txt">attachment</a>
      </body></html>"""
    # A <base> pointing at the server makes relative URLs absolute ones to it: refused just the same.
    based = (
        f'<!DOCTYPE html><html><head><base href="{local}/"></head><body><img src="pixel.png"></body></html>'
    )
    with caplog.at_level(logging.INFO):
        pdfs = [render_pdf(hostile), render_pdf(based)]
    assert server.hits == []
    # WeasyPrint logs what it failed to load; the log keeps the scheme only.
    messages = [record.getMessage() for record in caplog.records]
    assert "Failed to load image at '<relative URL>'" in "\n".join(messages)
    assert not [message for message in messages if "0101901234" in message or local in message]
    assert [image_count(pdf, tmp_path) for pdf in pdfs] == [0, 0]

    # The controls: WeasyPrint's own fetcher loads both the file and the URL, and the checks see it.
    control = HTML(string=f'<img src="file://{pixel}"><img src="{local}/img.png">').write_pdf()
    assert server.hits == ["/img.png"]
    assert image_count(control, tmp_path) == 2


def test_fetcher_serves_our_stylesheet() -> None:
    response = StaticOnlyFetcher().fetch(static_url("css/summary-pdf.css"))
    assert response.read() == (REPO / "static" / "css" / "summary-pdf.css").read_bytes()
    assert response.content_type == "text/css"


def test_the_stylesheet_is_applied(tmp_path: Path) -> None:
    """WeasyPrint's default font is a serif; the stylesheet asks for DejaVu Sans."""
    bundle = document(("problems", [condition("x1", "Asthma")]))
    path = tmp_path / "summary.pdf"
    path.write_bytes(summary_pdf(bundle, language="en", generated_at=GENERATED_AT, sources=[]))
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, text=True).stdout
    assert "DejaVu-Sans" in fonts
    assert "Serif" not in fonts


@pytest.mark.parametrize(
    "url",
    [
        static_url("../../portal/settings.py"),
        static_url("css/../../portal/settings.py"),
        static_url("css/../portal.css"),
        static_url("/etc/passwd"),
        static_url("%2e%2e/portal/settings.py"),
        static_url("css\\..\\summary-pdf.css"),
        static_url("css/summary-pdf.css?x=1"),
        static_url("css/nothing-here.css"),
        static_url("js/job-progress.js"),  # ours, but not a kind of file a summary needs
        "PORTAL-STATIC:css/summary-pdf.css",
        "css/summary-pdf.css",
        "/static/css/summary-pdf.css",
        "file:///etc/passwd",
        "http://127.0.0.1:1/x.css",
        "https://portal.invalid/static/css/summary-pdf.css",
        "data:text/css,body%7Bcolor:red%7D",
        "ftp://example.org/x.css",
    ],
)
def test_fetcher_refuses(url: str) -> None:
    with pytest.raises(ValueError, match="refused"):
        StaticOnlyFetcher().fetch(url)


def test_a_refusal_is_logged_with_the_scheme_only(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="sharing.pdf"), pytest.raises(ValueError, match="refused"):
        StaticOnlyFetcher().fetch("https://tracker.example.org/pixel.png?cpr=0101901234")
    (record,) = [r for r in caplog.records if r.name == "sharing.pdf"]
    assert record.levelno == logging.INFO
    assert "https" in record.getMessage()
    assert "tracker" not in record.getMessage()
    assert "0101901234" not in record.getMessage()


# ---------------------------------------------------------------------------- hostile text, long documents


def test_hostile_text_is_shown_as_text() -> None:
    script = "<script>alert(1)</script></td></tr></table><h1>"
    bundle = document(("problems", [condition("s1", script), condition("s2", "Asthma after")]))
    # The name also goes into a CSS string (the page header): it must not end the string or the <style>.
    bundle["entry"][1]["resource"]["name"] = [{"text": 'Eve "} </style><b>'}]
    html = summary_html(bundle, language="en", generated_at=GENERATED_AT, sources=["<b>Source</b>"])
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    text = pdf_text(summary_pdf(bundle, language="en", generated_at=GENERATED_AT, sources=["<b>Source</b>"]))
    assert squeezed(script) in squeezed(text)
    assert "<b>Source</b>" in text
    assert "&lt;" not in text
    assert "Asthma after" in text
    assert text.count('Eve "} </style><b>') == 2  # the page header and the patient table


def test_long_document_numbers_every_page() -> None:
    observations = [
        {
            "resourceType": "Observation",
            "id": f"o{i}",
            "status": "final",
            "code": {"text": f"Measurement {i:03d}"},
            "effectiveDateTime": "2024-01-01",
            "valueQuantity": {"value": i, "unit": "mmol/L"},
        }
        for i in range(1, 301)
    ]
    bundle = document(("results", observations))
    text = pdf_text(summary_pdf(bundle, language="en", generated_at=GENERATED_AT, sources=[]))
    pages = pdf_pages(text)
    assert len(pages) > 1
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page
    assert missing_in_order(text, [f"Measurement {i:03d}" for i in range(1, 301)]) == []


# ---------------------------------------------------------------------------- safety first, in the language

IMPORTANT_KEYS = ("allergies", "alerts", "advance_directives")
ENGLISH_STATUS_WORDS = {msgid for codes in FIXED_CODES.values() for msgid in codes.values()}
ISO_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d|\b)|\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2})")


def section_resources(bundle: dict[str, Any], key: str) -> list[Mapping[str, Any]]:
    resolve = bundle_resolver(bundle)
    composition = bundle["entry"][0]["resource"]
    (section,) = [
        s for s in composition["section"] if s["code"]["coding"][0]["code"] == SECTION_BY_KEY[key].loinc
    ]
    return [resource for reference in section["entry"] if (resource := resolve(reference["reference"]))]


def measurements(bundle: dict[str, Any]) -> list[tuple[str, str]]:
    """(value, unit) of every Observation's quantity in the bundle, as the source wrote the number."""
    found = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        quantities = [resource.get("valueQuantity")] + [
            c.get("valueQuantity") for c in resource.get("component", [])
        ]
        for quantity in quantities:
            if resource["resourceType"] == "Observation" and quantity and "." in str(quantity["value"]):
                found.append((str(quantity["value"]), quantity["unit"]))
    return found


def test_the_important_panel_comes_first_with_every_allergy_alert_and_directive() -> None:
    bundle = ips_example(ALL_SECTIONS)
    important = [summarize(r).title for key in IMPORTANT_KEYS for r in section_resources(bundle, key)]
    assert len(important) == 3  # penicillin, the shellfish alert, do not resuscitate
    text = pdf_text(summary_pdf(bundle, language="en", generated_at=GENERATED_AT, sources=[]))

    panel_start = text.index("Important")
    assert missing_in_order(text[panel_start:], important) == []
    # Every item of the panel comes before the first line of any other section.
    others = [
        SECTION_BY_KEY[key].title
        for key in SECTION_BY_KEY
        if key not in IMPORTANT_KEYS and SECTION_BY_KEY[key].title in text
    ]
    assert others, "the example has other sections"
    first_other = min(text.index(title) for title in others)
    for title in important:
        assert panel_start < text.index(title.split()[0]) < first_other, title
    # Each with its status and date, worded.
    panel = text[panel_start:first_other]
    assert panel.count("Active") == 3
    assert "Sept. 1, 2021" in panel  # the advance directive's date
    assert text.index("Date of birth") < panel_start  # after the patient header, before everything else


def test_danish_pdf_has_no_english_status_no_iso_timestamp_and_no_decimal_point() -> None:
    """Needs the compiled catalogue with the "record value" msgids (locale/da, `make messages`)."""
    bundle = ips_example(ALL_SECTIONS)
    text = pdf_text(summary_pdf(bundle, language="da", generated_at=GENERATED_AT, sources=[]))

    english = {
        word for word in ENGLISH_STATUS_WORDS if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text)
    }
    assert not english, english
    assert {"Aktiv", "Stoppet", "Afsluttet", "Endelig"} <= set(text.split())
    assert not ISO_TIMESTAMP.search(text), ISO_TIMESTAMP.search(text)
    assert "30. september 1956" in text  # the birth date
    assert "4. marts 2025 12:30" in text  # when it was made, in Copenhagen time
    assert "31. oktober 2023" in text
    found = measurements(bundle)
    assert ("91.5", "kg") in found
    for value, unit in found:
        assert f"{value.replace('.', ',')} {unit}" in text
        assert f"{value} {unit}" not in text
    # The Important panel is first here too, in Danish.
    assert text.index("Vigtigt") < text.index("Helbredsproblemer")
