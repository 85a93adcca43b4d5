"""The IPS document validator against the IG's own examples, and one broken copy per rule."""

from __future__ import annotations

import copy
import json
import pickle
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.ips import validate
from core.ips.profiles import BUNDLE_PROFILE, COMPOSITION_PROFILE
from core.ips.validate import (
    MAX_DEPTH,
    MAX_STRUCTURE_PROBLEMS,
    InvalidDocument,
    Problem,
    ensure_valid,
    validate_document,
    validate_document_rules,
    validate_structure,
)
from tests.conftest import ips_example

ALL_SECTIONS = "Bundle-bundle-ips-all-sections"
EXAMPLES = (
    ALL_SECTIONS,
    "Bundle-bundle-minimal",
    "Bundle-IPS-examples-Bundle-01",
    "Bundle-bundle-no-info-required-sections",
)
PROBLEMS, ALLERGIES, MEDICATIONS = "11450-4", "48765-2", "10160-0"
IMMUNIZATIONS = "11369-6"

Bundle = dict[str, Any]


# ---------------------------------------------------------------------------- helpers


def new_urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def rewrite_references(node: Any, renamed: dict[str, str]) -> None:
    """Point every reference in ``node`` that ``renamed`` knows at its new target."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and value in renamed:
                node[key] = renamed[value]
            else:
                rewrite_references(value, renamed)
    elif isinstance(node, list):
        for item in node:
            rewrite_references(item, renamed)


def portal_shaped(bundle: Bundle) -> Bundle:
    """An official example as the portal emits documents: urn:uuid fullUrls, references to match, profiles."""
    bundle = copy.deepcopy(bundle)
    renamed: dict[str, str] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        urn = new_urn()
        renamed[entry["fullUrl"]] = urn
        renamed[f"{resource['resourceType']}/{resource['id']}"] = urn
        entry["fullUrl"] = urn
        resource["id"] = urn.removeprefix("urn:uuid:")
    rewrite_references(bundle["entry"], renamed)
    bundle["meta"] = {**bundle.get("meta", {}), "profile": [BUNDLE_PROFILE]}
    composition = bundle["entry"][0]["resource"]
    composition["meta"] = {**composition.get("meta", {}), "profile": [COMPOSITION_PROFILE]}
    return bundle


def rules_of(problems: list[Problem]) -> set[str]:
    return {problem.rule for problem in problems}


def index_of(bundle: Bundle, resource_type: str) -> int:
    return next(
        i for i, entry in enumerate(bundle["entry"]) if entry["resource"]["resourceType"] == resource_type
    )


def composition(bundle: Bundle) -> dict[str, Any]:
    resource: dict[str, Any] = bundle["entry"][0]["resource"]
    return resource


def section(bundle: Bundle, loinc: str) -> dict[str, Any]:
    return section_in(composition(bundle), loinc)


def section_in(resource: dict[str, Any], loinc: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in resource["section"] if s["code"]["coding"][0]["code"] == loinc)
    return found


def copy_of_entry(bundle: Bundle, resource_type: str) -> dict[str, Any]:
    """A copy of the first entry of that type under a new urn:uuid."""
    entry = copy.deepcopy(bundle["entry"][index_of(bundle, resource_type)])
    entry["fullUrl"] = new_urn()
    entry["resource"]["id"] = entry["fullUrl"].removeprefix("urn:uuid:")
    return entry


def nested(depth: int) -> dict[str, Any]:
    """An extension nested ``depth`` levels deep (an object and a list each), built without recursion."""
    node: dict[str, Any] = {"url": "http://example.org/leaf", "valueString": "x"}
    for _ in range(depth):
        node = {"url": "http://example.org/level", "extension": [node]}
    return node


@pytest.fixture(scope="module")
def official_all_sections() -> Bundle:
    return ips_example(ALL_SECTIONS)


@pytest.fixture
def valid(official_all_sections: Bundle) -> Bundle:
    """The all-sections example in the portal's shape: a fresh copy for each test to break."""
    return portal_shaped(official_all_sections)


