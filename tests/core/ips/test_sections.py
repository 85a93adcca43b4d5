"""The IPS sections table against the IG's Composition profile, and section_of against the IG's examples."""

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from core.i18n import gettext_noop
from core.ips import sections
from core.ips.sections import (
    SECTION_BY_KEY,
    SECTION_BY_LOINC,
    SECTIONS,
    Section,
    section_of,
)
from tests.conftest import IPS_EXAMPLES, ips_example, ips_package_file

IPS_PACKAGE = IPS_EXAMPLES.parent
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

# What the portal does differently from the all-sections example's Composition, and why:
# - "Impaired Mobility" is an active Condition with no category; the example files it under Functional
#   Status (the profile's "disability" slice), but nothing in the resource says so, and an active
#   Condition is a problem. A Condition shows under Functional Status only with a functional-status /
#   disability-status / cognitive-status category.
# - The example lists its Consent under both Patient Story and Advance Directives; a resource has one
#   section here (Advance Directives). The IG defines no entry slice for the Patient Story section.
KNOWN_DISAGREEMENTS = {
    "Condition/4f3d8f79-2f96-48c5-b346-d47f0c66c981": ("functional_status", "problems"),
}


def composition_sections(bundle: dict[str, Any]) -> dict[str, set[str]]:
    """Entry key ("Type/id") → the keys of the sections the bundle's own Composition puts it in."""
    by_reference: dict[str, str] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        key = f"{resource['resourceType']}/{resource['id']}"
        by_reference[key] = key
        by_reference[entry["fullUrl"]] = key
    composition = bundle["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition"
    placed: dict[str, set[str]] = {}
    for section in composition["section"]:
        loinc = section["code"]["coding"][0]["code"]
        for reference in section.get("entry", []):
            placed.setdefault(by_reference[reference["reference"]], set()).add(SECTION_BY_LOINC[loinc].key)
    return placed


def imported_modules(source: str) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def key_of(resource: dict[str, Any]) -> str | None:
    found = section_of(resource)
    return found.key if found is not None else None


# ---------------------------------------------------------------------------- the table


def test_sixteen_sections_in_the_igs_order() -> None:
    assert [s.key for s in SECTIONS] == [
        "problems",
        "allergies",
        "medications",
        "immunizations",
        "results",
        "procedures",
        "devices",
        "vital_signs",
        "past_illness",
        "functional_status",
        "plan_of_care",
        "social_history",
        "pregnancy",
        "advance_directives",
        "alerts",
        "patient_story",
    ]
    assert [s.loinc for s in SECTIONS] == [
        "11450-4",
        "48765-2",
        "10160-0",
        "11369-6",
        "30954-2",
        "47519-4",
        "46264-8",
        "8716-3",
        "11348-0",
        "47420-5",
        "18776-5",
        "29762-2",
        "10162-6",
        "42348-3",
        "104605-1",
        "81338-6",
    ]


def test_required_and_recommended() -> None:
    assert [s.key for s in SECTIONS if s.required] == ["problems", "allergies", "medications"]
    assert [s.key for s in SECTIONS if s.recommended] == ["immunizations", "results", "procedures", "devices"]
    assert not any(s.required and s.recommended for s in SECTIONS)
    assert SECTION_BY_KEY["alerts"].optional
    assert not SECTION_BY_KEY["results"].optional


def test_lookups_cover_every_section() -> None:
    assert len(SECTION_BY_KEY) == len(SECTION_BY_LOINC) == len(SECTIONS) == 16
    for section in SECTIONS:
        assert SECTION_BY_KEY[section.key] is section
        assert SECTION_BY_LOINC[section.loinc] is section
    with pytest.raises(TypeError):
        SECTION_BY_KEY["x"] = SECTIONS[0]  # type: ignore[index]


def test_sections_are_frozen() -> None:
    with pytest.raises(AttributeError):
        SECTIONS[0].title = "Other"  # type: ignore[misc]


def test_every_classified_type_is_a_source_type() -> None:
    for section in SECTIONS:
        assert set(section.resource_types) <= set(section.source_types), section.key


def test_titles_are_marked_for_translation_without_django() -> None:
    assert gettext_noop("Allergies and Intolerances") == "Allergies and Intolerances"
    source = Path(sections.__file__).read_text(encoding="utf-8")
    outside_the_core = {name for name in imported_modules(source) if not name.startswith("core.")}
    assert outside_the_core <= {"__future__", "collections.abc", "dataclasses", "types", "typing"}
    for section in SECTIONS:
        # makemessages finds the literal inside gettext_noop(…)
        assert f'title=gettext_noop("{section.title}")' in source


def test_table_matches_the_igs_composition_profile() -> None:
    profile = ips_package_file("StructureDefinition-Composition-uv-ips")
    elements = profile["snapshot"]["element"]
    slices = {
        e["sliceName"]: e for e in elements if e["path"] == "Composition.section" and e.get("sliceName")
    }
    assert set(slices) == {s.slice_name for s in SECTIONS}

    profile_types = {}
    for path in IPS_PACKAGE.glob("StructureDefinition-*.json"):
        definition = json.loads(path.read_text(encoding="utf-8"))
        profile_types[definition["url"]] = definition["type"]

    def type_of(profile_url: str) -> str:
        if profile_url in profile_types:
            return profile_types[profile_url]
        base = profile_url.rsplit("/", 1)[-1]  # core FHIR profiles: …/StructureDefinition/Consent
        return "Observation" if base == "vitalsigns" else base

    for section in SECTIONS:
        element = slices[section.slice_name]
        code = next(e for e in elements if e["id"] == f"Composition.section:{section.slice_name}.code")
        assert code["patternCodeableConcept"]["coding"] == [
            {"system": "http://loinc.org", "code": section.loinc}
        ]
        assert section.required == (element["min"] == 1)
        # "IPS Allergies and Intolerances Section" → "Allergies and Intolerances"
        assert section.title == re.sub(r"^IPS | Section$", "", element["short"])
        entry_types = {
            type_of(target)
            for e in elements
            if e["path"] == "Composition.section.entry"
            and e["id"].startswith(f"Composition.section:{section.slice_name}.entry:")
            for kind in e.get("type", [])
            for target in kind.get("targetProfile", [])
        }
        assert set(section.resource_types) == entry_types, section.key


def test_loinc_displays_match_the_all_sections_example() -> None:
    composition = ips_example("Bundle-bundle-ips-all-sections")["entry"][0]["resource"]
    for section in composition["section"]:
        coding = section["code"]["coding"][0]
        assert SECTION_BY_LOINC[coding["code"]].loinc_display == coding["display"]
    assert {s["code"]["coding"][0]["code"] for s in composition["section"]} == {s.loinc for s in SECTIONS}


def test_pregnancy_codes_match_the_igs_pregnancy_profiles() -> None:
    status = ips_package_file("StructureDefinition-Observation-pregnancy-status-uv-ips")
    code = next(e for e in status["snapshot"]["element"] if e["id"] == "Observation.code")
    assert {c["code"] for c in code["patternCodeableConcept"]["coding"]} == sections.PREGNANCY_STATUS_CODES
    for value_set, codes in (
        ("ValueSet-pregnancies-summary-uv-ips", sections.PREGNANCY_OUTCOME_CODES),
        ("ValueSet-edd-method-uv-ips", sections.PREGNANCY_EDD_CODES),
    ):
        include = ips_package_file(value_set)["compose"]["include"]
        assert {c["code"] for i in include for c in i["concept"]} == codes


# ---------------------------------------------------------------------------- section_of on the IG's examples


def test_all_sections_example_classifies_as_its_composition_says() -> None:
    bundle = ips_example("Bundle-bundle-ips-all-sections")
    placed = composition_sections(bundle)
    seen_disagreements = {}
    for entry in bundle["entry"][1:]:
        resource = entry["resource"]
        key = f"{resource['resourceType']}/{resource['id']}"
        ours = key_of(resource)
        theirs = placed.get(key, set())
        if key in KNOWN_DISAGREEMENTS:
            seen_disagreements[key] = (next(iter(theirs)), ours)
            continue
        if theirs:
            assert ours in theirs, f"{key}: example {theirs}, portal {ours}"
        else:
            assert ours is None, f"{key} is in no section of the example, the portal puts it in {ours}"
    assert seen_disagreements == KNOWN_DISAGREEMENTS


def test_all_sections_example_every_section_gets_its_entries() -> None:
    bundle = ips_example("Bundle-bundle-ips-all-sections")
    keys = {key_of(e["resource"]) for e in bundle["entry"]}
    # Every section with entries in the example, except Patient Story (its Consent goes to Advance
    # Directives) and Functional Status (its one entry is an uncategorised active Condition: a problem).
    assert keys - {None} == {s.key for s in SECTIONS} - {"patient_story", "functional_status"}


def test_all_sections_example_consent_and_document() -> None:
    bundle = ips_example("Bundle-bundle-ips-all-sections")
    by_type = {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}
    placed = composition_sections(bundle)
    consent = by_type["Consent"]
    assert placed[f"Consent/{consent['id']}"] == {"patient_story", "advance_directives"}
    assert key_of(consent) == "advance_directives"
    # The Consent's source document is typed "Health concerns" / "Patient data": no section of its own.
    document = by_type["DocumentReference"]
    assert f"DocumentReference/{document['id']}" not in placed
    assert key_of(document) is None


@pytest.mark.parametrize(
    "name",
    [
        "Bundle-IPS-examples-Bundle-01",
        "Bundle-IPS-examples-Bundle-with-immunization",
        "Bundle-bundle-minimal",
        "Bundle-bundle-no-info-required-sections",
    ],
)
def test_other_example_bundles_agree(name: str) -> None:
    bundle = ips_example(name)
    placed = composition_sections(bundle)
    assert placed
    for entry in bundle["entry"]:
        resource = entry["resource"]
        theirs = placed.get(f"{resource['resourceType']}/{resource['id']}")
        if theirs is not None:
            assert key_of(resource) in theirs, (name, resource["resourceType"], resource["id"])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AllergyIntolerance-allergyintolerance-multiple-codings", "allergies"),
        ("AllergyIntolerance-allergyintolerance-with-abatement", "allergies"),
        ("Condition-eumfh-39-07-1", "problems"),
        ("DeviceUseStatement-eumfh-70-275-1", "devices"),
        ("DiagnosticReport-hemoglobin", "results"),
        ("Flag-546482", "alerts"),
        ("Immunization-75680", "immunizations"),
        ("MedicationRequest-eumfh-39-07-1-request", "medications"),
        ("MedicationStatement-eumfh-39-07-1", "medications"),
        ("Observation-alcohol-use-example", "social_history"),
        ("Observation-tobacco-use-example", "social_history"),
        ("Observation-hemoglobin", "results"),
        ("Observation-ips-example-imaging-1", "results"),
        ("Observation-pathology-cancer", "results"),
        ("Observation-pregnancy-edd-example", "pregnancy"),
        ("Observation-pregnancy-outcome-example", "pregnancy"),
        ("Observation-pregnancy-status-example", "pregnancy"),
        ("Procedure-procedure-missing-performed", "procedures"),
        ("Device-eumfh-70-275-1", None),
        ("Medication-eumfh-39-07-1", None),
        ("Patient-66033", None),
        ("Practitioner-eumfh-39-07", None),
        ("Organization-simple-org", None),
        ("Specimen-specimen-example-1", None),
        ("ImagingStudy-TII-ImagingStudy-5-1", None),
        ("Composition-composition-minimal", None),
    ],
)
def test_single_resource_examples(name: str, expected: str | None) -> None:
    assert key_of(ips_example(name)) == expected


