"""Hostile upstream content through the real pull path (the scripted upstream, over HTTP).

The XSS corpus (tests/hostile_corpus.py) is stored whole and ends inert in every page the portal renders
from it and in the document it makes; JSON at or beyond the limits costs the entry that carries it, never
the pull, a page or a worker. (The same corpus in Chromium: tests/browser/test_hostile_pages.py.)
"""

import gzip
import html
import itertools
import json
import re
import time
import zlib
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from core.fhir import upstream as bundles
from core.fhir.narrative import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, LINK_REL, MAX_NARRATIVE_TAGS
from portal.accounts.models import User
from portal.jobs.models import Job, JobStatus
from portal.jobs.services import job_run
from portal.records import fhir_client, selectors
from portal.records.fhir_client import Timeouts, token_request
from portal.records.models import StoredResource
from sharing.exports.services import export_create
from tests.hostile_corpus import (
    NARRATIVE_VECTORS,
    AttackerServer,
    attacker_server,
    marked_numbers,
    marked_text,
    narrative_markers,
    serve_hostile_record,
)
from tests.records.conftest import link_identifier, make_source, pull_now
from tests.records.fake_upstream import PATIENT_ID, Answer, FakeUpstream, capability, condition

pytestmark = pytest.mark.django_db

# Every page of the portal built from a record, and how long one may take with the worst record here.
PAGES = ("/records/", "/exports/", "/shares/")
PAGE_SECONDS = 5.0
# Elements the upstream's content must never bring into a page (the pages have none of their own but
# scripts from our static files).
UNWANTED_ELEMENTS = frozenset({"iframe", "frame", "object", "embed", "svg", "math", "base", "style"})


@pytest.fixture
def attacker() -> Iterator[AttackerServer]:
    with attacker_server() as server:
        yield server


@pytest.fixture
def linked_citizen(citizen: User) -> User:
    return link_identifier(citizen)


