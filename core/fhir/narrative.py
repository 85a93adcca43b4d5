"""Upstream FHIR narrative (XHTML) made safe to show inside the portal's pages. Pure: no Django.

FHIR R4 narrative (https://hl7.org/fhir/R4/narrative.html#xhtml) is limited to basic HTML formatting: no
head or body, scripts, styles, forms, frames, objects, base/link/meta or event attributes. Upstream servers
do not always keep to that, so ``sanitize_narrative`` rebuilds the markup from an allow-list with nh3
(the Rust ammonia sanitizer, which parses like a browser and re-serialises) and its result may be marked
safe in a template. The choices beyond the FHIR rules:

- no ``id``, ``name``, ``class`` or ``style`` attributes: ids could clash with the page's own, classes
  could borrow the page's styling, and inline CSS can load URLs or cover the page;
- links keep only ``http``, ``https`` and ``mailto`` targets and always get
  ``rel="noopener noreferrer nofollow"``; relative links (which would point into the portal) are dropped;
- images show only when embedded as ``data:image/png|jpeg|gif|webp;base64``; any other source is dropped,
  so a narrative can never make the browser fetch an outside image (a tracking pixel telling its author
  who read the record and when) or a URL on the portal itself;
- the root ``<div xmlns="http://www.w3.org/1999/xhtml">`` is unwrapped: the result is a fragment;
- a narrative longer than ``MAX_NARRATIVE_CHARS`` or with more than ``MAX_NARRATIVE_TAGS`` tags is not shown
  at all: an HTML parser checks every new block element against the elements still open, so thousands of
  nested ``<div>`` cost time that grows with the square of their number (100,000 of them, 1.1 MB, keep
  a worker busy for half a minute), and no real narrative of one resource comes near either limit.

``readable_narrative`` is the same sanitising for a person reading their record: it also takes out what a
narrative *generator* (the FHIR IG publisher, HAPI) adds for developers: the "Generated Narrative: Condition
8039e4a7-…" heading, anchors, parts the generator hides with CSS (``display: none``, which the sanitiser would
otherwise make visible) and its code annotations; and it words the raw property names it uses as labels
("clinicalStatus", "ReferenceRanges") as "Clinical status", "Reference ranges". Its result passes through
the same allow-list last, so it is exactly as safe as ``sanitize_narrative``'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape
from html.parser import HTMLParser
from types import MappingProxyType
from typing import Final, TypeGuard

import nh3

# The elements of FHIR's XHTML rules (the fhir-xhtml schema's basic formatting set).
ALLOWED_TAGS: Final = frozenset(
    {
        "a", "abbr", "acronym", "address", "b", "bdo", "big", "blockquote", "br", "caption", "cite",
        "code", "col", "colgroup", "dd", "del", "dfn", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "q", "samp", "small", "span",
        "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "ul", "var",
    }
)  # fmt: skip

# Removed together with everything inside them (the rest of the disallowed elements keep their text).
DROPPED_WITH_CONTENT: Final = frozenset(
    {
        "script", "style", "template", "iframe", "frame", "frameset", "object", "embed", "applet",
        "noscript", "noembed", "noframes", "svg", "math", "form", "textarea", "select", "option",
        "button", "datalist", "title", "head", "xmp", "plaintext", "canvas", "audio", "video", "picture",
    }
)  # fmt: skip

_TABLE_CELL: Final = frozenset({"colspan", "rowspan", "headers", "abbr", "align", "valign"})
_ALIGN: Final = frozenset({"align", "valign"})
ALLOWED_ATTRIBUTES: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "*": frozenset({"title", "lang", "dir"}),
        "a": frozenset({"href"}),
        "img": frozenset({"src", "alt", "width", "height"}),
        "td": _TABLE_CELL,
        "th": _TABLE_CELL | {"scope"},
        "col": _ALIGN | {"span"},
        "colgroup": _ALIGN | {"span"},
        "tr": _ALIGN,
        "thead": _ALIGN,
        "tbody": _ALIGN,
        "tfoot": _ALIGN,
        "ol": frozenset({"start", "type"}),
        "li": frozenset({"value"}),
    }
)

# Limits of what is worth parsing (see above); ten thousand tags parse in a few hundredths of a second
# however they nest.
MAX_NARRATIVE_CHARS: Final = 1_000_000
MAX_NARRATIVE_TAGS: Final = 10_000

LINK_SCHEMES: Final = frozenset({"http", "https", "mailto"})
LINK_REL: Final = "noopener noreferrer nofollow"

_NUMBER_ATTRIBUTES: Final = frozenset({"colspan", "rowspan", "span", "start", "value", "width", "height"})
_ENUMERATED: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "dir": frozenset({"ltr", "rtl", "auto"}),
        "align": frozenset({"left", "center", "right", "justify", "char"}),
        "valign": frozenset({"top", "middle", "bottom", "baseline"}),
        "scope": frozenset({"row", "col", "rowgroup", "colgroup"}),
        "type": frozenset({"1", "a", "A", "i", "I"}),
    }
)
_NUMBER: Final = re.compile(r"[0-9]{1,4}")
_LANGUAGE_TAG: Final = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
_DATA_IMAGE: Final = re.compile(r"data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]+", re.IGNORECASE)
_SCHEME: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# Browsers ignore ASCII whitespace and control characters inside a URL's scheme ("java\tscript:").
_URL_IGNORED: Final = re.compile(r"[\x00-\x20\x7f]+")

# An XML declaration and a root <div …> … </div> around the whole narrative.
_XML_DECLARATION: Final = re.compile(r"\A\s*<\?xml[^>]*\?>", re.IGNORECASE)
_ROOT_DIV: Final = re.compile(r"\A\s*<div(?:\s[^>]*)?>(?P<body>.*)</div\s*>\s*\Z", re.IGNORECASE | re.DOTALL)
# XHTML's self-closed non-void elements (<td/>, <a name="x"/>): an HTML parser would leave them open.
# Possessive quantifiers and no "<" in names or bare values: the pattern never backtracks and a failed
# match ends at the next tag, so its cost stays linear (the plain form took minutes on 1 MB of "<a b b b").
_SELF_CLOSED: Final = re.compile(
    r"<(?P<name>[A-Za-z][A-Za-z0-9]*+)"
    r"(?P<attributes>(?:\s++[^\s=/<>\"']++(?:\s*+=\s*+(?:\"[^\"]*+\"|'[^']*+'|[^\s\"'<>]++))?+)*+)\s*+/>"
)
_VOID: Final = frozenset({"br", "hr", "img", "col", "area", "base", "embed", "input", "link", "meta", "wbr"})


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    """Keep an allowed attribute only when its value is one the portal is willing to show."""
    if attribute == "href":
        return _safe_link(value)
    if attribute == "src":
        return _safe_image(value) if tag == "img" else None
    if attribute in _NUMBER_ATTRIBUTES:
        number = value.strip()
        return number if _NUMBER.fullmatch(number) else None
    if attribute == "lang":
        language = value.strip()
        return language if _LANGUAGE_TAG.fullmatch(language) else None
    if attribute in _ENUMERATED:
        word = value.strip() if attribute == "type" else value.strip().lower()
        return word if word in _ENUMERATED[attribute] else None
    return value


def _safe_link(value: str) -> str | None:
    url = value.strip()
    if _URL_IGNORED.search(url):
        return None  # a browser would drop these characters and might read another scheme
    scheme = _SCHEME.match(url)
    if scheme is None or scheme.group(1).lower() not in LINK_SCHEMES:
        return None  # javascript:, data:, vbscript:, relative paths and everything else
    return url


def _safe_image(value: str) -> str | None:
    data = value.strip()
    return data if _DATA_IMAGE.fullmatch(data) else None


def _expand_self_closed(match: re.Match[str]) -> str:
    name = match.group("name")
    if name.lower() in _VOID:
        return match.group(0)
    return f"<{name}{match.group('attributes')}></{name}>"


def _prepare(xhtml: str) -> str:
    """Read XHTML as XHTML before an HTML parser sees it: no declaration, root div, self-closed tags."""
    text = _XML_DECLARATION.sub("", xhtml, count=1)
    root = _ROOT_DIV.match(text)
    if root is not None:
        text = root.group("body")
    return _SELF_CLOSED.sub(_expand_self_closed, text)


_CLEANER: Final = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(DROPPED_WITH_CONTENT),
    attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
    attribute_filter=_attribute_filter,
    strip_comments=True,
    link_rel=LINK_REL,
    url_schemes={*LINK_SCHEMES, "data"},  # data: only survives the filter above on <img src>
    url_relative="deny",
)


def within_limits(xhtml: object) -> TypeGuard[str]:
    """True for a non-blank string small enough to be parsed (``MAX_NARRATIVE_CHARS``, ``…_TAGS``)."""
    return (
        isinstance(xhtml, str)
        and len(xhtml) <= MAX_NARRATIVE_CHARS
        and xhtml.count("<") <= MAX_NARRATIVE_TAGS
        and bool(xhtml.strip())
    )


def sanitize_narrative(xhtml: str) -> str:
    """A safe HTML fragment with the narrative's text, tables, lists and links; "" for non-text input and
    for a narrative beyond the limits."""
    if not within_limits(xhtml):
        return ""
    return _CLEANER.clean(_prepare(xhtml)).strip()


# ---------------------------------------------------------------------------- for people reading their record

# A first pass keeps class and style as well, only to find the generator's parts; the last pass drops them.
_MARKING_CLEANER: Final = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(DROPPED_WITH_CONTENT),
    attributes={
        tag: set(names) | ({"class", "style"} if tag == "*" else set())
        for tag, names in ALLOWED_ATTRIBUTES.items()
    },
    attribute_filter=_attribute_filter,
    strip_comments=True,
    link_rel=None,
    url_schemes={*LINK_SCHEMES, "data"},
    url_relative="deny",
)
_GENERATED_MARKS: Final = ("Generated Narrative", "res-header-id")
_HIDDEN_STYLE: Final = re.compile(r"display\s*:\s*none", re.IGNORECASE)
# The IG publisher's annotation of a coded value: '<span style="background: LightGoldenRodYellow">
# (Details: UCUM codemmol/L = 'mmol/L')</span>'.
_ANNOTATION_STYLE: Final = re.compile(r"background\s*:\s*LightGoldenRodYellow", re.IGNORECASE)
# A FHIR property or type name used as a label: "code", "clinicalStatus", "ReferenceRanges".
_PROPERTY_LABEL: Final = re.compile(
    r"<(?P<tag>b|strong|th|h[1-6])(?P<attributes>(?:\s[^<>]*)?)>"
    r"(?P<name>[A-Za-z][a-z0-9]+(?:[A-Z][a-z0-9]+)*)(?:\[x\])?</(?P=tag)>"
)
_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_EMPTY_PARAGRAPH: Final = re.compile(r"<p>\s*</p>")
# Paragraphs do not nest, so the first "</p>" ends the line; [^<]* and tags alternate without backtracking.
_PATIENT_LINE: Final = re.compile(r"<p><b>(?:subject|patient)</b>:(?:[^<]++|<(?!/p>))*+</p>")


class _GeneratedParts(HTMLParser):
    """Re-serialises well-formed markup (nh3's output) without the generator's parts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0  # depth inside an element dropped with its content
        self.open: list[bool] = []  # per open element: was its tag left out

    def _drops_content(self, attributes: dict[str, str | None]) -> bool:
        classes = (attributes.get("class") or "").split()
        style = attributes.get("style") or ""
        return (
            "res-header-id" in classes
            or bool(_HIDDEN_STYLE.search(style))
            or bool(_ANNOTATION_STYLE.search(style))
        )

    def _start(self, tag: str, attrs: list[tuple[str, str | None]]) -> str:
        kept = "".join(
            f' {name}="{escape(value or "", quote=True)}"'
            for name, value in attrs
            # The generator's tooltips list code systems and codes: for developers, not for the reader.
            if name not in {"class", "style"} and not (name == "title" and (value or "").startswith("Codes:"))
        )
        return f"<{tag}{kept}>"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            if not self.skipping:
                self.out.append(self._start(tag, attrs))
            return
        attributes = dict(attrs)
        if self.skipping or self._drops_content(attributes):
            self.skipping += 1
            return
        anchor = tag == "a" and "href" not in attributes  # a named anchor: a target for the generator's links
        self.open.append(anchor)
        if not anchor:
            self.out.append(self._start(tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.skipping and tag in _VOID:
            self.out.append(self._start(tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if self.skipping:
            self.skipping -= 1
            return
        if self.open and not self.open.pop():
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(escape(data, quote=False))


def _label_words(match: re.Match[str]) -> str:
    words = _CAMEL.sub(" ", match["name"]).lower()
    return f"<{match['tag']}{match['attributes']}>{words[:1].upper()}{words[1:]}</{match['tag']}>"


def readable_narrative(xhtml: str) -> str:
    """``sanitize_narrative`` for the record page: without a generator's boilerplate, its property names as
    words (see the module's docstring); "" where ``sanitize_narrative`` gives ""."""
    if not within_limits(xhtml):
        return ""
    if not any(mark in xhtml for mark in _GENERATED_MARKS):
        return sanitize_narrative(xhtml)
    parts = _GeneratedParts()
    parts.feed(_MARKING_CLEANER.clean(_prepare(xhtml)))
    parts.close()
    cleaned = _CLEANER.clean("".join(parts.out)).strip()
    # Empty paragraphs left where anchors stood; the line naming the patient (it is the reader's own
    # record, and the line repeats their identifier); then the labels in words.
    cleaned = _EMPTY_PARAGRAPH.sub("", cleaned)
    cleaned = _PATIENT_LINE.sub("", cleaned)
    return _PROPERTY_LABEL.sub(_label_words, cleaned).strip()
