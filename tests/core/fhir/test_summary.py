"""What the record page shows for one resource: the IPS examples, the rules by hand, and odd input."""

import ast
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from core.fhir import summary as display
from core.fhir.summary import Detail, ItemSummary, concept_text, summarize
from core.i18n import gettext_noop
from core.ips.sections import section_of
from tests.conftest import ips_example


def bundle_resolver(bundle: dict[str, Any]) -> Callable[[str], Mapping[str, Any] | None]:
    """Looks references up the way a bundle allows: by fullUrl or by "Type/id"."""
    index: dict[str, dict[str, Any]] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        index[entry["fullUrl"]] = resource
        index[f"{resource['resourceType']}/{resource['id']}"] = resource
    return index.get


def resources_of(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def plain(*values: str) -> tuple[Detail, ...]:
    """Details that are upstream text alone, with no label."""
    return tuple(Detail("", value) for value in values)


# ---------------------------------------------------------------------------- the IPS all-sections example


def test_allergy_is_penicillin() -> None:
    bundle = ips_example("Bundle-bundle-ips-all-sections")
    (allergy,) = resources_of(bundle, "AllergyIntolerance")
    summary = summarize(allergy)
    assert summary.title == "Penicillin"  # the first coding's display; the code has no text
    assert summary.status == "active"  # verificationStatus is "confirmed": not repeated


def test_problems_are_hypertension_and_gout() -> None:
    bundle = ips_example("Bundle-bundle-ips-all-sections")
    problems = [r for r in resources_of(bundle, "Condition") if (s := section_of(r)) and s.key == "problems"]
    summaries = {summarize(r).title: summarize(r) for r in problems}
    assert {"Essential hypertension", "Gout"} <= set(summaries)
    assert summaries["Essential hypertension"].date == "2016-05-25"  # onsetDateTime
    assert summaries["Gout"].status == "active"
    past = [
        summarize(r)
        for r in resources_of(bundle, "Condition")
        if r["clinicalStatus"]["coding"][0]["code"] == "resolved"
    ]
    assert [(s.title, s.status) for s in past] == [("Fever", "resolved")]


def test_medication_statements_are_named_with_their_dosage() -> None:
    bundle = ips_example("Bundle-bundle-ips-all-sections")
    summaries = [summarize(r, bundle_resolver(bundle)) for r in resources_of(bundle, "MedicationStatement")]
    assert [s.title for s in summaries] == [
        "cilazapril 500 microgram tablet, 90",
        "lisinopril 5 mg tablet",
        "Ultraproct - cinchocaine 0.5% (5 mg/g) + fluocortolone hexanoate 0.095% (945 microgram/g) + "
        "fluocortolone pivalate 0.092% (918 microgram/g) ointment",
    ]
    assert [s.status for s in summaries] == ["stopped", "active", "active"]
    assert summaries[1].details == plain("Take One tablet once daily")
    assert summaries[1].date == "2024-08-13"


@pytest.mark.parametrize("name", ["Bundle-IPS-examples-Bundle-01", "Bundle-bundle-minimal"])
def test_medication_references_resolve_to_the_medication(name: str) -> None:
    bundle = ips_example(name)
    resolve = bundle_resolver(bundle)
    statements = resources_of(bundle, "MedicationStatement")
    assert statements
    for statement in statements:
        reference = statement["medicationReference"]["reference"]
        medication = resolve(reference)
        assert medication is not None
        expected = concept_text(medication["code"])
        assert expected
        assert summarize(statement, resolve).title == expected
        # Without a resolver the reference's display, if any, else the resource type.
        fallback = statement["medicationReference"].get("display") or "MedicationStatement"
        assert summarize(statement).title == fallback


def test_bundle_01_medication_names() -> None:
    bundle = ips_example("Bundle-IPS-examples-Bundle-01")
    titles = [
        summarize(r, bundle_resolver(bundle)).title for r in resources_of(bundle, "MedicationStatement")
    ]
    assert titles == [
        "Product containing anastrozole (medicinal product)",
        "Black Cohosh Extract herbal supplement",
    ]


def test_eight_immunizations_have_titles_and_dates() -> None:
    bundle = ips_example("Bundle-bundle-ips-all-sections")
    immunizations = resources_of(bundle, "Immunization")
    assert len(immunizations) == 8
    for immunization in immunizations:
        summary = summarize(immunization)
        assert summary.title == immunization["vaccineCode"]["coding"][0]["display"]
        assert summary.date == immunization["occurrenceDateTime"]
        assert summary.status == "completed"
        assert any(d.label == "Dose" and d.value.isdigit() for d in summary.details)
    first = summarize(immunizations[0])
    assert first.title == "Influenza, split virus, trivalent, preservative"
    assert first.details == (Detail("Dose", "1"), Detail("Body site", "Structure of left deltoid muscle"))


def test_observations() -> None:
    bundle = ips_example("Bundle-bundle-ips-all-sections")
    by_code = {r["code"]["coding"][0]["code"]: r for r in resources_of(bundle, "Observation")}
    weight = summarize(by_code["29463-7"])
    assert (weight.title, weight.status, weight.date, weight.details) == (
        "Body weight",
        "final",
        "2024-04-10T09:58:00+00:00",
        plain("91.5 kg"),
    )
    assert summarize(by_code["85354-9"]).details == plain(
        "Systolic blood pressure: 140 mmHg",
        "Diastolic blood pressure: 80 mmHg",
    )
    assert summarize(by_code["72166-2"]).details == plain("Never smoker")
    assert summarize(by_code["82810-3"]).details == plain("Not Pregnant")
    (risk,) = summarize(by_code["49062-3"]).details
    assert risk.label == ""
    assert risk.value.startswith("A combined CVD risk")


def test_other_kinds_in_the_example() -> None:
    bundle = ips_example("Bundle-bundle-ips-all-sections")
    resolve = bundle_resolver(bundle)
    (device_use,) = resources_of(bundle, "DeviceUseStatement")
    assert summarize(device_use, resolve).title == "Hip prosthesis, device (physical object)"  # Device.type
    assert summarize(device_use).title == "Hip prosthesis"  # the reference's display
    (flag,) = resources_of(bundle, "Flag")
    assert summarize(flag) == ItemSummary(
        title="Shellfish free diet", status="active", date=None, details=plain("Diet")
    )
    (procedure,) = resources_of(bundle, "Procedure")
    assert summarize(procedure) == ItemSummary("Total hip replacement", "completed", "2000-04-28", ())
    (consent,) = resources_of(bundle, "Consent")
    assert summarize(consent) == ItemSummary(
        "Do Not Resuscitate", "active", "2021-09-01", plain("Not for resuscitation")
    )
    (care_plan,) = resources_of(bundle, "CarePlan")
    plan = summarize(care_plan)
    assert plan.title == "Manage obesity and weight loss"  # no title: the description
    assert plan.date == "\N{EN DASH}2017-06-01"  # period with only an end
    assert plan.details == plain("Weight management plan")
    (document,) = resources_of(bundle, "DocumentReference")
    assert summarize(document) == ItemSummary(
        "Health concerns Document", "current", "2025-08-01T10:00:00Z", plain("Advance Directive Document")
    )


def test_every_entry_of_every_example_bundle_summarizes() -> None:
    for name in (
        "Bundle-bundle-ips-all-sections",
        "Bundle-IPS-examples-Bundle-01",
        "Bundle-IPS-examples-Bundle-with-immunization",
        "Bundle-bundle-minimal",
        "Bundle-bundle-no-info-required-sections",
    ):
        bundle = ips_example(name)
        for entry in bundle["entry"]:
            summary = summarize(entry["resource"], bundle_resolver(bundle))
            assert_plain_summary(summary)
            assert "<div" not in repr(summary)  # never the narrative


# ---------------------------------------------------------------------------- the rules, by hand


def cc(
    text: str | None = None, display: str | None = None, code: str | None = None, system: str | None = None
) -> dict[str, Any]:
    concept: dict[str, Any] = {}
    coding = {k: v for k, v in (("system", system), ("code", code), ("display", display)) if v is not None}
    if coding:
        concept["coding"] = [coding]
    if text is not None:
        concept["text"] = text
    return concept


def test_title_prefers_text_then_display_then_system_and_code() -> None:
    assert concept_text(cc(text="Hay fever", display="Allergic rhinitis", code="61582004")) == "Hay fever"
    assert concept_text(cc(display="Allergic rhinitis", code="61582004")) == "Allergic rhinitis"
    assert (
        concept_text(cc(code="61582004", system="http://snomed.info/sct"))
        == "http://snomed.info/sct|61582004"
    )
    assert concept_text(cc(code="61582004")) == "61582004"
    later_display = {"coding": [{"code": "a"}, {"code": "b", "display": "Bee"}]}
    assert concept_text(later_display) == "Bee"
    assert concept_text({"text": "  spaced\n out "}) == "spaced out"
    assert concept_text([{}, cc(display="second")]) == "second"
    assert concept_text({}) is None


def test_condition_status_adds_an_unconfirmed_verification() -> None:
    condition = {
        "resourceType": "Condition",
        "code": cc(text="Asthma"),
        "clinicalStatus": cc(code="active"),
        "verificationStatus": cc(code="provisional", display="Provisional"),
        "recordedDate": "2020-02-02",
        "severity": cc(display="Mild"),
        "bodySite": [cc(display="Lung structure")],
    }
    assert summarize(condition) == ItemSummary(
        "Asthma",
        "active (Provisional)",
        "2020-02-02",
        (Detail("Severity", "Mild"), Detail("Body site", "Lung structure")),
    )
    del condition["clinicalStatus"]
    assert summarize(condition).status == "Provisional"


def test_allergy_details() -> None:
    allergy = {
        "resourceType": "AllergyIntolerance",
        "code": cc(display="Peanut"),
        "criticality": "high",
        "onsetDateTime": "1990",
        "reaction": [
            {"manifestation": [cc(display="Hives"), cc(text="Swollen lips")]},
            {"manifestation": [cc(display="Hives")]},
        ],
    }
    assert summarize(allergy) == ItemSummary(
        "Peanut", None, "1990", (Detail("Criticality: high", ""), Detail("Reaction", "Hives, Swollen lips"))
    )


@pytest.mark.parametrize(
    ("criticality", "expected"),
    [
        ("low", Detail("Criticality: low", "")),
        ("unable-to-assess", Detail("Criticality: unable to assess", "")),
        ("  high ", Detail("Criticality: high", "")),
        ("extreme", Detail("Criticality", "extreme")),  # not a FHIR code: shown as it came
    ],
)
def test_allergy_criticality(criticality: str, expected: Detail) -> None:
    allergy = {
        "resourceType": "AllergyIntolerance",
        "code": cc(text="Penicillin"),
        "criticality": criticality,
    }
    assert summarize(allergy).details == (expected,)


def test_the_ips_penicillin_allergy_with_a_criticality() -> None:
    bundle = ips_example("Bundle-bundle-ips-all-sections")
    (allergy,) = resources_of(bundle, "AllergyIntolerance")
    summary = summarize({**allergy, "criticality": "high"})
    assert summary.title == "Penicillin"
    assert summary.details == (Detail("Criticality: high", ""),)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"valueQuantity": {"value": 7.5, "unit": "%"}}, Detail("", "7.5 %")),
        ({"valueQuantity": {"value": 140.0, "code": "mm[Hg]"}}, Detail("", "140 mm[Hg]")),
        (
            {"valueQuantity": {"value": 2, "system": "http://unitsofmeasure.org", "code": "1"}},
            Detail("", "2"),
        ),
        ({"valueQuantity": {"value": 5, "comparator": "<", "unit": "mg/L"}}, Detail("", "<5 mg/L")),
        ({"valueQuantity": {"value": "0.50", "unit": "mmol/L"}}, Detail("", "0.50 mmol/L")),
        ({"valueCodeableConcept": cc(display="Positive")}, Detail("", "Positive")),
        ({"valueString": "Clear"}, Detail("", "Clear")),
        ({"valueBoolean": True}, Detail("Yes", "")),
        ({"valueBoolean": False}, Detail("No", "")),
        ({"valueInteger": 3}, Detail("", "3")),
        (
            {"valueRange": {"low": {"value": 1, "unit": "g"}, "high": {"value": 2, "unit": "g"}}},
            Detail("", "1 g\N{EN DASH}2 g"),
        ),
        ({"valueRange": {"low": {"value": 1, "unit": "g"}}}, Detail("", "≥ 1 g")),
        ({"valueRatio": {"numerator": {"value": 1}, "denominator": {"value": 128}}}, Detail("", "1 / 128")),
        ({"valueDateTime": "2020-05-02"}, Detail("", "2020-05-02")),
        ({"valuePeriod": {"start": "2020-01", "end": "2020-03"}}, Detail("", "2020-01\N{EN DASH}2020-03")),
        (
            {
                "dataAbsentReason": cc(
                    code="masked", system="http://terminology.hl7.org/CodeSystem/data-absent-reason"
                )
            },
            Detail("No value", "masked"),
        ),
        ({"valueBoolean": "yes", "valueString": "Y"}, Detail("", "Y")),  # not a boolean: the next type
    ],
)
def test_observation_values(value: dict[str, Any], expected: Detail) -> None:
    observation = {"resourceType": "Observation", "code": cc(text="Test"), **value}
    assert summarize(observation).details == (expected,)