# ---------------------------------------------------------------------------- valid documents


@pytest.mark.parametrize("name", EXAMPLES)
def test_official_examples_in_the_portals_shape_are_valid_by_every_rule(name: str) -> None:
    bundle = portal_shaped(ips_example(name))
    assert validate_document(bundle) == []
    ensure_valid(bundle)


@pytest.mark.parametrize("name", EXAMPLES)
def test_official_examples_as_published_are_valid_without_the_portals_own_rules(name: str) -> None:
    bundle = ips_example(name)
    assert validate_document(bundle, require_uuid_fullurls=False, require_profiles=False) == []


@pytest.mark.parametrize(
    ("name", "broken"),
    [
        # https fullUrls with relative "Type/id" references; both profiles declared.
        (ALL_SECTIONS, {"ips-fullurl-uuid"}),
        # urn:uuid fullUrls, but the Composition does not declare its profile (only the Bundle does).
        ("Bundle-bundle-minimal", {"ips-composition-profile"}),
        ("Bundle-IPS-examples-Bundle-01", {"ips-composition-profile"}),
        ("Bundle-bundle-no-info-required-sections", {"ips-fullurl-uuid", "ips-composition-profile"}),
    ],
)
def test_official_examples_break_only_the_portals_own_rules(name: str, broken: set[str]) -> None:
    # Why the two flags exist: every official example declares the Bundle profile, but only one the
    # Composition profile, and two use https fullUrls.
    assert rules_of(validate_document(ips_example(name))) == broken


def test_bundle_json_is_validated_as_given(valid: Bundle) -> None:
    text = json.dumps(valid)
    assert validate_document(valid, bundle_json=text) == []
    assert validate_document(valid, bundle_json=text.encode()) == []
    # The serialised form is what the structure check reads, not the mapping.
    broken = text.replace('"birthDate":', '"birthDay":', 1)
    assert rules_of(validate_document(valid, bundle_json=broken)) == {"fhir-structure"}


def test_contained_references_and_the_containing_resource_resolve(valid: Bundle) -> None:
    observation = valid["entry"][index_of(valid, "Observation")]["resource"]
    observation["contained"] = [{"resourceType": "Practitioner", "id": "p1", "name": [{"family": "Doe"}]}]
    observation["performer"] = [{"reference": "#p1"}]
    observation["basedOn"] = [{"reference": "#"}]
    assert validate_document(valid) == []


def test_references_in_narratives_are_not_followed(valid: Bundle) -> None:
    # A Narrative may carry extensions; nothing in a resource's text is read, references included.
    patient = valid["entry"][index_of(valid, "Patient")]["resource"]
    patient["text"]["extension"] = [
        {
            "url": "http://example.org/x",
            "valueReference": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000000"},
        }
    ]
    assert validate_document_rules(valid) == []


def test_relative_references_resolve_only_to_an_entry_with_that_type_and_id(
    official_all_sections: Bundle,
) -> None:
    bundle = copy.deepcopy(official_all_sections)
    observation = bundle["entry"][index_of(bundle, "Observation")]["resource"]
    observation["performer"] = [{"reference": "Practitioner/816cf057-b736-4e08-baed-cc21e081b784"}]
    assert validate_document_rules(bundle, require_uuid_fullurls=False) == []
    observation["performer"] = [{"reference": "Practitioner/no-such-id"}]
    assert rules_of(validate_document_rules(bundle, require_uuid_fullurls=False)) == {
        "ips-references-resolve"
    }


def test_validation_leaves_the_bundle_as_it_was(valid: Bundle) -> None:
    before = copy.deepcopy(valid)
    validate_document(valid)
    assert valid == before
    second_composition(valid)  # invalid ones too
    before = copy.deepcopy(valid)
    assert validate_document(valid)
    assert valid == before


def test_a_repeated_fullurl_is_allowed_for_different_versions(valid: Bundle) -> None:
    # bdl-7's exception: the IG's examples never use it, but the rule allows it.
    original = valid["entry"][index_of(valid, "Observation")]
    later = copy.deepcopy(original)
    original["resource"]["meta"] = {"versionId": "1"}
    later["resource"]["meta"] = {"versionId": "2"}
    valid["entry"].append(later)
    assert validate_document_rules(valid) == []


