"""Document retrieval (IHE MHD): a source that publishes its patient summary only as a document, behind a
DocumentReference, against the real FHIR sandbox (tests/records/mhd_fixtures.py); faults a real server will
not produce on demand against the fake upstream."""

import base64
import json
import uuid
from typing import Any

import pytest
from django.test import Client

from core.fhir import documents
from portal.accounts.models import User
from portal.jobs.models import JobStatus
from portal.records.management.commands.seed_demo import DEMO_IDENTIFIER_SYSTEM, DEMO_IDENTIFIER_VALUE
from portal.records.models import Pull, StoredResource
from sharing.document import document_build
from tests.records import mhd_fixtures
from tests.records.conftest import link_identifier, make_source, pull_now
from tests.records.fake_upstream import PATIENT_ID, Answer, FakeUpstream, patient, searchset
from tests.records.mhd_fixtures import MhdSource
from tests.sandbox_fixtures import sandbox_put

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

mhd_source = mhd_fixtures.mhd_source  # one MHD sandbox for the module


@pytest.fixture
def patricia(citizen: User) -> User:
    return link_identifier(citizen, DEMO_IDENTIFIER_SYSTEM, DEMO_IDENTIFIER_VALUE)


def warning_reasons(pull: Pull) -> list[str]:
    return [str(warning["params"].get("reason", "")) for warning in pull.warnings]


def test_an_mhd_sources_documents_are_pulled_through_documentreference_and_stored(
    mhd_source: MhdSource, patricia: User, citizen_client: Client
) -> None:
    source = make_source(mhd_source.handle.base_url, patient_identifier_system=DEMO_IDENTIFIER_SYSTEM)

    job, pull = pull_now(patricia)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert pull.complete, pull.warnings
    assert pull.dropped_other_patient == 0, pull.warnings
    rows = StoredResource.objects.filter(owner=patricia, source=source)
    bundle = rows.get(resource_type="Bundle")
    assert bundle.resource_id == mhd_source.manifest["document_id"]
    assert bundle.section == ""
    assert bundle.data == mhd_source.document
    items = {row.data["code"]["coding"][0]["code"]: row for row in rows.exclude(section="")}
    by_type = sorted((row.resource_type, row.section) for row in items.values())
    assert by_type == [
        ("AllergyIntolerance", "allergies"),
        ("Condition", "problems"),
        ("Condition", "problems"),
    ], by_type
    patient_id = mhd_source.manifest["patient_id"]
    for row in items.values():
        # The document's urn:uuid references became this record's: the citizen's Patient at this source.
        subject = row.data.get("subject") or row.data.get("patient")
        assert subject == {"reference": f"Patient/{patient_id}"}, row.data
        example_ids = {item["example_id"] for item in mhd_source.manifest["document_items"]}
        assert row.resource_id == row.data["id"]
        assert row.resource_id not in example_ids
    # The document's own Patient entry is Patricia: not a second Patient, not "someone else's" data.
    assert list(rows.filter(resource_type="Patient").values_list("resource_id", flat=True)) == [patient_id]
    # The document's Composition is kept, its sections naming the stored items.
    composition = rows.get(resource_type="Composition")
    named = {
        entry["reference"] for section in composition.data["section"] for entry in section.get("entry", [])
    }
    assert named == {f"{row.resource_type}/{row.resource_id}" for row in items.values()}

    html = citizen_client.get("/records/").content.decode()
    for row in items.values():
        assert row.data["code"]["coding"][0]["display"] in html, row.data["code"]

    # The Yellow Button's document holds them, in the sections the source's Composition put them in; the
    # source's document itself is not part of it.
    built = document_build(owner=patricia, document_id=uuid.uuid4(), language="en")
    assert built.problems == []
    types = [entry["resource"]["resourceType"] for entry in built.bundle["entry"]]
    assert "Bundle" not in types
    assert types.count("Condition") == 2
    assert types.count("AllergyIntolerance") == 1

    # Pulled again: the same rows, unchanged (the ids are stable from pull to pull).
    count = rows.count()
    job, again = pull_now(patricia)
    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert (again.added, again.updated, rows.count()) == (0, 0, count)
    assert not rows.filter(missing_since__isnull=False).exists()


def test_a_documentreference_to_another_origin_is_not_fetched(
    mhd_source: MhdSource, patricia: User, fake_upstream: FakeUpstream
) -> None:
    source = make_source(mhd_source.handle.base_url, patient_identifier_system=DEMO_IDENTIFIER_SYSTEM)
    elsewhere = "/fhir/Binary/elsewhere"
    fake_upstream.routes[f"GET {elsewhere}"] = Answer(body={"resourceType": "Bundle", "type": "document"})
    sandbox_put(
        mhd_source.handle,
        {
            "resourceType": "DocumentReference",
            "id": "mhd-foreign-document",
            "status": "current",
            "type": {"coding": [{"system": "http://loinc.org", "code": "11502-2"}]},
            "subject": {"reference": f"Patient/{mhd_source.manifest['patient_id']}"},
            "content": [
                {
                    "attachment": {
                        "contentType": "application/fhir+json",
                        "url": f"http://127.0.0.1:{fake_upstream.port}{elsewhere}",
                    }
                }
            ],
        },
    )

    job, pull = pull_now(patricia)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert fake_upstream.requests == []  # never asked, so no token and no identifier went there
    assert documents.FOREIGN_DOCUMENT in warning_reasons(pull), pull.warnings
    # The source's own document still came.
    assert StoredResource.objects.filter(owner=patricia, source=source, resource_type="Bundle").count() == 1