def test_observation_interpretation_uses_the_label() -> None:
    observation = {
        "resourceType": "Observation",
        "code": cc(text="Creatinine"),
        "valueQuantity": {"value": 2.46, "unit": "mg/dL"},
        "interpretation": [
            cc(code="H", system="http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation")
        ],
    }
    assert summarize(observation).details == (Detail("", "2.46 mg/dL"), Detail("Interpretation", "H"))


def test_observation_components() -> None:
    observation = {
        "resourceType": "Observation",
        "code": cc(text="Questionnaire"),
        "component": [
            {"code": cc(text="Smoker"), "valueBoolean": True},
            {"code": cc(text="Drinks alcohol"), "valueBoolean": False},
            {"code": cc(text="Cigarettes per day"), "valueInteger": 10},
            {"valueBoolean": True},  # no name: the answer alone
            {"code": cc(text="Unanswered")},  # no value: nothing
        ],
    }
    assert summarize(observation).details == (
        Detail("Yes", "Smoker"),
        Detail("No", "Drinks alcohol"),
        Detail("", "Cigarettes per day: 10"),
        Detail("Yes", ""),
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"onsetPeriod": {"start": "2019-01", "end": "2019-06"}}, "2019-01\N{EN DASH}2019-06"),
        ({"onsetPeriod": {"start": "2019-01"}}, "2019-01\N{EN DASH}"),
        ({"onsetPeriod": {"start": "2019-01", "end": "2019-01"}}, "2019-01"),
        ({"onsetAge": {"value": 40, "unit": "years"}}, "40 years"),
        ({"onsetString": "childhood"}, "childhood"),
        ({"onsetDateTime": "", "recordedDate": "2020-01-01"}, "2020-01-01"),
        ({"onsetDateTime": 2019, "recordedDate": "2020-01-01"}, "2020-01-01"),
        ({"onsetPeriod": {}, "recordedDate": "2020-01-01"}, "2020-01-01"),
        (
            {"recordedDate": "2020-01-01", "onsetDateTime": "2019"},
            "2019",
        ),  # onset first, whatever the key order
        ({}, None),
    ],
)
def test_dates(fields: dict[str, Any], expected: str | None) -> None:
    assert summarize({"resourceType": "Condition", "code": cc(text="X"), **fields}).date == expected


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ({"resourceType": "MedicationRequest", "authoredOn": "2021-01-01"}, "2021-01-01"),
        ({"resourceType": "MedicationDispense", "whenHandedOver": "2021-01-02"}, "2021-01-02"),
        (
            {
                "resourceType": "MedicationStatement",
                "effectivePeriod": {"start": "2014"},
                "dateAsserted": "2020",
            },
            "2014\N{EN DASH}",
        ),
        (
            {"resourceType": "DiagnosticReport", "issued": "2017-11-10T08:20:00+01:00"},
            "2017-11-10T08:20:00+01:00",
        ),
        (
            {"resourceType": "Procedure", "performedPeriod": {"start": "2000", "end": "2001"}},
            "2000\N{EN DASH}2001",
        ),
        ({"resourceType": "DeviceUseStatement", "timingDateTime": "2018"}, "2018"),
        ({"resourceType": "Consent", "dateTime": "2021-09-01"}, "2021-09-01"),
        ({"resourceType": "Flag", "period": {"start": "2022"}}, "2022\N{EN DASH}"),
    ],
)
def test_dates_by_type(resource: dict[str, Any], expected: str) -> None:
    assert summarize(resource).date == expected