# ---------------------------------------------------------------------------- the rules, by hand


def condition(status: str | None, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Condition", **extra}
    if status is not None:
        resource["clinicalStatus"] = {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]
        }
    return resource


def observation(code: str | None = None, category: str | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Observation", "status": "final"}
    if code is not None:
        resource["code"] = {"coding": [{"system": "http://loinc.org", "code": code}]}
    if category is not None:
        resource["category"] = [{"coding": [{"system": OBSERVATION_CATEGORY, "code": category}]}]
    return resource


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("active", "problems"),
        ("recurrence", "problems"),
        ("relapse", "problems"),
        (None, "problems"),
        ("inactive", "past_illness"),
        ("remission", "past_illness"),
        ("resolved", "past_illness"),
        ("something-else", "problems"),
    ],
)
def test_condition_by_clinical_status(status: str | None, expected: str) -> None:
    assert key_of(condition(status)) == expected


def test_condition_with_a_functional_category() -> None:
    category = [{"coding": [{"system": "http://example.org/category", "code": "disability-status"}]}]
    assert key_of(condition("active", category=category)) == "functional_status"


@pytest.mark.parametrize(
    ("code", "category", "expected"),
    [
        ("29463-7", "vital-signs", "vital_signs"),
        ("72166-2", "social-history", "social_history"),
        ("2345-7", "laboratory", "results"),
        ("24627-2", "imaging", "results"),
        ("2345-7", None, "results"),
        (None, None, "results"),
        ("2345-7", "exam", "results"),
        # uncategorised, but the code is a vital sign / a habit the IPS profiles fix
        ("8867-4", None, "vital_signs"),
        ("74013-4", None, "social_history"),
        # pregnancy codes win over any category
        ("82810-3", None, "pregnancy"),
        ("82810-3", "social-history", "pregnancy"),
        ("11636-8", "survey", "pregnancy"),
        ("11779-6", None, "pregnancy"),
        ("33065-4", "exam", "pregnancy"),
    ],
)
def test_observation_by_category_and_code(code: str | None, category: str | None, expected: str) -> None:
    assert key_of(observation(code, category)) == expected