# ---------------------------------------------------------------------------- one broken copy per rule

Breaker = Callable[[Bundle], None]


def set_path(path: str, value: Any) -> Breaker:
    """Set a dotted path below the bundle ("type", "identifier.system"); None deletes it."""

    def breaker(bundle: Bundle) -> None:
        *parents, last = (int(part) if part.isdigit() else part for part in path.split("."))
        node: Any = bundle
        for part in parents:
            node = node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value

    return breaker


def on_composition(change: Callable[[dict[str, Any]], None]) -> Breaker:
    return lambda bundle: change(composition(bundle))


def on_section(loinc: str, change: Callable[[dict[str, Any]], None]) -> Breaker:
    return lambda bundle: change(section(bundle, loinc))


def on_entry(resource_type: str, change: Callable[[dict[str, Any]], None]) -> Breaker:
    return lambda bundle: change(bundle["entry"][index_of(bundle, resource_type)])


def composition_not_first(bundle: Bundle) -> None:
    bundle["entry"][0], bundle["entry"][1] = bundle["entry"][1], bundle["entry"][0]


def second_composition(bundle: Bundle) -> None:
    bundle["entry"].append(copy_of_entry(bundle, "Composition"))


def no_patient(bundle: Bundle) -> None:
    del bundle["entry"][index_of(bundle, "Patient")]


def two_patients(bundle: Bundle) -> None:
    bundle["entry"].append(copy_of_entry(bundle, "Patient"))


def duplicate_fullurl(bundle: Bundle) -> None:
    bundle["entry"].append(copy.deepcopy(bundle["entry"][index_of(bundle, "Observation")]))


def without_section(loinc: str) -> Breaker:
    return on_composition(
        lambda c: c.update(section=[s for s in c["section"] if s["code"]["coding"][0]["code"] != loinc])
    )


def emptied_section(loinc: str) -> Breaker:
    return on_section(loinc, lambda s: s.pop("entry"))


def repeated_section(loinc: str) -> Breaker:
    return on_composition(lambda c: c["section"].append(copy.deepcopy(section_in(c, loinc))))


def author_elsewhere(bundle: Bundle) -> None:
    composition(bundle)["author"] = [{"reference": new_urn()}]


def subject_elsewhere(bundle: Bundle) -> None:
    # The author's Organization: it resolves, but it is not the Patient.
    composition(bundle)["subject"] = {"reference": composition(bundle)["author"][0]["reference"]}


def unresolved_deep_in_observation(bundle: Bundle) -> None:
    observation = bundle["entry"][index_of(bundle, "Observation")]["resource"]
    observation["code"]["coding"][0]["extension"] = [
        {"url": "http://example.org/source", "valueReference": {"reference": new_urn()}}
    ]


def dangling_contained(bundle: Bundle) -> None:
    bundle["entry"][index_of(bundle, "Observation")]["resource"]["performer"] = [{"reference": "#nobody"}]


def too_deep(bundle: Bundle) -> None:
    bundle["entry"][index_of(bundle, "Observation")]["resource"]["extension"] = [nested(MAX_DEPTH)]


def nested_section(bundle: Bundle) -> None:
    results = section(bundle, "30954-2")
    results["section"] = [copy.deepcopy(section(bundle, IMMUNIZATIONS))]