def test_medications() -> None:
    contained = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "contained": [{"resourceType": "Medication", "id": "m1", "code": cc(text="Simvastatin 40 mg")}],
        "medicationReference": {"reference": "#m1"},
        "dosageInstruction": [{"text": "1 tablet at night"}, {"text": "1 tablet at night"}],
    }
    assert summarize(contained) == ItemSummary(
        "Simvastatin 40 mg", "active", None, plain("1 tablet at night")
    )
    administration = {
        "resourceType": "MedicationAdministration",
        "medicationCodeableConcept": cc(display="Paracetamol"),
        "dosage": {"text": "1 g iv"},
        "effectiveDateTime": "2024-01-01T10:00:00Z",
    }
    assert summarize(administration).details == plain("1 g iv")
    referenced = {"resourceType": "MedicationStatement", "medicationReference": {"reference": "Medication/x"}}
    calls: list[str] = []

    def resolve(reference: str) -> dict[str, Any] | None:
        calls.append(reference)
        return {"resourceType": "Medication", "code": cc(display="Metformin")}

    assert summarize(referenced, resolve).title == "Metformin"
    assert calls == ["Medication/x"]


def test_a_failing_or_odd_resolver_falls_back() -> None:
    statement = {
        "resourceType": "MedicationStatement",
        "medicationReference": {"reference": "Medication/x", "display": "Metformin 500"},
    }

    def broken(reference: str) -> dict[str, Any] | None:
        raise LookupError(reference)

    assert summarize(statement, broken).title == "Metformin 500"
    assert summarize(statement, lambda _: ["not", "a", "resource"]).title == "Metformin 500"  # type: ignore[arg-type, return-value]
    assert summarize(statement, lambda _: {"code": "not a concept"}).title == "Metformin 500"
    assert summarize(statement, lambda _: None).title == "Metformin 500"