def test_observation_with_a_functional_category() -> None:
    resource = observation("54522-8")
    resource["category"] = [
        {"coding": [{"system": "http://example.org/us-core", "code": "functional-status"}]}
    ]
    assert key_of(resource) == "functional_status"


@pytest.mark.parametrize(
    ("resource_type", "expected"),
    [
        ("AllergyIntolerance", "allergies"),
        ("MedicationStatement", "medications"),
        ("MedicationRequest", "medications"),
        ("MedicationAdministration", "medications"),
        ("MedicationDispense", "medications"),
        ("Immunization", "immunizations"),
        ("ImmunizationRecommendation", "plan_of_care"),
        ("Procedure", "procedures"),
        ("DeviceUseStatement", "devices"),
        ("DiagnosticReport", "results"),
        ("CarePlan", "plan_of_care"),
        ("ClinicalImpression", "functional_status"),
        ("Consent", "advance_directives"),
        ("Flag", "alerts"),
        ("DocumentReference", None),
        ("Patient", None),
        ("Practitioner", None),
        ("Organization", None),
        ("Medication", None),
        ("Device", None),
        ("Composition", None),
        ("Bundle", None),
        ("Encounter", None),
    ],
)
def test_by_type(resource_type: str, expected: str | None) -> None:
    assert key_of({"resourceType": resource_type}) == expected


