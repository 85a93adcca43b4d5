"""IPS document assembly (pure core): structure, sections, choosing what to include, references, narrative."""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from core.fhir.wording import Wording
from core.ips.assemble import (
    AssemblyError,
    Choice,
    DocumentInfo,
    RecordEntry,
    assemble,
)
from core.ips.profiles import BUNDLE_PROFILE, COMPOSITION_PROFILE
from core.ips.sections import SECTION_BY_KEY, section_of
from core.ips.validate import validate_document
from tests.conftest import ips_example

ALL_SECTIONS = "Bundle-bundle-ips-all-sections"
INFO = DocumentInfo(
    document_id=uuid.UUID("6f1f2b1e-4a43-4f3a-9d51-0b8f1f6f0a01"),
    timestamp=datetime(2026, 11, 22, 9, 30, tzinfo=UTC),
    software_version="0.1.0",
)
MEDICATION_WORDS = (
    "cilazapril",
    "lisinopril",
    "Ultraproct",
    "cinchocaine",
    "318913001",
    "108575001",
    "C05AA08",
)


def record_of(example: str, *, source: str = "1") -> list[RecordEntry]:
    """The example's resources as the portal stores them: the Composition is the example's, not data."""
    entries = []
    for index, entry in enumerate(ips_example(example)["entry"]):
        resource = entry["resource"]
        if resource["resourceType"] == "Composition":
            continue
        section = section_of(resource)
        entries.append(
            RecordEntry(
                key=f"{source}-{index}",
                source=source,
                resource=resource,
                section=section.key if section else "",
            )
        )
    return entries


def patient_key(entries: list[RecordEntry]) -> str:
    return next(e.key for e in entries if e.resource["resourceType"] == "Patient")


def build(entries: list[RecordEntry], choice: Choice | None = None) -> dict[str, Any]:
    return assemble(entries, patient_key=patient_key(entries), info=INFO, choice=choice)