# (rule broken, how, every rule key that must come out: the one rule, plus any the change unavoidably breaks)
BREAKERS: list[tuple[str, Breaker, set[str]]] = [
    ("ips-bundle-resource", set_path("resourceType", "Parameters"), set()),
    ("ips-bundle-type", set_path("type", "collection"), set()),
    ("bdl-9", set_path("identifier.system", None), set()),
    ("bdl-9", set_path("identifier", None), set()),
    ("bdl-10", set_path("timestamp", None), set()),
    # The Composition, now second, is also one after the first.
    ("bdl-11", composition_not_first, {"bdl-ips-1"}),
    ("bdl-ips-1", second_composition, set()),
    ("ips-one-patient", no_patient, {"ips-composition-subject", "ips-references-resolve"}),
    ("ips-one-patient", two_patients, set()),
    # The Composition's entry: nothing refers to it by fullUrl.
    ("ips-fullurl-required", set_path("entry.0.fullUrl", None), set()),
    ("bdl-7", duplicate_fullurl, set()),
    (
        "bdl-8",
        set_path("entry.0.fullUrl", "https://example.org/fhir/Composition/1/_history/2"),
        {"ips-fullurl-uuid"},
    ),
    ("ips-fullurl-uuid", set_path("entry.0.fullUrl", "https://example.org/fhir/Composition/1"), set()),
    ("ips-fullurl-uuid", on_entry("Composition", lambda e: e.update(fullUrl=e["fullUrl"].upper())), set()),
    ("bdl-2", on_entry("Observation", lambda e: e.update(search={"mode": "match"})), set()),
    (
        "bdl-3",
        on_entry("Observation", lambda e: e.update(request={"method": "POST", "url": "Observation"})),
        set(),
    ),
    ("bdl-4", on_entry("Observation", lambda e: e.update(response={"status": "201 Created"})), set()),
    ("bdl-5", lambda b: b["entry"].append({"fullUrl": new_urn()}), set()),
    ("ips-bundle-profile", set_path("meta.profile", None), set()),
    ("ips-bundle-profile", set_path("meta.profile", ["http://example.org/other-profile"]), set()),
    ("ips-composition-profile", on_composition(lambda c: c.pop("meta")), set()),
    ("ips-composition-type", on_composition(lambda c: c["type"]["coding"][0].update(code="11503-0")), set()),
    ("ips-composition-status", on_composition(lambda c: c.update(status="preliminary")), set()),
    ("ips-composition-date", on_composition(lambda c: c.pop("date")), set()),
    ("ips-composition-title", on_composition(lambda c: c.pop("title")), set()),
    ("ips-composition-subject", on_composition(lambda c: c.pop("subject")), set()),
    ("ips-composition-subject", subject_elsewhere, set()),
    ("ips-composition-author", on_composition(lambda c: c.pop("author")), set()),
    ("ips-composition-event", on_composition(lambda c: c.pop("event")), set()),
    ("ips-composition-event", on_composition(lambda c: c["event"][0].pop("period")), set()),
    (
        "ips-composition-event",
        on_composition(lambda c: c["event"][0]["code"][0]["coding"][0].update(code="PART")),
        set(),
    ),
    ("ips-composition-author", author_elsewhere, {"ips-references-resolve"}),
    ("ips-composition-author", on_composition(lambda c: c.update(author=[{"display": "Dr Who"}])), set()),
    ("ips-required-sections", without_section(PROBLEMS), set()),
    ("ips-required-sections", without_section(ALLERGIES), set()),
    ("ips-required-sections", without_section(MEDICATIONS), set()),
    ("ips-required-sections", repeated_section(MEDICATIONS), {"ips-section-unique"}),
    ("ips-comp-1", emptied_section(PROBLEMS), set()),
    ("ips-comp-1", emptied_section(ALLERGIES), set()),
    ("ips-comp-1", emptied_section(MEDICATIONS), set()),
    ("ips-section-unique", repeated_section(IMMUNIZATIONS), set()),
    ("ips-section-code", on_section(IMMUNIZATIONS, lambda s: s.pop("code")), set()),
    ("ips-section-title", on_section(IMMUNIZATIONS, lambda s: s.pop("title")), set()),
    ("ips-section-text", on_section(IMMUNIZATIONS, lambda s: s.pop("text")), {"ips-section-text-status"}),
    ("ips-section-text-status", on_section(IMMUNIZATIONS, lambda s: s["text"].pop("status")), set()),
    ("cmp-2", on_section(IMMUNIZATIONS, lambda s: s.update(emptyReason={"text": "withheld"})), set()),
    ("ips-section-nested", nested_section, set()),
    ("ips-references-resolve", unresolved_deep_in_observation, set()),
    ("ips-references-resolve", dangling_contained, set()),
    ("ips-max-depth", too_deep, set()),
]