class Markup(HTMLParser):
    """Every start tag with its attributes, and which of them sit inside a narrative body."""

    VOID = frozenset({"br", "hr", "img", "col", "input", "meta", "link", "area", "base", "wbr", "source"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.narrative_tags: list[tuple[str, dict[str, str | None]]] = []
        self._open: list[bool] = []  # per open element: inside a narrative body?

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        inside = bool(self._open) and self._open[-1]
        if inside:
            self.narrative_tags.append((tag, attributes))
        self.tags.append((tag, attributes))
        if tag not in self.VOID:
            self._open.append(inside or "narrative-body" in (attributes.get("class") or "").split())

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self._open:
            self._open.pop()


def read_markup(page: str) -> Markup:
    parser = Markup()
    parser.feed(page)
    parser.close()
    return parser


def assert_page_inert(page: str, attacker: str) -> Markup:
    """Nothing on the page runs or loads what the upstream sent: no script element, no handler, no inline
    style, no URL of the attacker and no script URL in any attribute."""
    markup = read_markup(page)
    for tag, attributes in markup.tags:
        assert tag not in UNWANTED_ELEMENTS, tag
        if tag == "script":
            assert (attributes.get("src") or "").startswith("/static/"), attributes
        if tag == "meta":
            assert "http-equiv" not in attributes
        for name, value in attributes.items():
            assert not name.startswith("on"), (tag, name)
            assert name not in ("style", "srcdoc", "formaction", "background", "ping", "srcset"), (tag, name)
            squeezed = re.sub(r"[\x00-\x20]", "", value or "").lower()
            assert attacker not in (value or ""), (tag, name, value)
            if name in ("href", "src", "action", "data"):
                assert not squeezed.startswith(("javascript:", "vbscript:", "data:")), (tag, name, value)
    return markup


def assert_narratives_in_allow_list(markup: Markup) -> None:
    assert markup.narrative_tags, "no narrative on the page"
    for tag, attributes in markup.narrative_tags:
        assert tag in ALLOWED_TAGS, tag
        allowed = ALLOWED_ATTRIBUTES["*"] | ALLOWED_ATTRIBUTES.get(tag, frozenset()) | {"rel"}
        assert set(attributes) <= allowed, (tag, attributes)
        if "href" in attributes:
            assert re.match(r"(https?|mailto):", attributes["href"] or ""), attributes
            assert attributes["rel"] == LINK_REL


def test_the_corpus_is_stored_whole_and_every_page_shows_it_as_text(
    fake_upstream: FakeUpstream, linked_citizen: User, citizen_client: Client, attacker: AttackerServer
) -> None:
    make_source(fake_upstream.base_url)
    expected = serve_hostile_record(fake_upstream, attacker.origin)

    job, pull = pull_now(linked_citizen)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    # Valid FHIR, all of it: kept and shown, never skipped (skipping would prove nothing).
    assert pull.skipped_invalid == 0, pull.warnings
    assert StoredResource.objects.filter(owner=linked_citizen).count() == expected

    response = citizen_client.get("/records/")
    assert response.status_code == 200
    # The second wall: a policy that would stop scripts and outside loads even if the sanitiser failed.
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "img-src 'self' data:" in policy
    assert "default-src 'self'" in policy
    page = response.content.decode()
    markup = assert_page_inert(page, attacker.origin)
    assert_narratives_in_allow_list(markup)
    for number, vector in enumerate(NARRATIVE_VECTORS, start=1):
        before, after = narrative_markers(number)
        assert f"{before} before" in page, vector.name
        if vector.keeps_rest:
            assert f"{after} after" in page, vector.name
    for number in marked_numbers():
        # Text fields exactly as sent, escaped once: not markup, not unescaped twice, not clipped.
        assert html.escape(marked_text(attacker.origin, number)) in page, number

    for path in PAGES[1:]:
        other = citizen_client.get(path)
        assert other.status_code == 200, path
        assert_page_inert(other.content.decode(), attacker.origin)
    assert html.escape(marked_text(attacker.origin, 1)) in citizen_client.get("/exports/").content.decode()
    assert attacker.hits == []


def test_the_document_made_from_the_corpus_carries_only_generated_escaped_narrative(
    fake_upstream: FakeUpstream, linked_citizen: User, attacker: AttackerServer
) -> None:
    make_source(fake_upstream.base_url)
    serve_hostile_record(fake_upstream, attacker.origin)
    pull_now(linked_citizen)

    export = export_create(owner=linked_citizen, export_format="json")
    job_run(job_id=export.job_id)
    job = Job.objects.get(id=export.job_id)
    assert job.status == JobStatus.SUCCEEDED, job.detail  # valid against the whole IPS validation
    export.refresh_from_db()
    with default_storage.open(export.storage_name, "rb") as handle:
        document = json.loads(handle.read())

    narratives = []
    sections = document["entry"][0]["resource"]["section"]
    # The portal's own: its Device (the author) and the sources the sections name as theirs.
    ours = {document["entry"][0]["resource"]["author"][0]["reference"]} | {
        author["reference"] for section in sections for author in section.get("author", [])
    }
    for entry in document["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Composition":
            narratives += [section["text"]["div"] for section in resource["section"]]
        elif "text" in resource:
            assert entry["fullUrl"] in ours, resource["resourceType"]
            narratives.append(resource["text"]["div"])
        for contained in resource.get("contained", []):
            assert "text" not in contained
    joined = "".join(narratives)
    for div in narratives:
        assert div.startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
        for tag, attributes in read_markup(div).tags:
            assert tag in ("div", "p", "table", "thead", "tbody", "tr", "th", "td"), tag
            assert set(attributes) <= ({"xmlns"} if tag == "div" else set()), (tag, attributes)
    for number in marked_numbers():
        assert html.escape(marked_text(attacker.origin, number)) in joined, number
    for number in range(1, len(NARRATIVE_VECTORS) + 1):
        assert narrative_markers(number)[0] not in joined  # upstream narrative is never copied


# ---------------------------------------------------------------------------- JSON limits, entry by entry


SUBJECT = f"Patient/{PATIENT_ID}"


def raw_condition(resource_id: str, fields: str) -> str:
    """A Condition entry as JSON text, with ``fields`` (raw JSON members, which may be anything) added."""
    head = json.dumps({"resourceType": "Condition", "id": resource_id, "subject": {"reference": SUBJECT}})
    return f'{{"resource": {head[:-1]}, {fields}}}}}'


def contained_chain(levels: int) -> str:
    opening = '{"resourceType": "Condition", "id": "in", "contained": ['
    return (
        '"contained": [' + opening * levels + '{"resourceType": "Condition", "id": "x"}' + "]}" * levels + "]"
    )


BAD_ENTRIES: dict[str, tuple[str, str]] = {
    # name: (raw members, the reason the pull gives)
    "huge-float": ('"onsetAge": {"value": 1e999999, "unit": "a"}', bundles.NUMBER_OUT_OF_RANGE),
    "huge-negative-float": ('"onsetAge": {"value": -1e999999}', bundles.NUMBER_OUT_OF_RANGE),
    "10000-digit-integer": (f'"onsetAge": {{"value": {"7" * 10_000}}}', bundles.NUMBER_OUT_OF_RANGE),
    "nan": ('"onsetAge": {"value": NaN}', bundles.NUMBER_OUT_OF_RANGE),
    "infinity": ('"onsetAge": {"value": Infinity}', bundles.NUMBER_OUT_OF_RANGE),
    "contained-20-deep": (contained_chain(20), bundles.NESTED_TOO_DEEPLY),
    # Far deeper than Python's parser goes: the page is read with the deep part cut away.
    "contained-5000-deep": (contained_chain(5000), bundles.NESTED_TOO_DEEPLY),
    "arrays-100000-deep": ('"extension": ' + "[" * 100_000 + "]" * 100_000, bundles.NESTED_TOO_DEEPLY),
    "nul-in-text": ('"code": {"text": "Asthma\\u0000"}', bundles.UNSTORABLE_TEXT),
    "nul-in-key": ('"code": {"te\\u0000xt": "Asthma"}', bundles.UNSTORABLE_TEXT),
    "lone-surrogate": ('"code": {"text": "\\ud800Asthma"}', bundles.UNSTORABLE_TEXT),
    "string-for-object": ('"code": "Asthma"', "an entry that is not valid FHIR R4"),
    "array-of-nulls": ('"category": [null, null]', "an entry that is not valid FHIR R4"),
    "number-for-string": ('"code": {"text": 12}', "an entry that is not valid FHIR R4"),
    "month-13": ('"onsetDateTime": "2024-13-45"', "an entry that is not valid FHIR R4"),
    "february-30": ('"recordedDate": "2024-02-30"', "an entry that is not valid FHIR R4"),
    "words-for-date": ('"recordedDate": "yesterday"', "an entry that is not valid FHIR R4"),
}


def test_bad_entries_are_skipped_one_by_one_and_every_page_still_renders(
    fake_upstream: FakeUpstream, linked_citizen: User, citizen_client: Client
) -> None:
    make_source(fake_upstream.base_url)
    entries = [raw_condition("good-1", '"code": {"text": "Asthma"}').encode()]
    entries += [raw_condition(name, members).encode() for name, (members, _reason) in BAD_ENTRIES.items()]
    # A lone surrogate as raw bytes (what a broken encoder writes), not as an escape: one more bad entry.
    raw_surrogate = raw_condition("raw-surrogate", '"code": {"text": "RAW"}').encode()
    entries += [raw_surrogate.replace(b"RAW", b"\xed\xa0\x80")]
    entries += [raw_condition("good-2", '"code": {"text": "Gout"}').encode()]
    body = b'{"resourceType": "Bundle", "type": "searchset", "entry": [' + b", ".join(entries) + b"]}"
    fake_upstream.routes["GET /fhir/Condition"] = Answer(body=body)

    started = time.monotonic()
    job, pull = pull_now(linked_citizen)
    elapsed = time.monotonic() - started

    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert elapsed < 20
    stored = set(
        StoredResource.objects.filter(owner=linked_citizen, resource_type="Condition").values_list(
            "resource_id", flat=True
        )
    )
    assert stored == {"good-1", "good-2"}
    assert pull.skipped_invalid == len(BAD_ENTRIES) + 1
    reasons = {warning["params"]["reason"]: warning["params"]["count"] for warning in pull.warnings}
    expected: dict[str, int] = {}
    for _members, reason in [*BAD_ENTRIES.values(), ("", bundles.UNSTORABLE_TEXT)]:
        expected[reason] = expected.get(reason, 0) + 1
    assert reasons == expected
    for path in (*PAGES, f"/jobs/{job.id}/"):
        started = time.monotonic()
        response = citizen_client.get(path)
        assert response.status_code == 200, path
        assert time.monotonic() - started < PAGE_SECONDS, path
    records = citizen_client.get("/records/").content.decode()
    assert "Asthma" in records
    assert "Gout" in records
    assert "entries were skipped: an entry with a number out of range (Condition)" in records
    assert "an entry nested too deeply" in records


def test_the_document_of_a_record_with_bad_entries_is_made_and_valid(
    fake_upstream: FakeUpstream, linked_citizen: User
) -> None:
    """After such a pull the Yellow Button still works: the document of what was kept passes validation and
    its PDF renders."""
    make_source(fake_upstream.base_url)
    entries = [raw_condition("good-1", '"code": {"text": "Asthma"}')]
    entries += [raw_condition(name, members) for name, (members, _reason) in BAD_ENTRIES.items()]
    page = '{"resourceType": "Bundle", "type": "searchset", "entry": [' + ", ".join(entries) + "]}"
    fake_upstream.routes["GET /fhir/Condition"] = Answer(body=page.encode())
    pull_now(linked_citizen)

    export = export_create(owner=linked_citizen, export_format="pdf")
    job_run(job_id=export.job_id)
    job = Job.objects.get(id=export.job_id)
    assert job.status == JobStatus.SUCCEEDED, job.detail


# ---------------------------------------------------------------------------- whole answers: size and time


def endless(
    piece: bytes, head: bytes = b'{"resourceType": "Bundle", "entry": ['
) -> Callable[[], Iterator[bytes]]:
    def pieces() -> Iterator[bytes]:
        yield head
        yield from itertools.repeat(piece)

    return pieces


def endless_gzip() -> Iterator[bytes]:
    """A gzip stream that never ends: 1 MiB of spaces inflates from about a kilobyte."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    yield compressor.compress(b'{"resourceType": "Bundle", "entry": [')
    while True:
        yield compressor.compress(b" " * (1024 * 1024)) + compressor.flush(zlib.Z_SYNC_FLUSH)


@pytest.mark.parametrize(
    "answer",
    [
        Answer(chunks=endless(b" " * 65536)),
        Answer(chunks=endless_gzip, headers={"Content-Encoding": "gzip"}),
        # A declared length over the cap is refused before anything is read.
        Answer(chunks=endless(b" "), chunk_delay=0.5, headers={"Content-Length": str(2**40)}),
        Answer(chunks=endless(b" "), chunk_delay=0.5, headers={"Content-Length": "9" * 5000}),
    ],
    ids=["endless", "gzip-bomb", "declared-length", "declared-5000-digits"],
)
def test_an_answer_over_the_size_cap_fails_clearly_without_being_read_whole(
    fake_upstream: FakeUpstream, linked_citizen: User, settings: Any, answer: Answer
) -> None:
    settings.FHIR_MAX_RESPONSE_BYTES = 1024 * 1024
    make_source(fake_upstream.base_url)
    fake_upstream.routes["GET /fhir/Condition"] = answer

    started = time.monotonic()
    job, pull = pull_now(linked_citizen)

    assert job.status == JobStatus.FAILED
    assert job.detail == fhir_client.UNREADABLE
    assert time.monotonic() - started < 10  # the answers above never end
    assert len(fake_upstream.requests_to("/fhir/Condition")) == 1  # not worth a retry
    assert pull.complete is False


def test_an_answer_that_only_drips_is_cut_at_the_time_cap(
    fake_upstream: FakeUpstream, linked_citizen: User, settings: Any
) -> None:
    settings.FHIR_MAX_RESPONSE_SECONDS = 1.0
    # A byte every 50 ms: the read timeout (5 s) never fires, the answer never ends.
    make_source(fake_upstream.base_url, read_timeout=5.0)
    fake_upstream.routes["GET /fhir/Condition"] = Answer(chunks=endless(b" "), chunk_delay=0.05)

    started = time.monotonic()
    job, _pull = pull_now(linked_citizen)

    assert job.status == JobStatus.FAILED
    assert job.detail == fhir_client.TIMEOUT
    assert time.monotonic() - started < 8  # three attempts of a second each, and backoff
    assert len(fake_upstream.requests_to("/fhir/Condition")) == 3


def test_an_error_answer_too_deep_to_parse_is_still_an_error(
    fake_upstream: FakeUpstream, linked_citizen: User
) -> None:
    make_source(fake_upstream.base_url)
    fake_upstream.routes["GET /fhir/Condition"] = Answer(status=500, body=b"[" * 60_000)

    job, _pull = pull_now(linked_citizen)

    assert job.status == JobStatus.FAILED
    assert job.detail == fhir_client.UNAVAILABLE


def token_route(upstream: FakeUpstream, answer: Answer) -> None:
    token_url = f"http://127.0.0.1:{upstream.port}/auth/token"
    upstream.routes["GET /fhir/metadata"] = Answer(body=capability(token_url=token_url))
    upstream.routes["GET /fhir/.well-known/smart-configuration"] = Answer(status=404, body={})
    upstream.routes["POST /auth/token"] = answer


@pytest.mark.parametrize(
    "answer",
    [
        Answer(body=b"[" * 100_000 + b"]" * 100_000),
        Answer(chunks=endless(b" " * 65536, head=b'{"access_token": "')),
    ],
    ids=["deep", "endless"],
)
def test_a_token_endpoint_answering_hostile_json_fails_the_pull_clearly(
    fake_upstream: FakeUpstream, linked_citizen: User, answer: Answer
) -> None:
    make_source(fake_upstream.base_url, auth_mode="backend-services", client_id="portal", client_secret="s")
    token_route(fake_upstream, answer)

    started = time.monotonic()
    job, _pull = pull_now(linked_citizen)

    assert job.status == JobStatus.FAILED
    assert job.detail == fhir_client.UNREADABLE
    assert time.monotonic() - started < 10
    assert not fake_upstream.requests_to("/fhir/Patient")


@pytest.mark.parametrize(
    ("body", "expires_in", "patient"),
    [
        ({"access_token": "t", "expires_in": 10**30, "patient": "p1"}, fhir_client.TOKEN_MAX_LIFETIME, "p1"),
        ({"access_token": "t", "expires_in": True, "patient": "../../Patient/p2"}, 300, ""),
        ({"access_token": "t", "expires_in": -5, "patient": "p1\n"}, 300, ""),
        ({"access_token": "t", "expires_in": 3600, "patient": {"id": "p1"}}, 3600, ""),
        (b'{"access_token": "t", "expires_in": ' + b"9" * 10_000 + b', "patient": "p1"}', 300, "p1"),
    ],
)
def test_token_answers_are_read_as_data_not_trusted(
    fake_upstream: FakeUpstream, body: dict[str, Any] | bytes, expires_in: int, patient: str
) -> None:
    fake_upstream.routes["POST /auth/token"] = Answer(body=body)
    response = token_request(
        f"http://127.0.0.1:{fake_upstream.port}/auth/token",
        {"grant_type": "client_credentials"},
        timeouts=Timeouts(connect=2, read=2),
    )
    assert (response.expires_in, response.patient) == (expires_in, patient)


# ---------------------------------------------------------------------------- narratives that cost time


def nested_divs(count: int, text: str) -> str:
    return "<div>" * count + text + "</div>" * count


def test_narratives_that_would_stall_a_parser_do_not_stall_the_record_page(
    fake_upstream: FakeUpstream, linked_citizen: User, citizen_client: Client
) -> None:
    make_source(fake_upstream.base_url)
    narratives = {
        # 1.1 MB, once 35 s for every view of the page: too big to parse, not shown.
        "over-the-limits": nested_divs(100_000, "DEEP-TEXT"),
        # Once minutes in a regular expression; now within the limits and quick.
        "backtracking": ("<a " + "b " * 48) * 9_000 + "<p>BACKTRACK-TEXT</p>",
        # At the tag limit, nested as deep as it allows.
        "at-the-limit": nested_divs(MAX_NARRATIVE_TAGS // 2 - 1, "LIMIT-TEXT"),
    }
    resources = []
    for resource_id, div in narratives.items():
        resource = condition(resource_id, text=resource_id)
        resource["text"] = {"status": "generated", "div": div}
        resources.append(resource)
    fake_upstream.routes["GET /fhir/Condition"] = Answer(
        body={"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}
    )
    job, pull = pull_now(linked_citizen)
    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert pull.skipped_invalid == 0

    started = time.monotonic()
    response = citizen_client.get("/records/")
    assert time.monotonic() - started < PAGE_SECONDS
    page = response.content.decode()
    assert "DEEP-TEXT" not in page
    assert "BACKTRACK-TEXT" in page
    assert "LIMIT-TEXT" in page
    assert "over-the-limits" in page  # the item itself is there, without the source's text


def test_the_record_page_parses_a_bounded_amount_of_narrative(
    fake_upstream: FakeUpstream, linked_citizen: User, citizen_client: Client, settings: Any
) -> None:
    """Each narrative within its limits, but hundreds of them: the page stops parsing at its budget."""
    make_source(fake_upstream.base_url)
    costly = nested_divs(MAX_NARRATIVE_TAGS // 2 - 1, "")
    resources = []
    for number in range(200):
        resource = condition(f"c{number:03d}", text=f"Item {number:03d}")
        resource["text"] = {"status": "generated", "div": costly.replace("<div></div>", f"N{number:03d}X", 1)}
        resources.append(resource)
    fake_upstream.routes["GET /fhir/Condition"] = Answer(
        body={"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}
    )
    job, _pull = pull_now(linked_citizen)
    assert job.status == JobStatus.SUCCEEDED, job.detail

    started = time.monotonic()
    page = citizen_client.get("/records/").content.decode()
    assert time.monotonic() - started < PAGE_SECONDS
    shown = len(re.findall(r"N\d{3}X", page))
    assert shown == selectors.NARRATIVE_BUDGET_TAGS // resources[0]["text"]["div"].count("<")
    assert page.count('data-testid="record-item"') == 200


def test_gzip_answers_within_the_cap_are_read(fake_upstream: FakeUpstream, linked_citizen: User) -> None:
    make_source(fake_upstream.base_url)
    body = json.dumps(
        {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": condition("c1")}]}
    ).encode()
    fake_upstream.routes["GET /fhir/Condition"] = Answer(
        body=gzip.compress(body), headers={"Content-Encoding": "gzip"}
    )

    job, _pull = pull_now(linked_citizen)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert StoredResource.objects.filter(owner=linked_citizen, resource_id="c1").exists()
