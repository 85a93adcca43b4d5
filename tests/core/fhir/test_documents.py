"""Documents behind a DocumentReference (core.fhir.documents): which attachments, whose, which ids."""

import base64
import copy
import json
from typing import Any

import pytest

from core.fhir import documents, upstream

BASE = "https://fhir.example.org/r4"
NHI = ("https://nhi.example/id", "ABC1234")
CITIZEN = {
    "resourceType": "Patient",
    "id": "p1",
    "identifier": [{"system": NHI[0], "value": NHI[1]}],
}
PATIENT_URN = "urn:uuid:00000000-0000-4000-8000-000000000002"


def document_reference(*contents: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "id": "dr1",
        "status": "current",
        "type": {"coding": [{"system": documents.LOINC, "code": documents.PATIENT_SUMMARY}]},
        "subject": {"reference": "Patient/p1"},
        "content": [{"attachment": attachment} for attachment in contents],
        **fields,
    }


def test_only_fhir_json_attachments_of_current_summaries_on_this_server_are_fetched() -> None:
    reference = document_reference(
        {"contentType": "application/fhir+json", "url": "Binary/b1"},
        {"contentType": "application/fhir+json; charset=utf-8", "url": f"{BASE}/Bundle/d1"},
        {"contentType": "application/pdf", "url": "Binary/pdf"},
        {"contentType": "application/fhir+json", "url": "https://elsewhere.example/r4/Binary/x"},
        {"contentType": "application/fhir+json", "url": "http://fhir.example.org/r4/Binary/downgraded"},
        {"contentType": "application/fhir+json", "url": "../../other/Binary/x"},
        {"contentType": "application/fhir+json"},
    )

    found, foreign = documents.attachments(reference, base_url=BASE)

    assert [attachment.url for attachment in found] == [f"{BASE}/Binary/b1", f"{BASE}/Bundle/d1"]
    assert foreign == 3
    assert documents.attachments({**reference, "status": "superseded"}, base_url=BASE) == ([], 0)
    other_kind = {**reference, "type": {"coding": [{"system": documents.LOINC, "code": "34133-9"}]}}
    assert documents.attachments(other_kind, base_url=BASE) == ([], 0)


def document(person: dict[str, Any], *extra: dict[str, Any], subject: str = PATIENT_URN) -> dict[str, Any]:
    condition = {
        "resourceType": "Condition",
        "id": "1",
        "code": {"text": "Asthma"},
        "subject": {"reference": PATIENT_URN},
    }
    return {
        "resourceType": "Bundle",
        "id": "doc",
        "type": "document",
        "entry": [
            {
                "fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001",
                "resource": {
                    "resourceType": "Composition",
                    "id": "c1",
                    "subject": {"reference": subject},
                    "section": [{"entry": [{"reference": "urn:uuid:00000000-0000-4000-8000-000000000003"}]}],
                },
            },
            {"fullUrl": PATIENT_URN, "resource": person},
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000003", "resource": condition},
            *extra,
        ],
    }


def content_of(bundle: Any, key: str = f"{BASE}/Binary/b1") -> documents.DocumentContent:
    content = documents.document_resources(bundle, document_key=key, patient=CITIZEN, base_url=BASE)
    assert isinstance(content, documents.DocumentContent), content
    return content


def test_a_documents_entries_get_ids_of_their_own_and_refer_to_the_citizen() -> None:
    source = document({**CITIZEN, "id": "author-local-id"})
    before = copy.deepcopy(source)

    content = content_of(source)

    assert content.bundle == before  # stored as it came: every entry is hers
    assert source == before  # nothing rewritten in place
    by_type = {entry["resource"]["resourceType"]: entry["resource"] for entry in content.entries}
    assert set(by_type) == {"Composition", "Condition"}  # the citizen's own entry is not a second Patient
    condition, composition = by_type["Condition"], by_type["Composition"]
    assert condition["id"] != "1"
    assert upstream.is_resource_id(condition["id"])
    assert condition["subject"] == {"reference": "Patient/p1"}
    assert composition["section"][0]["entry"] == [{"reference": f"Condition/{condition['id']}"}]
    assert upstream.belongs_to_patient(condition, patient_id="p1", base_url=BASE)
    # Stable from pull to pull, different for another document that reuses the same ids.
    assert content_of(document({**CITIZEN, "id": "x"})).entries[1]["resource"]["id"] == condition["id"]
    other = content_of(document({**CITIZEN, "id": "x"}), key=f"{BASE}/Binary/b2")
    assert other.entries[1]["resource"]["id"] != condition["id"]