def test_consent_about_privacy_or_research_is_no_directive() -> None:
    for scope in ("patient-privacy", "research"):
        consent = {
            "resourceType": "Consent",
            "scope": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": scope}]
            },
        }
        assert key_of(consent) is None
    adr = {
        "resourceType": "Consent",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "adr"}]
        },
    }
    assert key_of(adr) == "advance_directives"


@pytest.mark.parametrize("field", ["type", "category"])
@pytest.mark.parametrize("code", ["42348-3", "86533-7", "64298-3", "92664-2"])
def test_advance_directive_documents(field: str, code: str) -> None:
    concept = {"coding": [{"system": "http://loinc.org", "code": code}]}
    document = {"resourceType": "DocumentReference", field: concept if field == "type" else [concept]}
    assert key_of(document) == "advance_directives"
    other = {
        "resourceType": "DocumentReference",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4"}]},
    }
    assert key_of(other) is None


def test_classified_type_is_always_a_source_type_of_its_section() -> None:
    bundle = ips_example("Bundle-bundle-ips-all-sections")
    for entry in bundle["entry"]:
        found: Section | None = section_of(entry["resource"])
        if found is not None:
            assert entry["resource"]["resourceType"] in found.source_types


MALFORMED: list[Any] = [
    None,
    42,
    "Condition",
    [],
    [{"resourceType": "Condition"}],
    {},
    {"resourceType": None},
    {"resourceType": ["Observation"]},
    {"resourceType": {"x": 1}},
    {"resourceType": "Condition", "clinicalStatus": "resolved"},
    {"resourceType": "Condition", "clinicalStatus": {"coding": "resolved"}},
    {"resourceType": "Condition", "clinicalStatus": {"coding": [None, 3, {"code": 5}, {"code": "resolved"}]}},
    {"resourceType": "Condition", "category": {"coding": [{"code": ["functional-status"]}]}},
    {"resourceType": "Observation", "code": "82810-3"},
    {
        "resourceType": "Observation",
        "code": [{"coding": [{"system": "http://loinc.org", "code": "82810-3"}]}],
    },
    {"resourceType": "Observation", "category": "vital-signs"},
    {"resourceType": "Observation", "category": [[{"code": "vital-signs"}]]},
    {
        "resourceType": "Observation",
        "category": {"coding": [{"system": OBSERVATION_CATEGORY, "code": "vital-signs"}]},
    },
    {
        "resourceType": "Observation",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": None}]}],
    },
    {"resourceType": "Consent", "scope": [1, 2]},
    {"resourceType": "DocumentReference", "type": [{"coding": [{"code": {"x": "42348-3"}}]}]},
    {"resourceType": "DocumentReference", "category": 7},
]


@pytest.mark.parametrize("resource", MALFORMED)
def test_malformed_input_never_raises(resource: Any) -> None:
    result = section_of(resource)
    assert result is None or isinstance(result, Section)


def test_malformed_input_best_effort() -> None:
    # tolerated shapes still give the sensible answer
    resolved = {"coding": [None, {"code": "resolved"}]}
    assert key_of({"resourceType": "Condition", "clinicalStatus": resolved}) == "past_illness"
    listed = [{"coding": [{"system": "http://loinc.org", "code": "82810-3"}]}]
    assert key_of({"resourceType": "Observation", "code": listed}) == "pregnancy"
    single = {"coding": [{"system": OBSERVATION_CATEGORY, "code": "vital-signs"}]}
    assert key_of({"resourceType": "Observation", "category": single}) == "vital_signs"
    assert key_of({"resourceType": "Observation", "category": "vital-signs"}) == "results"
    assert section_of(None) is None  # type: ignore[arg-type]
