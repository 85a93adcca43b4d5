"""One record from three sources (tests/three_sources.py: a hospital, a GP and a vaccination register, each a
real FHIR sandbox over HTTP): what two sources hold is one item naming both, what they disagree on is shown
with both values, and nothing any source sent is lost — on the record page and in the document."""

import html
import re
import subprocess
import uuid

import pytest
from django.test import Client
from django.utils import timezone

from core.fhir.summary import summarize
from core.ips.validate import validate_document
from portal.accounts.models import User
from portal.jobs.models import Job, JobStatus
from portal.jobs.services import job_run
from portal.records.management.commands.seed_demo import DEMO_IDENTIFIER_SYSTEM, DEMO_IDENTIFIER_VALUE
from portal.records.models import DataSource, StoredResource
from portal.records.services import MERGE_KIND, pull_start, record_merge
from sharing.document import document_build, document_pdf
from tests.records.conftest import link_identifier, make_source, merge_now
from tests.three_sources import ThreeSources

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def expected_items(three_sources: ThreeSources) -> dict[str, int]:
    """The manifest's facts per type that are items of an IPS section: the example's DocumentReference (a
    "Patient data Document") is kept but is no section's item (core.ips.sections)."""
    counts = dict(three_sources.manifest["merged_counts"])
    counts.pop("DocumentReference", None)
    return counts


def pull_all_three(citizen: User, three_sources: ThreeSources) -> dict[str, DataSource]:
    link_identifier(citizen, DEMO_IDENTIFIER_SYSTEM, DEMO_IDENTIFIER_VALUE)
    sources = {
        key: make_source(url, name=three_sources.manifest["sources"][key]["name"],
                         patient_identifier_system=DEMO_IDENTIFIER_SYSTEM)
        for key, url in three_sources.base_urls.items()
    }  # fmt: skip
    jobs = pull_start(owner=citizen)
    assert len(jobs) == 3
    for job in jobs:
        job_run(job_id=job.id)
        assert Job.objects.get(id=job.id).status == JobStatus.SUCCEEDED, Job.objects.get(id=job.id).detail
    merge_now(citizen)  # one merge job, queued by the first pull to end, serves all three
    assert Job.objects.filter(owner=citizen, kind=MERGE_KIND).count() == 1
    return sources


def cards(page: str) -> list[str]:
    """The record page's item cards, as text with the markup taken out (each up to the next card's start, or
    its section's end)."""
    parts = page.split('data-testid="record-item"')[1:]
    return [html.unescape(re.sub(r"<[^>]+>", " ", part.split("</section>")[0])) for part in parts]


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_three_sources_make_one_record_with_every_source_and_every_disagreement(
    citizen: User, citizen_client: Client, three_sources: ThreeSources
) -> None:
    sources = pull_all_three(citizen, three_sources)
    manifest = three_sources.manifest
    name = {key: source.name for key, source in sources.items()}

    # Nothing lost: every resource of every source is stored, and each fact is shown once.
    for key, source in sources.items():
        assert (
            StoredResource.objects.filter(owner=citizen, source=source).count()
            == manifest["sources"][key]["total"]
        )
    shown = StoredResource.objects.filter(owner=citizen, merged_into__isnull=True).exclude(section="")
    expected = expected_items(three_sources)
    for resource_type, count in expected.items():
        assert shown.filter(resource_type=resource_type).count() == count, resource_type
    assert shown.count() == sum(expected.values())

    page = citizen_client.get("/records/").content.decode()
    items = [one_line(card) for card in cards(page)]
    assert len(items) == sum(expected.values())

    # The overlaps: one card each, naming both sources.
    for overlap in manifest["overlaps"]:
        rows = [
            StoredResource.objects.get(owner=citizen, source=sources[item["source"]], resource_id=item["id"])
            for item in overlap["items"]
        ]
        shown_rows = [row for row in rows if row.merged_into_id is None]
        assert len(shown_rows) == 1, overlap["kind"]
        assert all(row.merged_into_id in (None, shown_rows[0].pk) for row in rows)
        title = summarize(shown_rows[0].data).title
        both = [
            card
            for card in items
            if card.startswith(f"> {title} ")
            and all(name[item["source"]] in card for item in overlap["items"])
        ]
        assert len(both) == 1, (title, items)

    # The conflict: one card with both statuses, each with its source, resolved by nobody.
    (conflict,) = manifest["conflicts"]
    (card,) = [c for c in items if "The sources disagree" in c]
    assert "Status: Active" in card
    assert "Status: Stopped" in card
    for item in conflict["items"]:
        assert name[item["source"]] in card

    # Every single-source item is there, naming its one source.
    for single in manifest["single_source"]:
        row = StoredResource.objects.get(
            owner=citizen, source=sources[single["source"]], resource_id=single["id"]
        )
        assert row.merged_into_id is None