def test_an_entry_that_is_this_servers_resource_keeps_its_id() -> None:
    mine = {"resourceType": "Condition", "id": "c9", "subject": {"reference": "Patient/p1"}}
    content = content_of(document(CITIZEN, {"fullUrl": f"{BASE}/Condition/c9", "resource": mine}))

    assert {"resourceType": "Condition", "id": "c9", "subject": {"reference": "Patient/p1"}} in [
        entry["resource"] for entry in content.entries
    ]


@pytest.mark.parametrize(
    "person",
    [
        {"resourceType": "Patient", "id": "x9", "identifier": [{"system": NHI[0], "value": "SOMEONE-ELSE"}]},
        {"resourceType": "Patient", "id": "x9"},  # no identifier, not the id at this source
        # The id at this source, but an identifier that says it is someone else.
        {"resourceType": "Patient", "id": "p1", "identifier": [{"system": NHI[0], "value": "SOMEONE-ELSE"}]},
    ],
)
def test_a_document_about_someone_else_is_refused_whole(person: dict[str, Any]) -> None:
    problem = documents.document_resources(document(person), document_key="k", patient=CITIZEN, base_url=BASE)

    assert problem == upstream.EntryProblem(documents.OTHER_PATIENTS_DOCUMENT, "Bundle")


def test_someone_elses_entries_in_the_citizens_document_do_not_become_hers() -> None:
    stranger = {"resourceType": "Patient", "id": "s1", "identifier": [{"system": NHI[0], "value": "X"}]}
    theirs = {"resourceType": "Condition", "id": "2", "subject": {"reference": "urn:uuid:stranger"}}
    dangling = {"resourceType": "Condition", "id": "3", "subject": {"reference": "urn:uuid:nobody"}}
    content = content_of(
        document(
            CITIZEN,
            {"fullUrl": "urn:uuid:stranger", "resource": stranger},
            {"fullUrl": "urn:uuid:t", "resource": theirs},
            {"fullUrl": "urn:uuid:d", "resource": dangling},
        )
    )

    kept = [
        entry["resource"]
        for entry in content.entries
        if upstream.belongs_to_patient(entry["resource"], patient_id="p1", base_url=BASE)
    ]
    assert sorted(resource["resourceType"] for resource in kept) == ["Composition", "Condition"]
    assert [r["subject"] for r in kept if r["resourceType"] == "Condition"] == [{"reference": "Patient/p1"}]
    assert content.bundle is None  # the document as it came holds the stranger's entries: not kept


@pytest.mark.parametrize(
    "bundle",
    [
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": {"resourceType": "Composition"}}],
        },
        {"resourceType": "Bundle", "type": "document", "entry": []},
        {
            "resourceType": "Bundle",
            "type": "document",
            "entry": [{"resource": CITIZEN}],
        },  # no Composition first
        {"resourceType": "Patient", "id": "p1"},
        None,
    ],
)
def test_what_is_not_a_document_is_refused(bundle: Any) -> None:
    problem = documents.document_resources(bundle, document_key="k", patient=CITIZEN, base_url=BASE)

    assert problem == upstream.EntryProblem(documents.NOT_A_DOCUMENT, "Bundle")


def test_a_binary_holding_fhir_json_is_unwrapped() -> None:
    bundle = document(CITIZEN)
    data = base64.b64encode(json.dumps(bundle).encode()).decode()

    assert documents.unwrapped(
        {"resourceType": "Binary", "contentType": "application/fhir+json", "data": data}
    ) == (bundle)
    assert documents.unwrapped(bundle) is bundle
    assert (
        documents.unwrapped({"resourceType": "Binary", "contentType": "application/pdf", "data": data})
        is None
    )
    assert (
        documents.unwrapped({"resourceType": "Binary", "contentType": "application/fhir+json", "data": "%%"})
        is None
    )