def test_device_names() -> None:
    statement = {"resourceType": "DeviceUseStatement", "device": {"reference": "Device/d"}}
    named = {
        "resourceType": "Device",
        "deviceName": [{"name": "Insulin pump X2", "type": "user-friendly-name"}],
    }
    assert summarize(statement, lambda _: named).title == "Insulin pump X2"
    assert summarize(statement).title == "DeviceUseStatement"


def test_documents_consents_and_plans() -> None:
    assert (
        summarize({"resourceType": "DocumentReference", "description": "Living will"}).title == "Living will"
    )
    attachment = {"resourceType": "DocumentReference", "content": [{"attachment": {"title": "Scan.pdf"}}]}
    assert summarize(attachment) == ItemSummary("Scan.pdf", None, None, ())
    assert (
        summarize({"resourceType": "Consent", "scope": cc(display="Advance Directive")}).title
        == "Advance Directive"
    )
    assert summarize(
        {"resourceType": "CarePlan", "title": "Diabetes plan", "description": "Walk daily"}
    ).details == plain("Walk daily")
    assert summarize({"resourceType": "CarePlan", "category": [cc(text="Diet")]}).title == "Diet"
    report = {"resourceType": "DiagnosticReport", "code": cc(text="Blood count"), "conclusion": "Normal"}
    assert summarize(report).details == plain("Normal")