@pytest.mark.parametrize(
    ("rule", "breaker", "also"),
    BREAKERS,
    ids=[f"{rule}-{i}" for i, (rule, _, _) in enumerate(BREAKERS)],
)
def test_each_rule_catches_its_break(valid: Bundle, rule: str, breaker: Breaker, also: set[str]) -> None:
    breaker(valid)
    problems = validate_document_rules(valid)
    assert rules_of(problems) == {rule, *also}
    for problem in problems:
        assert problem.message
        assert problem.location.startswith("Bundle"), problem


def test_every_rule_key_has_a_breaking_test() -> None:
    # Every rule key written in the validator's source is broken by a case above (or below, for structure).
    source = Path(validate.__file__).read_text(encoding="utf-8")
    keys = set(re.findall(r'"((?:ips|bdl|cmp)-[a-z0-9-]+|fhir-structure)"', source))
    assert len(keys) > 30
    assert keys == {rule for rule, _, _ in BREAKERS} | {"fhir-structure"}


def test_problems_say_where(valid: Bundle) -> None:
    at = index_of(valid, "Observation")
    duplicate_fullurl(valid)
    unresolved_deep_in_observation(valid)
    on_entry("Observation", lambda e: e.update(request={"method": "POST", "url": "Observation"}))(valid)
    problems = validate_document_rules(valid)
    locations = {problem.rule: problem.location for problem in problems}
    assert locations == {
        "ips-references-resolve": f"Bundle.entry[{at}].resource.code.coding[0].extension[0]"
        ".valueReference.reference",
        "bdl-7": f"Bundle.entry[{len(valid['entry']) - 1}].fullUrl",
        "bdl-3": f"Bundle.entry[{at}].request",
    }
    # A urn:uuid reference is named in the message: it is random and says nothing.
    urn = valid["entry"][at]["resource"]["code"]["coding"][0]["extension"][0]["valueReference"]["reference"]
    assert urn in next(p.message for p in problems if p.rule == "ips-references-resolve")


def test_the_flags_turn_off_only_their_rules(valid: Bundle) -> None:
    valid["entry"][0]["fullUrl"] = "https://example.org/fhir/Composition/1"
    del valid["meta"]["profile"]
    del composition(valid)["meta"]
    assert rules_of(validate_document_rules(valid)) == {
        "ips-fullurl-uuid",
        "ips-bundle-profile",
        "ips-composition-profile",
    }
    assert rules_of(validate_document_rules(valid, require_uuid_fullurls=False)) == {
        "ips-bundle-profile",
        "ips-composition-profile",
    }
    assert validate_document_rules(valid, require_uuid_fullurls=False, require_profiles=False) == []


# ---------------------------------------------------------------------------- structure (fhir.resources)


def test_a_malformed_date_is_a_structural_problem_without_the_value(valid: Bundle) -> None:
    at = index_of(valid, "Patient")
    valid["entry"][at]["resource"]["birthDate"] = "not-a-date"
    problems = validate_document(valid)
    assert [(p.rule, p.location) for p in problems] == [
        ("fhir-structure", f"Bundle.entry[{at}].resource.birthDate")
    ]
    assert "not-a-date" not in str(problems)


def test_an_unknown_element_is_a_structural_problem(valid: Bundle) -> None:
    at = index_of(valid, "Observation")
    valid["entry"][at]["resource"]["favouriteColour"] = "blue"
    problems = validate_structure(json.dumps(valid))
    assert [(p.rule, p.location) for p in problems] == [
        ("fhir-structure", f"Bundle.entry[{at}].resource.favouriteColour")
    ]


