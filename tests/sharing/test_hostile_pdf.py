"""The summary PDF of a hostile record (tests/hostile_corpus.py), pulled over HTTP and made by the export's
own code: nothing is fetched, no image is drawn, and every upstream string is there as the text it was.

tests/sharing/test_pdf.py proves the fetcher's refusals one URL at a time; this is the whole corpus in the
whole path: pull, store, assemble, validate, render."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from portal.accounts.models import User
from portal.jobs.models import JobStatus
from sharing.document import document_build
from sharing.pdf import summary_pdf
from tests.hostile_corpus import (
    AttackerServer,
    attacker_server,
    fill,
    marked_numbers,
    marked_text,
    patient_name,
    serve_hostile_record,
    text_markers,
)
from tests.records.conftest import link_identifier, make_source, pull_now
from tests.records.fake_upstream import FakeUpstream
from tests.sharing.test_pdf import image_count, pdf_pages, pdf_text, squeezed

pytestmark = pytest.mark.django_db


@pytest.fixture
def attacker() -> Iterator[AttackerServer]:
    with attacker_server() as server:
        yield server


def shown_whole(text: str, item: str, start: str, end: str) -> bool:
    """Every character of ``item`` in order between its markers. pdftotext -layout puts the other columns'
    text between the lines of a wrapped cell, and a long word wraps anywhere, so the cell is read as a
    subsequence of the text between its first and last word."""
    flat = squeezed(text)
    begin = flat.index(start)
    segment = iter(flat[begin : flat.index(end, begin) + len(end)])
    return all(char in segment for char in squeezed(item))


@pytest.mark.parametrize("language", ["en", "da"])
def test_the_pdf_of_a_hostile_record_loads_nothing_and_shows_every_string_as_text(
    fake_upstream: FakeUpstream, citizen: User, attacker: AttackerServer, tmp_path: Path, language: str
) -> None:
    link_identifier(citizen)
    # The source's name is the operators', not the upstream's; it is text all the same.
    source_name = fill("Region <img src={A}/source.png>", attacker.origin, 0)
    make_source(fake_upstream.base_url, name=source_name)
    expected = serve_hostile_record(fake_upstream, attacker.origin)
    job, pull = pull_now(citizen)
    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert pull.skipped_invalid == 0

    built = document_build(owner=citizen, document_id=uuid.uuid4(), language=language)
    assert built.problems == []
    # and the Composition, the portal's Device, the source as the sections' author and its Provenance
    assert len(built.bundle["entry"]) == expected + 4
    pdf = summary_pdf(
        built.bundle,
        language=language,
        generated_at=datetime(2025, 3, 4, 11, 30, tzinfo=UTC),
        sources=built.source_names,
    )

    assert attacker.hits == []
    assert image_count(pdf, tmp_path) == 0
    text = pdf_text(pdf)
    for number in marked_numbers():
        start, end = text_markers(number)
        assert start in text, number
        assert end in text, number
    for number in marked_numbers():
        assert shown_whole(text, marked_text(attacker.origin, number), *text_markers(number)), number
    # The name atop every page (a CSS string) and in the patient table.
    assert squeezed(text).count(squeezed(patient_name(attacker.origin))) == len(pdf_pages(text)) + 1
    assert squeezed(source_name) in squeezed(text)
    # Escaped once for the HTML, shown as sent: the corpus's literal "&lt;b&gt;" is not "&amp;lt;b&amp;gt;".
    assert "&lt;b&gt;not" in text
    assert "&amp;lt;" not in text