def test_the_document_from_three_sources_holds_each_fact_once_and_names_its_sources(
    citizen: User, three_sources: ThreeSources
) -> None:
    sources = pull_all_three(citizen, three_sources)

    built = document_build(owner=citizen, document_id=uuid.uuid4(), language="en")

    assert built.problems == []
    assert validate_document(built.bundle) == []
    resources = [entry["resource"] for entry in built.bundle["entry"]]
    composition = resources[0]
    in_sections = [e["reference"] for section in composition["section"] for e in section.get("entry", [])]
    assert len(in_sections) == len(set(in_sections)) == sum(expected_items(three_sources).values())
    by_url = {entry["fullUrl"]: entry["resource"] for entry in built.bundle["entry"]}
    provenances = [r for r in resources if r["resourceType"] == "Provenance"]
    named = {by_url[p["agent"][0]["who"]["reference"]]["name"] for p in provenances}
    assert named == {source.name for source in sources.values()}
    # A fact two sources hold is a target of both sources' Provenance.
    targets = [{t["reference"] for t in p["target"]} for p in provenances]
    assert any(sum(url in found for found in targets) == 2 for url in in_sections)
    assert sorted(built.source_names) == sorted(source.name for source in sources.values())

    # The PDF says, for an item two sources hold, both.
    pdf = document_pdf(built, language="en", generated_at=timezone.now())
    reading_order = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True)
    # pdftotext takes a hyphen at a line's end for a soft one: compare without hyphens.
    text = " ".join(reading_order.stdout.decode().replace("-", "").split())
    hospital, gp = (sources[key].name.replace("-", "") for key in ("hospital", "gp"))
    assert re.search(
        rf"Source: ({re.escape(hospital)}, {re.escape(gp)}|{re.escape(gp)}, {re.escape(hospital)})", text
    )

    # The disagreement is said, not resolved quietly: beside the medicine in the narrative and in the PDF.
    medicines = next(s for s in composition["section"] if s["code"]["coding"][0]["code"] == "10160-0")
    narrative = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", medicines["text"]["div"])).split())
    assert len(built.disagreements) == 1
    (sentence,) = built.disagreements.values()
    assert sentence.startswith("The sources disagree on the status: ")
    for words in (
        "Stopped according to",
        "Active according to",
        sources["hospital"].name,
        sources["gp"].name,
    ):
        assert words in sentence, sentence
    assert sentence in narrative
    assert " ".join(sentence.replace("-", "").split()) in text


def test_merging_again_changes_nothing(citizen: User, three_sources: ThreeSources) -> None:
    pull_all_three(citizen, three_sources)
    before = list(
        StoredResource.objects.filter(owner=citizen).values_list("pk", "merged_into_id", "conflicts")
    )

    record_merge(owner=citizen)

    assert (
        list(StoredResource.objects.filter(owner=citizen).values_list("pk", "merged_into_id", "conflicts"))
        == before
    )