def test_structural_problems_are_capped(valid: Bundle) -> None:
    for entry in valid["entry"]:
        entry["resource"]["unknownElement"] = True
    problems = validate_structure(json.dumps(valid))
    assert len(problems) == MAX_STRUCTURE_PROBLEMS
    assert (
        problems[-1].message == f"{len(valid['entry']) - MAX_STRUCTURE_PROBLEMS + 1} more structural errors"
    )


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"resourceType": "Patient"}',
        # The models raise a KeyError (not a ValidationError) for an unknown resourceType.
        '{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Nonsense"}}]}',
        '{"resourceType": "Bundle", "type": "document", "entry": 5}',
    ],
)
def test_unreadable_input_is_a_structural_problem(text: str) -> None:
    problems = validate_structure(text)
    assert problems
    assert rules_of(problems) == {"fhir-structure"}
    assert "Nonsense" not in str(problems)


# ---------------------------------------------------------------------------- hostile input


def test_hostile_depth_is_reported_not_recursed(valid: Bundle) -> None:
    # Far beyond Python's recursion limit: the rules walk iteratively, json.dumps refuses.
    valid["entry"][index_of(valid, "Observation")]["resource"]["extension"] = [nested(100_000)]
    assert rules_of(validate_document_rules(valid)) == {"ips-max-depth"}
    assert rules_of(validate_document(valid)) == {"ips-max-depth", "fhir-structure"}


def test_hostile_depth_in_json_is_refused_by_the_parser() -> None:
    deep = '{"url": "x", "extension": [' * 5_000 + '{"url": "y", "valueString": "z"}' + "]}" * 5_000
    text = (
        '{"resourceType": "Bundle", "type": "document", "entry": [{"resource": '
        f'{{"resourceType": "Patient", "extension": [{deep}]}}}}]}}'
    )
    assert rules_of(validate_structure(text)) == {"fhir-structure"}


