"""Reading upstream data: JSON limits, same-origin links, patient ownership, references, capabilities."""

import json
import time

import pytest

from core.fhir import upstream as bundles

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


# ---------------------------------------------------------------------------- JSON limits


def test_numbers_no_fhir_element_can_hold_are_marked_not_fatal() -> None:
    digits = "9" * 10_000
    raw = f'{{"a": 1e999999, "b": -1e999999, "c": {digits}, "d": NaN, "e": Infinity, "f": -Infinity}}'
    parsed = bundles.parse_json(raw.encode())
    assert set(parsed.values()) == {bundles.OUT_OF_RANGE}
    ordinary = bundles.parse_json(b'{"i": -12, "f": 0.5, "e": 1e-999999, "big": 1234567890123456789012345}')
    assert ordinary == {"i": -12, "f": 0.5, "e": 0.0, "big": 1234567890123456789012345}
    assert bundles.parse_json(b'{"x": -' + b"9" * bundles.MAX_INTEGER_DIGITS + b"}")["x"] < 0


def test_json_too_deep_for_the_parser_is_cut_below_the_document_depth() -> None:
    deep = "[" * 200_000 + "]" * 200_000
    strings = r'"s": "[[\"]]", "t": "{\\", "u": "]"'
    raw = f'{{"entry": [{{"resource": {{"id": "ok"}}}}, {{"resource": {{"x": {deep}}}}}], {strings}}}'
    started = time.monotonic()
    parsed = bundles.parse_json(raw.encode())
    assert time.monotonic() - started < 2
    assert parsed["entry"][0] == {"resource": {"id": "ok"}}
    # Brackets, quotes and backslashes inside strings are not structure.
    assert (parsed["s"], parsed["t"], parsed["u"]) == ('[["]]', "{\\", "]")
    cut = parsed["entry"][1]["resource"]["x"]
    depth = 3  # Bundle, entry list, entry: the resource is level 4, its "x" level 5
    while isinstance(cut, list):
        cut, depth = cut[0], depth + 1
    assert cut is None
    assert depth == bundles.MAX_DOCUMENT_DEPTH - 1


@pytest.mark.parametrize("raw", [b"[" * 200_000, b'{"a": [' * 200_000, b"\xff\xfe{}", b"", b"{"])
def test_unreadable_json_is_a_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  (the only promise: ValueError)
        bundles.parse_json(raw)


def condition(**extra: object) -> dict[str, object]:
    return {"resourceType": "Condition", "id": "c1", **extra}


def nested(levels: int) -> dict[str, object]:
    resource = condition()
    for _ in range(levels):
        resource = condition(contained=[resource])
    return resource


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        (condition(code={"text": "fine"}), None),
        (nested(15), None),  # 31 levels
        (nested(16), bundles.NESTED_TOO_DEEPLY),
        (condition(onsetAge={"value": bundles.OUT_OF_RANGE}), bundles.NUMBER_OUT_OF_RANGE),
        (condition(code={"text": "a\x00b"}), bundles.UNSTORABLE_TEXT),
        (condition(code={"te\x00xt": "b"}), bundles.UNSTORABLE_TEXT),
        (condition(code={"text": "a\ud800b"}), bundles.UNSTORABLE_TEXT),
        (condition(note=[{"text": "emoji \U0001f600, \u00e6\u00f8\u00e5, tab\t"}]), None),
    ],
)
def test_content_problems(resource: dict[str, object], reason: str | None) -> None:
    assert bundles.content_problem(resource) == reason
    checked = bundles.resource_of_entry({"resource": resource}, allowed_types=frozenset({"Condition"}))
    if reason is None:
        assert checked == resource
    else:
        assert checked == bundles.EntryProblem(reason, "Condition")


def test_a_surrogate_pair_is_text_a_lone_surrogate_is_not() -> None:
    pair = bundles.parse_json(b'{"t": "\\ud83d\\ude00"}')
    lone = bundles.parse_json(b'{"t": "\\ud800"}')
    raw_lone = bundles.parse_json(b'{"t": "\xed\xa0\x80"}')
    assert bundles.content_problem(pair) is None
    assert bundles.content_problem(lone) == bundles.content_problem(raw_lone) == bundles.UNSTORABLE_TEXT
    json.dumps(pair, ensure_ascii=False).encode()


@pytest.mark.parametrize("value", ["p1", "a-b.c", "x" * 64])
def test_resource_ids(value: str) -> None:
    assert bundles.is_resource_id(value)


@pytest.mark.parametrize("value", ["", "p1\n", "../p1", "p1/x", "p 1", "x" * 65, None, 7])
def test_not_resource_ids(value: object) -> None:
    assert not bundles.is_resource_id(value)