def composition(bundle: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = bundle["entry"][0]["resource"]
    return resource


def section_by_code(bundle: dict[str, Any], code: str) -> dict[str, Any] | None:
    for section in composition(bundle)["section"]:
        if section["code"]["coding"][0]["code"] == code:
            return dict(section)
    return None


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node["reference"]
        for key, value in node.items():
            if key != "text":
                yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def assert_valid(bundle: dict[str, Any]) -> None:
    problems = validate_document(bundle, bundle_json=json.dumps(bundle))
    assert problems == [], problems


def test_the_all_sections_example_becomes_a_valid_document_of_our_own() -> None:
    entries = record_of(ALL_SECTIONS)

    bundle = build(entries)

    assert_valid(bundle)
    assert bundle["type"] == "document"
    assert bundle["meta"]["profile"] == [BUNDLE_PROFILE]
    assert bundle["identifier"] == {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{INFO.document_id}"}
    assert bundle["timestamp"] == "2026-11-22T09:30:00+00:00"
    types = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert types[0] == "Composition"
    assert types.count("Composition") == 1
    assert types.count("Patient") == 1
    full_urls = [entry["fullUrl"] for entry in bundle["entry"]]
    assert all(re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", url) for url in full_urls)
    assert len(set(full_urls)) == len(full_urls)
    assert all("request" not in entry and "response" not in entry for entry in bundle["entry"])
    assert set(references(bundle)) <= set(full_urls)
    # Every clinical item of the example is in, under its section.
    clinical = [e for e in entries if e.section]
    section_entries = sum(len(s.get("entry", [])) for s in composition(bundle)["section"])
    assert section_entries == len(clinical)


def test_the_composition_is_ours() -> None:
    bundle = build(record_of(ALL_SECTIONS))
    comp = composition(bundle)
    by_url = {entry["fullUrl"]: entry["resource"] for entry in bundle["entry"]}

    assert comp["meta"]["profile"] == [COMPOSITION_PROFILE]
    assert comp["type"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "60591-5",
        "display": "Patient summary Document",
    }
    assert comp["status"] == "final"
    assert comp["date"] == "2026-11-22T09:30:00+00:00"
    assert comp["title"] == "International Patient Summary"
    assert by_url[comp["subject"]["reference"]]["resourceType"] == "Patient"
    author = by_url[comp["author"][0]["reference"]]
    assert author["resourceType"] == "Device"
    assert author["deviceName"][0]["name"] == "Yellow Button portal"
    assert author["version"] == [{"value": "0.1.0"}]
    event = comp["event"][0]
    assert event["code"][0]["coding"][0]["code"] == "PCPR"
    # From the earliest clinical date of the example to the moment the summary was made.
    assert event["period"]["end"] == "2026-11-22T09:30:00+00:00"
    assert event["period"]["start"] < "2016"


def test_sections_follow_the_ips_table_with_codes_and_titles() -> None:
    bundle = build(record_of(ALL_SECTIONS))
    codes = [section["code"]["coding"][0]["code"] for section in composition(bundle)["section"]]

    assert codes[:3] == ["11450-4", "48765-2", "10160-0"]
    assert {"11369-6", "30954-2", "47519-4", "46264-8", "8716-3", "29762-2", "10162-6", "42348-3"} <= set(
        codes
    )
    problems = section_by_code(bundle, "11450-4")
    assert problems is not None
    assert problems["title"] == "Problems"


def test_a_translated_document_has_translated_titles() -> None:
    entries = record_of(ALL_SECTIONS)
    words = {"Problems": "Problemer", "International Patient Summary": "Patientresumé"}

    bundle = assemble(
        entries, patient_key=patient_key(entries), info=INFO, translate=lambda text: words.get(text, text)
    )

    assert composition(bundle)["title"] == "Patientresumé"
    problems = section_by_code(bundle, "11450-4")
    assert problems is not None
    assert problems["title"] == "Problemer"


def test_leaving_out_medications_leaves_an_empty_section_with_a_reason_and_no_medication_text() -> None:
    entries = record_of(ALL_SECTIONS)
    everything_but_medications = frozenset(SECTION_BY_KEY) - {"medications"}

    bundle = build(entries, Choice(sections=everything_but_medications))

    assert_valid(bundle)
    medications = section_by_code(bundle, "10160-0")
    assert medications is not None
    assert "entry" not in medications
    assert medications["emptyReason"]["coding"][0]["code"] == "withheld"
    text = json.dumps(bundle)
    for word in MEDICATION_WORDS:
        assert word not in text, word
    assert "MedicationStatement" not in text
    # The same words are there when medications are included: the check above could fail.
    everything = json.dumps(build(entries))
    assert all(word in everything for word in MEDICATION_WORDS)


def test_a_required_section_without_data_says_none_is_available() -> None:
    entries = [e for e in record_of(ALL_SECTIONS) if e.section != "allergies"]

    bundle = build(entries)

    assert_valid(bundle)
    allergies = section_by_code(bundle, "48765-2")
    assert allergies is not None
    assert allergies["emptyReason"]["coding"][0]["code"] == "unavailable"
    assert "No information is available" in allergies["text"]["div"]


def test_optional_sections_without_data_or_left_out_are_absent() -> None:
    entries = record_of(ALL_SECTIONS)

    bundle = build(entries, Choice(sections=frozenset({"problems", "immunizations"})))

    assert_valid(bundle)
    codes = {section["code"]["coding"][0]["code"] for section in composition(bundle)["section"]}
    assert codes == {"11450-4", "48765-2", "10160-0", "11369-6"}


def test_a_single_left_out_item_is_gone_with_every_trace_of_it() -> None:
    entries = record_of(ALL_SECTIONS)
    immunizations = [e for e in entries if e.section == "immunizations"]
    left_out = immunizations[0]
    vaccine = left_out.resource["vaccineCode"]["coding"][0]["code"]
    others_with_same_code = [
        e for e in immunizations[1:] if any(c["code"] == vaccine for c in e.resource["vaccineCode"]["coding"])
    ]

    bundle = build(entries, Choice(excluded_items=frozenset({left_out.key})))

    assert_valid(bundle)
    section = section_by_code(bundle, "11369-6")
    assert section is not None
    assert len(section["entry"]) == len(immunizations) - 1
    if not others_with_same_code:
        assert vaccine not in json.dumps(bundle)


def test_references_to_left_out_items_are_removed_and_the_document_still_resolves() -> None:
    entries = record_of(ALL_SECTIONS)
    observation = next(e for e in entries if e.section == "results")
    condition = next(e for e in entries if e.section == "problems")
    condition_with_evidence = copy.deepcopy(dict(condition.resource))
    observation_ref = f"Observation/{observation.resource['id']}"
    condition_with_evidence["evidence"] = [
        {"detail": [{"reference": observation_ref, "display": "SECRET-RESULT"}]}
    ]
    entries = [
        e if e is not condition else RecordEntry(e.key, e.source, condition_with_evidence, e.section)
        for e in entries
    ]

    with_results = build(entries)
    without_results = build(entries, Choice(sections=frozenset({"problems", "allergies", "medications"})))

    assert_valid(without_results)
    assert "SECRET-RESULT" in json.dumps(with_results)  # the reference is kept, rewritten, while included
    assert "SECRET-RESULT" not in json.dumps(without_results)
    conditions = [
        e["resource"] for e in without_results["entry"] if e["resource"]["resourceType"] == "Condition"
    ]
    assert all("evidence" not in c for c in conditions)


def test_references_to_resources_never_fetched_are_removed() -> None:
    entries = record_of(ALL_SECTIONS)
    condition = next(e for e in entries if e.section == "problems")
    broken = {**condition.resource, "asserter": {"reference": "Practitioner/never-fetched"}}
    entries = [e if e is not condition else RecordEntry(e.key, e.source, broken, e.section) for e in entries]

    bundle = build(entries)

    assert_valid(bundle)
    assert "never-fetched" not in json.dumps(bundle)


def test_supporting_resources_come_along_only_when_referred_to() -> None:
    entries = record_of(ALL_SECTIONS)
    unrelated = RecordEntry(
        key="lonely",
        source="1",
        resource={"resourceType": "Organization", "id": "lonely", "name": "UNRELATED-ORG"},
    )

    bundle = build([*entries, unrelated])

    assert "UNRELATED-ORG" not in json.dumps(bundle)
    types = {entry["resource"]["resourceType"] for entry in bundle["entry"]}
    assert "Practitioner" in types  # named by the example's clinical items


def test_upstream_narrative_never_survives_and_generated_narrative_lists_what_is_there() -> None:
    entries = record_of(ALL_SECTIONS)
    allergy = next(e for e in entries if e.section == "allergies")
    hostile = {
        **allergy.resource,
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml">UPSTREAM-NARRATIVE<img src="file:///etc/passwd"/></div>',
        },
        "code": {"text": "<script>alert(1)</script> & penicillin"},
    }
    entries = [e if e is not allergy else RecordEntry(e.key, e.source, hostile, e.section) for e in entries]

    bundle = build(entries)

    assert_valid(bundle)
    text = json.dumps(bundle)
    assert "UPSTREAM-NARRATIVE" not in text
    assert "/etc/passwd" not in text
    section = section_by_code(bundle, "48765-2")
    assert section is not None
    assert section["text"]["status"] == "generated"
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; penicillin" in section["text"]["div"]
    # The structured text stays as it came (it is data); the narrative has it escaped.
    assert not [s for s in composition(bundle)["section"] if "<script" in s["text"]["div"]]
    # Entries carry no narrative of their own: upstream's is dropped, none is made up.
    assert [
        e
        for e in bundle["entry"][1:]
        if "text" in e["resource"] and e["resource"]["resourceType"] != "Device"
    ] == []


def test_two_sources_give_one_patient_and_their_references_meet_there() -> None:
    first = record_of(ALL_SECTIONS, source="1")
    second = record_of("Bundle-bundle-minimal", source="2")

    bundle = assemble([*first, *second], patient_key=patient_key(first), info=INFO)

    assert_valid(bundle)
    patients = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert len(patients) == 1
    comp = composition(bundle)
    assert comp["subject"]["reference"] == patients[0]["fullUrl"]
    # The second source's items are there and point at the one patient.
    second_conditions = [e for e in second if e.section == "problems"]
    problems = section_by_code(bundle, "11450-4")
    assert problems is not None
    assert len(problems["entry"]) == len([e for e in first if e.section == "problems"]) + len(
        second_conditions
    )


def test_the_same_input_gives_the_same_document() -> None:
    entries = record_of(ALL_SECTIONS)
    assert build(entries) == build(entries)


def test_no_patient_is_an_assembly_error() -> None:
    entries = [e for e in record_of(ALL_SECTIONS) if e.resource["resourceType"] != "Patient"]
    with pytest.raises(AssemblyError):
        assemble(entries, patient_key="missing", info=INFO)


def test_absurdly_deep_upstream_json_is_cut_not_followed() -> None:
    entries = record_of(ALL_SECTIONS)
    condition = next(e for e in entries if e.section == "problems")
    deep: dict[str, Any] = {"url": "http://example.org/deep", "valueString": "bottom"}
    for _ in range(300):
        deep = {"url": "http://example.org/deep", "extension": [deep]}
    hostile = {**condition.resource, "extension": [deep]}
    entries = [e if e is not condition else RecordEntry(e.key, e.source, hostile, e.section) for e in entries]

    bundle = build(entries)  # no RecursionError

    assert "bottom" not in json.dumps(bundle)


def test_assembly_does_not_change_the_stored_resources() -> None:
    entries = record_of(ALL_SECTIONS)
    before = json.dumps([e.resource for e in entries], sort_keys=True)
    build(entries, Choice(sections=frozenset({"problems"})))
    assert json.dumps([e.resource for e in entries], sort_keys=True) == before


def test_an_upstream_document_places_its_items_and_its_composition_is_never_copied() -> None:
    example = ips_example(ALL_SECTIONS)
    upstream_composition = example["entry"][0]["resource"]
    entries = record_of(ALL_SECTIONS)
    condition = next(e for e in entries if e.section == "problems")
    pointing = {
        **condition.resource,
        "extension": [
            {
                "url": "http://example.org/from",
                "valueReference": {"reference": f"Composition/{upstream_composition['id']}"},
            }
        ],
    }
    entries = [
        e if e is not condition else RecordEntry(e.key, e.source, pointing, e.section) for e in entries
    ]
    stored_composition = RecordEntry(key="upstream-composition", source="1", resource=upstream_composition)
    impaired_mobility = "Condition/4f3d8f79-2f96-48c5-b346-d47f0c66c981"

    without = build(entries)
    with_document = build([*entries, stored_composition])

    assert_valid(with_document)
    text = json.dumps(with_document)
    assert upstream_composition["id"] not in text
    assert [e["resource"]["resourceType"] for e in with_document["entry"]].count("Composition") == 1

    def functional_status(bundle: dict[str, Any]) -> int:
        section = section_by_code(bundle, "47420-5")
        return len(section["entry"]) if section else 0

    # The source filed the condition under functional status; the portal's own rule calls it a problem.
    assert impaired_mobility in json.dumps(upstream_composition)
    assert functional_status(with_document) == functional_status(without) + 1


def test_the_patients_managing_organisation_is_the_custodian_when_the_sources_hold_it() -> None:
    entries = record_of(ALL_SECTIONS)
    patient = next(e for e in entries if e.resource["resourceType"] == "Patient")
    organisation = RecordEntry(
        key="org", source="1", resource={"resourceType": "Organization", "id": "gp", "name": "Hamilton GP"}
    )
    managed = {**patient.resource, "managingOrganization": {"reference": "Organization/gp"}}
    with_organisation = [e if e is not patient else RecordEntry(e.key, e.source, managed) for e in entries]

    bundle = build([*with_organisation, organisation])

    assert_valid(bundle)
    by_url = {entry["fullUrl"]: entry["resource"] for entry in bundle["entry"]}
    assert by_url[composition(bundle)["custodian"]["reference"]]["name"] == "Hamilton GP"
    assert "custodian" not in composition(build(with_organisation))  # named but not held: no custodian


def test_each_section_names_the_sources_of_its_items_as_its_authors() -> None:
    first = record_of(ALL_SECTIONS, source="1")
    second = record_of("Bundle-bundle-minimal", source="2")
    info = DocumentInfo(
        document_id=INFO.document_id,
        timestamp=INFO.timestamp,
        source_names={"1": "Region Hovedstaden", "2": "Sundhedsjournalen"},
    )

    bundle = assemble([*first, *second], patient_key=patient_key(first), info=info)

    assert_valid(bundle)
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}

    def author_names(code: str) -> list[str]:
        section = section_by_code(bundle, code)
        assert section is not None
        authors = [by_url[author["reference"]] for author in section.get("author", [])]
        assert {a["resourceType"] for a in authors} <= {"Organization"}
        return sorted(a["name"] for a in authors)

    # Problems come from both sources; a section only the first source fills names only it.
    assert author_names("11450-4") == ["Region Hovedstaden", "Sundhedsjournalen"]
    assert author_names("8716-3") == ["Region Hovedstaden"]
    # A required section with nothing in it has no author: nobody said anything.
    organizations = [
        r for r in by_url.values() if r.get("name") in ("Region Hovedstaden", "Sundhedsjournalen")
    ]
    assert len(organizations) == 2


def test_a_source_without_a_name_adds_no_author() -> None:
    bundle = build(record_of(ALL_SECTIONS))

    assert not [s for s in composition(bundle)["section"] if "author" in s]


def test_the_narrative_words_values_as_the_wording_says_and_drops_empty_columns() -> None:
    entries = record_of(ALL_SECTIONS)
    shouting = Wording(term=lambda _context, msgid: msgid.upper(), dates=False)

    bundle = assemble(entries, patient_key=patient_key(entries), info=INFO, wording=shouting)

    assert_valid(bundle)
    allergies = section_by_code(bundle, "48765-2")
    assert allergies is not None
    assert "ACTIVE" in allergies["text"]["div"]
    assert ">active<" not in allergies["text"]["div"]
    for section in composition(bundle)["section"]:
        rows = re.findall(r"<tr>(.*?)</tr>", section["text"]["div"])
        if not rows:
            continue
        head, body = rows[0], rows[1:]
        columns = len(re.findall("<th>", head))
        assert re.findall("<th>", head)
        for row in body:
            assert len(re.findall("<td>", row)) == columns
        # Every column but the first has at least one filled cell.
        cells = [re.findall(r"<td>(.*?)</td>", row) for row in body]
        for index in range(1, columns):
            assert any(row[index] for row in cells), (section["title"], index)