@pytest.mark.parametrize(
    "bundle",
    [
        {},
        {"resourceType": "Bundle"},
        {"resourceType": "Bundle", "type": "document", "entry": "abc"},
        {"resourceType": "Bundle", "type": ["document"], "entry": [1, None, "x", [], {}]},
        {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Composition", "section": 5}}]},
        {
            "resourceType": "Bundle",
            "entry": [{"resource": {"resourceType": "Composition", "section": [{"code": 3}]}}],
        },
        {
            "resourceType": "Bundle",
            "entry": [{"resource": {"resourceType": "Composition", "subject": "x", "author": 1}}],
        },
        {
            "resourceType": "Bundle",
            "entry": [{"fullUrl": 7, "resource": {"resourceType": 7, "contained": 7}}],
        },
        {
            "resourceType": "Bundle",
            "entry": [{"resource": {"resourceType": "Patient", "x": {"reference": 5}}}],
        },
    ],
)
def test_malformed_bundles_give_problems_not_exceptions(bundle: Bundle) -> None:
    assert validate_document(bundle)


def test_a_bundle_that_is_not_an_object() -> None:
    not_a_mapping: Any = ["Bundle"]
    assert rules_of(validate_document_rules(not_a_mapping)) == {"ips-bundle-resource"}


# ---------------------------------------------------------------------------- ensure_valid and messages


def test_ensure_valid_raises_with_the_problems(valid: Bundle) -> None:
    composition(valid)["status"] = "preliminary"
    del valid["timestamp"]
    with pytest.raises(InvalidDocument) as raised:
        ensure_valid(valid)
    assert raised.value.problems == validate_document(valid)
    assert rules_of(raised.value.problems) == {"bdl-10", "ips-composition-status"}
    assert str(raised.value).startswith("not a valid IPS document, 2 problems: [")
    assert "ips-composition-status" in str(raised.value)
    # Celery carries exceptions pickled.
    assert pickle.loads(pickle.dumps(raised.value)).problems == raised.value.problems  # noqa: S301


def test_ensure_valid_accepts_a_valid_document(valid: Bundle) -> None:
    ensure_valid(valid, bundle_json=json.dumps(valid))


CLINICAL = ("Penicillin", "JORDANA", "Patricia", "Essential hypertension", "Gout")


@pytest.mark.parametrize(
    ("rule", "breaker"),
    [(rule, breaker) for rule, breaker, _ in BREAKERS],
    ids=[rule for rule, _, _ in BREAKERS],
)
def test_problems_never_quote_clinical_content(valid: Bundle, rule: str, breaker: Breaker) -> None:
    assert all(text in json.dumps(valid) for text in CLINICAL)
    breaker(valid)
    assert_no_clinical_content(validate_document(valid))


def test_problems_never_quote_clinical_content_put_where_messages_could_pick_it_up(valid: Bundle) -> None:
    patient = valid["entry"][index_of(valid, "Patient")]["resource"]
    allergy = valid["entry"][index_of(valid, "AllergyIntolerance")]["resource"]
    patient["birthDate"] = "Penicillin allergy"
    patient["gender"] = ["Gout"]
    patient["maritalStatus"] = "Essential hypertension"
    allergy["code"]["coding"][0]["extension"] = [
        {"url": "x", "valueReference": {"reference": "Patricia JORDANA"}}
    ]
    composition(valid)["section"].append(copy.deepcopy(composition(valid)["section"][0]))
    composition(valid)["section"][-1]["code"]["coding"] = [{"system": "http://loinc.org", "code": "Gout"}]
    composition(valid)["subject"] = {"reference": "Patricia"}
    # Ids are free text too: references by id are not repeated in messages.
    patient["generalPractitioner"] = [{"reference": "#Gout"}, {"reference": "Practitioner/JORDANA"}]
    problems = validate_document(valid)
    assert {"fhir-structure", "ips-references-resolve", "ips-composition-subject"} <= rules_of(problems)
    assert_no_clinical_content(problems)


def assert_no_clinical_content(problems: list[Problem]) -> None:
    for problem in problems:
        for text in CLINICAL:
            assert text not in problem.message, problem
            assert text not in problem.location, problem


# ---------------------------------------------------------------------------- a large record


def large_document(official: Bundle, entries: int = 2_000) -> Bundle:
    """The all-sections example with its Observations copied until there are ``entries`` entries."""
    bundle = portal_shaped(official)
    observations = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    results = section(bundle, "30954-2")
    while len(bundle["entry"]) < entries:
        entry = copy.deepcopy(observations[len(bundle["entry"]) % len(observations)])
        entry["fullUrl"] = new_urn()
        entry["resource"]["id"] = entry["fullUrl"].removeprefix("urn:uuid:")
        bundle["entry"].append(entry)
        results["entry"].append({"reference": entry["fullUrl"]})
    return bundle


def best_of(runs: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def test_a_large_document_is_valid_and_its_rules_cost_little_beside_the_models(
    official_all_sections: Bundle,
) -> None:
    bundle = large_document(official_all_sections)
    text = json.dumps(bundle)
    assert validate_structure(text) == []
    assert validate_document_rules(bundle) == []
    structure = best_of(2, lambda: validate_structure(text))
    rules = best_of(3, lambda: validate_document_rules(bundle))
    # The budget is 20% (validation at most 1.2x the models alone); this loose bound only catches a rule
    # that has turned quadratic or started walking every entry in FHIRPath.
    assert rules < 0.5 * structure, f"rules {rules:.3f}s, structure {structure:.3f}s"


def test_entry_rules_name_offenders_among_thousands_of_alike_entries(official_all_sections: Bundle) -> None:
    # FHIRPath sees one entry per shape; the offenders must still be found and named.
    bundle = large_document(official_all_sections)
    bundle["entry"][1500]["request"] = {"method": "POST", "url": "Observation"}
    bundle["entry"][1700]["resource"] = composition(bundle)
    bundle["entry"][1800]["fullUrl"] = bundle["entry"][1801]["fullUrl"]
    located = {(p.rule, p.location) for p in validate_document_rules(bundle)}
    assert ("bdl-3", "Bundle.entry[1500].request") in located
    assert ("bdl-ips-1", "Bundle.entry[1700].resource") in located
    assert ("bdl-7", "Bundle.entry[1801].fullUrl") in located