def _document_reference(url: str, *, reference_id: str = "dr1") -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "id": reference_id,
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "60591-5"}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "content": [{"attachment": {"contentType": "application/fhir+json", "url": url}}],
    }


def _document(person: dict[str, Any], *, code: str = "Asthma") -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": "doc",
        "type": "document",
        "timestamp": "2025-01-01T00:00:00Z",
        "entry": [
            {
                "fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001",
                "resource": {
                    "resourceType": "Composition",
                    "id": "c1",
                    "status": "final",
                    "type": {"coding": [{"system": "http://loinc.org", "code": "60591-5"}]},
                    "subject": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000002"},
                    "date": "2025-01-01",
                    "author": [{"display": "Somebody"}],
                    "title": "Patient summary",
                },
            },
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000002", "resource": person},
            {
                "fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000003",
                "resource": {
                    "resourceType": "Condition",
                    "id": "1",
                    "code": {"text": code},
                    "subject": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000002"},
                },
            },
        ],
    }


@pytest.fixture
def linked_citizen(citizen: User) -> User:
    return link_identifier(citizen)


def test_a_refused_document_search_is_a_warning_not_a_failure(
    fake_upstream: FakeUpstream, linked_citizen: User
) -> None:
    make_source(fake_upstream.base_url)
    refused = Answer(status=400, body={"resourceType": "OperationOutcome", "issue": []})
    # The resource search for DocumentReference is answered; only the search for documents (by type) is not.
    fake_upstream.routes["GET /fhir/DocumentReference"] = lambda seen: (
        refused if "type" in seen.query else Answer(body=searchset([]))
    )

    job, pull = pull_now(linked_citizen)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert pull.complete
    assert "the search for documents, which the data source refused" in warning_reasons(pull), pull.warnings


def test_a_document_bundle_served_directly_and_one_about_someone_else(
    fake_upstream: FakeUpstream, linked_citizen: User
) -> None:
    make_source(fake_upstream.base_url)
    someone_else = {**patient("x9", value="SOMEONE-ELSE"), "id": "x9"}
    wrapped = json.dumps(_document(someone_else, code="Not hers")).encode()
    fake_upstream.routes["GET /fhir/DocumentReference"] = Answer(
        body=searchset(
            [
                _document_reference("Bundle/doc", reference_id="dr1"),
                _document_reference(f"{fake_upstream.base_url}/Binary/other", reference_id="dr2"),
                _document_reference("Bundle/mixed", reference_id="dr3"),
            ]
        )
    )
    # Hers, but holding someone else's Patient and Condition too: those are dropped, and so is the Bundle as
    # it came (it would hold them).
    mixed = _document(patient(), code="Also hers")
    mixed["entry"] += [
        {"fullUrl": "urn:uuid:stranger", "resource": someone_else},
        {
            "fullUrl": "urn:uuid:theirs",
            "resource": {
                "resourceType": "Condition",
                "code": {"text": "Not hers either"},
                "subject": {"reference": "urn:uuid:stranger"},
            },
        },
    ]
    fake_upstream.routes["GET /fhir/Bundle/mixed"] = Answer(body=mixed)
    fake_upstream.routes["GET /fhir/Bundle/doc"] = Answer(body=_document(patient()))
    fake_upstream.routes["GET /fhir/Binary/other"] = Answer(
        body={
            "resourceType": "Binary",
            "contentType": "application/fhir+json",
            "data": base64.b64encode(wrapped).decode(),
        }
    )

    job, pull = pull_now(linked_citizen)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    searches = fake_upstream.requests_to("/fhir/DocumentReference")
    assert searches[-1].query["type"] == [documents.TYPE_PARAMETER]
    assert searches[-1].headers.get("prefer") == "handling=strict"
    conditions = StoredResource.objects.filter(owner=linked_citizen, resource_type="Condition")
    assert sorted(row.data["code"]["text"] for row in conditions) == ["Also hers", "Asthma"]
    for row in conditions:
        assert row.data["subject"] == {"reference": f"Patient/{PATIENT_ID}"}
        assert row.resource_id != "1"  # both documents call their condition "1"
    assert pull.dropped_other_patient == 2
    assert documents.OTHER_PATIENTS_DOCUMENT in warning_reasons(pull), pull.warnings
    assert StoredResource.objects.filter(owner=linked_citizen, resource_type="Bundle").count() == 1
