"""Reading upstream data: same-origin links, patient ownership, references, capabilities."""

import pytest

from portal.records import bundles

BASE = "https://fhir.example.org/r4"


@pytest.mark.parametrize(
    ("url", "same"),
    [
        ("https://fhir.example.org/r4/Condition?page=2", True),
        ("https://fhir.example.org:443/r4/Condition?page=2", True),
        ("https://fhir.example.org/r4", True),
        ("http://fhir.example.org/r4/Condition", False),  # downgraded scheme
        ("https://fhir.example.org.evil.test/r4/Condition", False),
        ("https://evil.test/r4/Condition", False),
        ("https://fhir.example.org:8443/r4/Condition", False),
        ("https://fhir.example.org/r4-other/Condition", False),  # another base path on the same host
        ("https://user:pw@fhir.example.org/r4/Condition", False),
        ("//evil.test/r4/Condition", False),
        ("/r4/Condition", False),
    ],
)
def test_same_origin_next_links(url: str, same: bool) -> None:
    assert bundles.is_same_origin(BASE, url) is same


@pytest.mark.parametrize(
    ("resource", "belongs"),
    [
        ({"resourceType": "Condition", "subject": {"reference": "Patient/p1"}}, True),
        ({"resourceType": "Condition", "subject": {"reference": f"{BASE}/Patient/p1"}}, True),
        ({"resourceType": "Condition", "subject": {"reference": "Patient/p1/_history/3"}}, True),
        ({"resourceType": "Condition", "subject": {"reference": "Patient/p2"}}, False),
        ({"resourceType": "Condition", "subject": {"reference": "https://other.test/Patient/p1"}}, False),
        ({"resourceType": "Condition", "subject": {"reference": "Group/p1"}}, False),
        ({"resourceType": "Condition"}, False),  # a clinical resource with no patient is nobody's
        ({"resourceType": "Condition", "subject": "Patient/p1"}, False),
        ({"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/p1"}}, True),
        (
            {
                "resourceType": "Consent",
                "patient": {"reference": "Patient/p1"},
                "subject": {"reference": "Patient/p2"},
            },
            False,
        ),
        ({"resourceType": "Medication", "id": "m1"}, True),
        ({"resourceType": "Device", "patient": {"reference": "Patient/p2"}}, False),
        ({"resourceType": "Patient", "id": "p1"}, True),
        ({"resourceType": "Patient", "id": "p2"}, False),
    ],
)
def test_belongs_to_patient(resource: dict, belongs: bool) -> None:
    assert bundles.belongs_to_patient(resource, patient_id="p1", base_url=BASE) is belongs


def test_referenced_resources_on_this_server_only() -> None:
    statement = {
        "resourceType": "MedicationStatement",
        "medicationReference": {"reference": "Medication/m1"},
        "informationSource": {"reference": f"{BASE}/Practitioner/dr1"},
        "derivedFrom": [{"reference": "https://other.test/Organization/o1"}, {"reference": "Condition/c1"}],
        "note": [{"reference": 42}],
    }
    assert bundles.referenced_resources(statement, base_url=BASE) == {
        ("Medication", "m1"),
        ("Practitioner", "dr1"),
    }


def test_hostile_nesting_does_not_recurse_forever() -> None:
    deep: dict = {"reference": "Medication/top"}
    for _ in range(5000):
        deep = {"nested": deep}
    assert bundles.referenced_resources(deep, base_url=BASE) == set()


def test_entries_are_checked_one_by_one() -> None:
    allowed = frozenset({"Condition"})
    good = {"resource": {"resourceType": "Condition", "id": "c1"}}
    assert bundles.resource_of_entry(good, allowed_types=allowed) == good["resource"]
    bad: object
    for bad in (
        "text",
        {},
        {"resource": []},
        {"resource": {"resourceType": "Observation", "id": "o1"}},
        {"resource": {"resourceType": "Condition"}},
        {"resource": {"resourceType": "Condition", "id": "../../etc"}},
        {"resource": {"resourceType": "Condition", "id": "x" * 65}},
        {"resource": {"resourceType": 7, "id": "c1"}},
    ):
        assert isinstance(bundles.resource_of_entry(bad, allowed_types=allowed), bundles.EntryProblem)


def test_capability_operations_and_oauth_uris() -> None:
    capability = {
        "resourceType": "CapabilityStatement",
        "rest": [
            {
                "security": {
                    "extension": [
                        {
                            "url": bundles.OAUTH_URIS,
                            "extension": [
                                {"url": "token", "valueUri": "https://auth.test/token"},
                                {"url": "authorize", "valueUri": "https://auth.test/authorize"},
                            ],
                        }
                    ]
                },
                "resource": [
                    {"type": "Patient", "operation": [{"name": "summary"}, {"name": "$everything"}]},
                    {"type": "Observation", "operation": [{"name": "lastn"}]},
                ],
            }
        ],
    }
    assert bundles.patient_operations(capability) == {"summary", "everything"}
    assert bundles.oauth_uris(capability) == {
        "token": "https://auth.test/token",
        "authorize": "https://auth.test/authorize",
    }
    assert bundles.patient_operations({"rest": "nonsense"}) == set()
    assert bundles.oauth_uris({"rest": [{"security": []}]}) == {}


def test_outcome_issues_keep_codes_not_text() -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": "not-found", "diagnostics": "Patient ABC1234 not found"},
            {"severity": "<b>", "code": "<script>"},
        ],
    }
    assert bundles.outcome_issues(outcome) == [("error", "not-found"), ("error", "unknown")]