def test_unknown_and_empty_resources_fall_back_to_their_type() -> None:
    assert summarize({"resourceType": "Observation"}) == ItemSummary("Observation", None, None, ())
    assert summarize({"resourceType": "Patient", "name": [{"text": "Karen Jensen"}]}).title == "Patient"
    assert summarize({}).title == "Resource"


def test_long_text_is_clipped() -> None:
    summary = summarize(
        {"resourceType": "Observation", "code": cc(text="x" * 1000), "valueString": "y" * 1000}
    )
    assert len(summary.title) == display.MAX_TEXT
    assert summary.title.endswith("…")
    assert len(summary.details[0].value) == display.MAX_TEXT


def test_narrative_is_never_shown() -> None:
    resource = {
        "resourceType": "Condition",
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml"><script>x</script></div>',
        },
    }
    summary = summarize(resource)
    assert summary == ItemSummary("Condition", None, None, ())


# ---------------------------------------------------------------------------- odd input never raises


def assert_plain_summary(summary: ItemSummary) -> None:
    assert isinstance(summary, ItemSummary)
    assert isinstance(summary.title, str)
    assert summary.title
    assert summary.status is None or isinstance(summary.status, str)
    assert summary.date is None or isinstance(summary.date, str)
    assert isinstance(summary.details, tuple)
    for detail in summary.details:
        assert isinstance(detail, Detail)
        assert isinstance(detail.label, str)
        assert isinstance(detail.value, str)
        assert detail.label or detail.value
        assert detail.label in DETAIL_LABELS  # a msgid of the catalogue, never upstream text


DETAIL_LABELS = {
    "",
    "Body site",
    "Criticality",
    "Criticality: high",
    "Criticality: low",
    "Criticality: unable to assess",
    "Dose",
    "Interpretation",
    "No",
    "No value",
    "Outcome",
    "Reaction",
    "Type",
    "Severity",
    "Yes",
}

TYPES = [
    "Condition",
    "AllergyIntolerance",
    "Observation",
    "Procedure",
    "DiagnosticReport",
    "Flag",
    "ClinicalImpression",
    "MedicationStatement",
    "MedicationRequest",
    "MedicationAdministration",
    "MedicationDispense",
    "Immunization",
    "ImmunizationRecommendation",
    "DeviceUseStatement",
    "CarePlan",
    "Consent",
    "DocumentReference",
    "Medication",
    "Device",
    "Patient",
]
WEIRD_VALUES: list[Any] = [
    None,
    0,
    -1.5,
    float("nan"),
    float("inf"),
    True,
    "",
    "text",
    [],
    [None],
    [1, "a", [2]],
    {},
    {"coding": "x"},
    {"coding": [None, 1, {"code": 5, "display": ["d"]}]},
    {"text": 5},
    {"value": "NaN", "unit": {"u": 1}},
    {"start": 1, "end": ["x"]},
    {"reference": 5, "display": None},
    {"reference": "#missing"},
    [{"text": None}, {"manifestation": "Hives"}],
    {"low": "x", "high": {"value": True}},
]
FIELDS = [
    "code",
    "clinicalStatus",
    "verificationStatus",
    "status",
    "category",
    "onsetDateTime",
    "onsetPeriod",
    "onsetAge",
    "recordedDate",
    "effectivePeriod",
    "occurrenceDateTime",
    "period",
    "valueQuantity",
    "valueCodeableConcept",
    "valueBoolean",
    "valueRange",
    "valueRatio",
    "valuePeriod",
    "component",
    "interpretation",
    "dataAbsentReason",
    "medicationCodeableConcept",
    "medicationReference",
    "dosage",
    "dosageInstruction",
    "reaction",
    "criticality",
    "bodySite",
    "severity",
    "vaccineCode",
    "protocolApplied",
    "site",
    "device",
    "deviceName",
    "type",
    "title",
    "description",
    "scope",
    "provision",
    "content",
    "contained",
    "recommendation",
    "conclusion",
    "conclusionCode",
    "summary",
    "outcome",
]


def weird_resources() -> list[Any]:
    """Every type with every field set to every odd value (one field at a time), plus odd wholes."""
    resources: list[Any] = [
        None,
        42,
        "Condition",
        [],
        [{"resourceType": "Condition"}],
        {"resourceType": None},
    ]
    resources.append({"resourceType": ["Observation"]})
    resources.append({"resourceType": "   "})
    for resource_type in TYPES:
        for value in WEIRD_VALUES:
            resources.append({"resourceType": resource_type, **dict.fromkeys(FIELDS, value)})
            for field in FIELDS:
                resources.append({"resourceType": resource_type, field: value})
    return resources


def test_weird_resources_never_raise() -> None:
    resources = weird_resources()
    assert len(resources) > 10_000
    resolvers: list[Any] = [None, lambda _: None, lambda _: {"deviceName": 5, "code": []}, lambda _: 1 / 0]
    for index, resource in enumerate(resources):
        summary = summarize(resource, resolvers[index % len(resolvers)])
        assert_plain_summary(summary)


def test_module_is_pure() -> None:
    tree = ast.parse(Path(display.__file__).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    assert imported <= {
        "__future__",
        "math",
        "re",
        "collections.abc",
        "dataclasses",
        "decimal",
        "typing",
        # the core's own readers, code groups and msgid marker: pure as well
        "core.fhir.read",
        "core.fhir.terms",
        "core.fhir.wording",
        "core.i18n",
    }


def test_detail_labels_are_marked_for_translation() -> None:
    """Every label comes from a literal in a gettext_noop call, which makemessages extracts."""
    tree = ast.parse(Path(display.__file__).read_text(encoding="utf-8"))
    marked = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "gettext_noop"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    assert marked == DETAIL_LABELS - {""}
    assert gettext_noop("Dose") == "Dose"
