"""One item per clinical fact: the rules by hand, then the properties (order-independent, idempotent, nothing
lost, conflicts never hidden) over generated records."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.fhir.merge import (
    ATC,
    CODE_EQUIVALENTS,
    DATE,
    SNOMED,
    STATUS_FIELDS,
    Conflict,
    ConflictValue,
    Contribution,
    MergedItem,
    dates_agree,
    identifier_keys,
    match_view,
    merge,
    rule_keys,
)

LOINC = "http://loinc.org"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"

# From the HL7 IPS 2.0.0 examples: Immunization-75680 (DTaP-IPV), Condition-eumfh-39-07-1 (AML),
# Observation-hemoglobin (HbA1c) and MedicationStatement-eumfh-39-07-1 (simvastatin).
DTAP_IPV = {"system": SNOMED, "code": "871878002"}
DTAP_IPV_ATC = {"system": ATC, "code": "J07CA02"}
AML = {"system": SNOMED, "code": "91861009"}
HBA1C = {"system": LOINC, "code": "17856-6"}
SIMVASTATIN = {"system": ATC, "code": "C10AA01"}
ATORVASTATIN = {"system": ATC, "code": "C10AA05"}


def immunization(
    *codings: dict[str, str], day: str = "1998-06-04T00:00:00+02:00", **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "Immunization",
        "status": "completed",
        "vaccineCode": {"coding": list(codings)},
        "occurrenceDateTime": day,
        **extra,
    }


def medication(coding: dict[str, str], status: str, start: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement",
        "status": status,
        "medicationCodeableConcept": {"coding": [coding]},
        "effectivePeriod": {"start": start},
    }


def condition(coding: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Condition", "code": {"coding": [coding]}, **extra}


def hba1c(effective: str, value: Any = 7.5) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [HBA1C]},
        "effectiveDateTime": effective,
        "valueQuantity": {"value": value, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
    }


def ident(system: str, value: str) -> list[dict[str, str]]:
    return [{"system": system, "value": value}]


def c(key: str, source: str, resource: dict[str, Any], updated: str = "", version: str = "1") -> Contribution:
    return Contribution(key=key, source=source, resource=resource, version=version, updated=updated)


def grouping(items: Iterable[MergedItem]) -> set[frozenset[str]]:
    return {item.keys for item in items}


def conflict(item: MergedItem, name: str) -> Conflict:
    (found,) = [x for x in item.conflicts if x.field == name]
    return found


# ------------------------------------------------------------------------------------------- Immunization


def test_the_same_immunization_from_two_sources_without_identifiers_is_one_item() -> None:
    items = merge(
        [
            c("1", "gp", immunization(DTAP_IPV, day="1998-06-04T00:00:00+02:00")),
            c("2", "hospital", immunization(DTAP_IPV, DTAP_IPV_ATC, day="1998-06-04")),
        ]
    )
    (item,) = items
    assert item.sources == ("gp", "hospital")
    assert [x.key for x in item.contributions] == ["1", "2"]
    assert item.conflicts == ()  # "1998-06-04" is only less precise than the instant on that day


def test_a_shared_identifier_merges_what_the_rule_would_not() -> None:
    vaccination = ident("urn:oid:1.2.208.176.7.3", "V-778")
    items = merge(
        [
            c("1", "gp", immunization(DTAP_IPV, day="1998-06-04", identifier=vaccination)),
            c(
                "2",
                "registry",
                immunization({"system": "urn:local", "code": "x"}, day="1998-06-05", identifier=vaccination),
            ),
        ]
    )
    (item,) = items
    assert item.sources == ("gp", "registry")
    assert [(v.value, v.source) for v in conflict(item, DATE).values] == [
        ("1998-06-04", "gp"),
        ("1998-06-05", "registry"),
    ]


def test_the_same_vaccine_on_other_days_is_two_items() -> None:
    items = merge(
        [
            c("1", "gp", immunization(DTAP_IPV, day="1998-06-04")),
            c("2", "h", immunization(DTAP_IPV, day="1999-06-04")),
        ]
    )
    assert grouping(items) == {frozenset({"1"}), frozenset({"2"})}


def test_code_equivalents_match_across_systems() -> None:
    items = merge([c("1", "gp", immunization(DTAP_IPV)), c("2", "h", immunization(DTAP_IPV_ATC))])
    assert grouping(items) == {frozenset({"1", "2"})}


def test_each_equivalence_names_at_least_two_codings_in_different_systems() -> None:
    for group in CODE_EQUIVALENTS:
        assert len({system for system, _ in group}) >= 2
    codings = [coding for group in CODE_EQUIVALENTS for coding in group]
    assert len(codings) == len(set(codings))  # a coding in two groups would join them silently


def test_uncoded_vaccines_match_by_text_and_never_a_coded_one() -> None:
    text_only = {
        "resourceType": "Immunization",
        "vaccineCode": {"text": "Boostrix  Polio"},
        "occurrenceDateTime": "2020-01-01",
    }
    other_text = {**text_only, "vaccineCode": {"text": "boostrix polio"}}
    coded = immunization({**DTAP_IPV, "display": "Boostrix Polio"}, day="2020-01-01")
    coded["vaccineCode"]["text"] = "Boostrix Polio"
    items = merge([c("1", "a", text_only), c("2", "b", other_text), c("3", "c", coded)])
    assert grouping(items) == {frozenset({"1", "2"}), frozenset({"3"})}


# ------------------------------------------------------------------------------------------------ medication


def test_a_medication_active_at_one_source_and_stopped_at_another_is_one_item_with_both_sides() -> None:
    items = merge(
        [
            c("gp-7", "gp", medication(SIMVASTATIN, "active", "2014"), updated="2024-03-01T10:00:00+00:00"),
            c(
                "h-3",
                "hospital",
                medication(SIMVASTATIN, "stopped", "2019-02-11"),
                updated="2024-02-01T10:00:00+00:00",
            ),
        ]
    )
    (item,) = items
    assert item.primary.key == "gp-7"  # the most recently updated
    assert conflict(item, "status").values == (
        ConflictValue(
            value="active", source="gp", key="gp-7", date="2014", updated="2024-03-01T10:00:00+00:00"
        ),
        ConflictValue(
            value="stopped",
            source="hospital",
            key="h-3",
            date="2019-02-11",
            updated="2024-02-01T10:00:00+00:00",
        ),
    )
    assert [(v.value, v.source) for v in conflict(item, DATE).values] == [
        ("2014", "gp"),
        ("2019-02-11", "hospital"),
    ]
    assert [x.field for x in item.conflicts] == ["status", DATE]


def test_a_medication_only_less_precise_has_no_date_conflict() -> None:
    (item,) = merge(
        [
            c("1", "a", medication(SIMVASTATIN, "active", "2014")),
            c("2", "b", medication(SIMVASTATIN, "active", "2014-03")),
        ]
    )
    assert item.conflicts == ()


def test_medications_match_through_a_contained_medication_or_the_display_text() -> None:
    contained = {
        "resourceType": "MedicationStatement",
        "status": "active",
        "contained": [{"resourceType": "Medication", "id": "m", "code": {"coding": [SIMVASTATIN]}}],
        "medicationReference": {"reference": "#m"},
    }
    named = {
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationReference": {"display": "Simvastatin"},
    }
    also_named = {**named, "medicationReference": {"reference": "Medication/9", "display": " simvastatin "}}
    items = merge(
        [
            c("1", "a", medication(SIMVASTATIN, "active", "2014")),
            c("2", "b", contained),
            c("3", "a", named),
            c("4", "b", also_named),
        ]
    )
    assert grouping(items) == {frozenset({"1", "2"}), frozenset({"3", "4"})}


def test_different_medications_stay_apart() -> None:
    items = merge(
        [
            c("1", "a", medication(SIMVASTATIN, "active", "2014")),
            c("2", "b", medication(ATORVASTATIN, "active", "2014")),
        ]
    )
    assert len(items) == 2


def test_a_source_holding_a_medication_twice_makes_the_match_ambiguous_and_nothing_merges() -> None:
    items = merge(
        [
            c("a1", "a", medication(SIMVASTATIN, "stopped", "2014")),
            c("a2", "a", medication(SIMVASTATIN, "active", "2019")),
            c("b1", "b", medication(SIMVASTATIN, "active", "2019")),
            c("b2", "b", medication(ATORVASTATIN, "active", "2019")),
            c("c1", "c", medication(ATORVASTATIN, "active", "2020")),
        ]
    )
    assert grouping(items) == {
        frozenset({"a1"}),
        frozenset({"a2"}),
        frozenset({"b1"}),
        frozenset({"b2", "c1"}),
    }


def test_a_resource_coded_twice_cannot_bridge_two_facts_of_one_source() -> None:
    bridge = immunization(DTAP_IPV, {"system": "urn:local", "code": "x"})
    items = merge(
        [
            c("a1", "a", immunization(DTAP_IPV)),
            c("a2", "a", immunization({"system": "urn:local", "code": "x"})),
            c("b", "b", bridge),
        ]
    )
    assert len(items) == 3


# --------------------------------------------------------------------------- Condition, allergy, observation


def test_a_condition_matches_on_code_and_onset_day() -> None:
    items = merge(
        [
            c(
                "1",
                "a",
                condition(
                    AML,
                    onsetDateTime="2014-05-01T09:00:00Z",
                    clinicalStatus={"coding": [{"system": CLINICAL, "code": "active"}]},
                ),
            ),
            c(
                "2",
                "b",
                condition(
                    AML,
                    onsetDateTime="2014-05-01",
                    clinicalStatus={"coding": [{"system": CLINICAL, "code": "remission"}]},
                ),
            ),
            c("3", "c", condition(AML, onsetDateTime="2015-01-01")),
        ]
    )
    assert grouping(items) == {frozenset({"1", "2"}), frozenset({"3"})}
    (pair,) = [item for item in items if len(item.contributions) == 2]
    assert [v.value for v in conflict(pair, "clinicalStatus").values] == ["active", "remission"]


def test_a_condition_without_a_date_matches_by_identifier_only() -> None:
    items = merge([c("1", "a", condition(AML)), c("2", "b", condition(AML, recordedDate="2014-05-01"))])
    assert len(items) == 2
    items = merge(
        [
            c("1", "a", condition(AML, identifier=ident("urn:x", "7"))),
            c("2", "b", condition(AML, identifier=ident("urn:x", "7"))),
        ]
    )
    assert len(items) == 1


def test_dates_at_different_precisions_do_not_match() -> None:
    assert (
        len(
            merge(
                [
                    c("1", "a", condition(AML, onsetDateTime="2014")),
                    c("2", "b", condition(AML, onsetDateTime="2014-05-01")),
                ]
            )
        )
        == 2
    )
    assert (
        len(
            merge(
                [
                    c("1", "a", condition(AML, onsetDateTime="2014")),
                    c("2", "b", condition(AML, recordedDate="2014")),
                ]
            )
        )
        == 1
    )


def test_an_observation_matches_on_code_instant_and_value() -> None:
    items = merge(
        [
            c("1", "a", hba1c("2017-11-10T08:20:00+01:00", 7.5)),
            c("2", "b", hba1c("2017-11-10T07:20:00Z", "7.50")),  # the same moment, the same number
            c("3", "c", hba1c("2017-11-10T08:20:00+01:00", 8)),
            c("4", "c", hba1c("2017-11-10T08:21:00+01:00", 7.5)),
        ]
    )
    assert grouping(items) == {frozenset({"1", "2"}), frozenset({"3"}), frozenset({"4"})}
    (pair,) = [item for item in items if len(item.contributions) == 2]
    assert pair.conflicts == ()


def test_an_observation_without_a_value_or_components_matches_by_identifier_only() -> None:
    panel = {"resourceType": "Observation", "code": {"coding": [HBA1C]}, "effectiveDateTime": "2017-11-10"}
    assert len(merge([c("1", "a", panel), c("2", "b", dict(panel))])) == 2


def blood_pressure(systolic: float, diastolic: float) -> dict[str, Any]:
    def reading(code: str, value: float) -> dict[str, Any]:
        return {
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
        }

    return {
        "resourceType": "Observation",
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "effectiveDateTime": "2024-08-30T08:32:00+00:00",
        "component": [reading("8480-6", systolic), reading("8462-4", diastolic)],
    }


def test_a_panel_matches_on_all_its_component_readings() -> None:
    items = merge(
        [
            c("1", "a", blood_pressure(120, 80)),
            c("2", "b", blood_pressure(120.0, 80)),
            c("3", "c", blood_pressure(120, 85)),
        ]
    )
    assert grouping(items) == {frozenset({"1", "2"}), frozenset({"3"})}
    uncoded = blood_pressure(120, 80)
    del uncoded["component"][1]["code"]
    assert len(merge([c("1", "a", uncoded), c("2", "b", blood_pressure(120, 80))])) == 2


def test_an_allergy_or_flag_matches_on_its_code_alone_and_shows_differing_dates() -> None:
    penicillin = {"system": SNOMED, "code": "764146007"}
    items = merge(
        [
            c("1", "a", {"resourceType": "AllergyIntolerance", "code": {"coding": [penicillin]}}),
            c("2", "b", {"resourceType": "AllergyIntolerance", "code": {"coding": [penicillin]},
                         "onsetDateTime": "2010-02-01"}),
            c("3", "c", {"resourceType": "AllergyIntolerance", "code": {"coding": [penicillin]},
                         "onsetDateTime": "2012-03-01"}),
            c("4", "a", {"resourceType": "AllergyIntolerance", "code": {"coding": [AML]}}),
        ]
    )  # fmt: skip
    assert grouping(items) == {frozenset({"1", "2", "3"}), frozenset({"4"})}
    (allergy,) = [item for item in items if len(item.contributions) == 3]
    assert {v.value for v in conflict(allergy, "date").values} == {"2010-02-01", "2012-03-01"}
    diet = {"resourceType": "Flag", "code": {"coding": [{"system": SNOMED, "code": "1255002008"}]}}
    assert len(merge([c("1", "a", diet), c("2", "b", dict(diet))])) == 1


@pytest.mark.parametrize(
    ("resource", "other_day"),
    [
        (
            {"resourceType": "Procedure", "code": {"coding": [AML]}, "performedDateTime": "2000-04-28"},
            {"performedDateTime": "2000-04-29"},
        ),
        (
            {"resourceType": "Procedure", "code": {"coding": [AML]},
             "performedPeriod": {"start": "2000-04-28"}},
            {"performedPeriod": {"start": "2001-04-28"}},
        ),
        (
            {"resourceType": "Consent", "category": [{"coding": [{"system": LOINC, "code": "59284-0"}]}],
             "dateTime": "2021-09-01"},
            {"dateTime": "2021-09-02"},
        ),
        (
            {"resourceType": "CarePlan", "category": [{"text": "Weight management plan"}],
             "created": "2016-01-01"},
            {"created": "2017-01-01"},
        ),
        (
            {"resourceType": "DocumentReference", "type": {"coding": [{"system": LOINC, "code": "75310-3"}]},
             "date": "2025-08-01T10:00:00Z"},
            {"date": "2025-08-01T10:00:01Z"},
        ),
        (
            {"resourceType": "DeviceUseStatement", "device": {"display": "Hip prosthesis"}},
            {"timingDateTime": "2020-01-01"},
        ),
    ],
    ids=["procedure", "procedure-period", "consent", "care-plan", "document", "device-use"],
)  # fmt: skip
def test_each_ruled_type_matches_on_its_concept_and_date_and_not_on_another_date(
    resource: dict[str, Any], other_day: dict[str, Any]
) -> None:
    assert len(merge([c("1", "a", resource), c("2", "b", dict(resource))])) == 1
    assert len(merge([c("1", "a", resource), c("2", "b", {**resource, **other_day})])) == 2


def test_an_undated_procedure_consent_or_care_plan_matches_by_identifier_only() -> None:
    for resource in (
        {"resourceType": "Procedure", "code": {"coding": [AML]}},
        {"resourceType": "Consent", "category": [{"coding": [AML]}]},
        {"resourceType": "CarePlan", "category": [{"text": "Weight management plan"}]},
        {"resourceType": "DocumentReference", "type": {"coding": [AML]}},
    ):
        assert len(merge([c("1", "a", resource), c("2", "b", dict(resource))])) == 2, resource
        with_id = {**resource, "identifier": ident("urn:x", "p1")}
        assert len(merge([c("1", "a", with_id), c("2", "b", dict(with_id))])) == 1


def test_types_without_a_rule_merge_by_identifier_only() -> None:
    encounter = {"resourceType": "Encounter", "type": [{"coding": [AML]}], "period": {"start": "2014-05-01"}}
    assert len(merge([c("1", "a", encounter), c("2", "b", dict(encounter))])) == 2
    with_id = {**encounter, "identifier": ident("urn:x", "p1")}
    assert len(merge([c("1", "a", with_id), c("2", "b", dict(with_id))])) == 1


# ------------------------------------------------------------------------------------ what never merges


def test_a_single_source_item_stays_alone() -> None:
    only = c("1", "gp", immunization(DTAP_IPV))
    assert merge([only]) == [MergedItem(contributions=(only,), primary=only, conflicts=())]
    assert merge([]) == []


def test_two_rows_of_one_source_are_two_facts_unless_they_share_an_identifier() -> None:
    assert len(merge([c("1", "gp", immunization(DTAP_IPV)), c("2", "gp", immunization(DTAP_IPV))])) == 2
    same = ident("urn:x", "1")
    assert (
        len(
            merge(
                [
                    c("1", "gp", immunization(DTAP_IPV, identifier=same)),
                    c("2", "gp", immunization(DTAP_IPV, identifier=same)),
                ]
            )
        )
        == 1
    )


def test_different_resource_types_never_merge() -> None:
    shared = {"code": {"coding": [AML]}, "onsetDateTime": "2014-05-01", "identifier": ident("urn:x", "1")}
    items = merge(
        [
            c("1", "a", {"resourceType": "Condition", **shared}),
            c("2", "b", {"resourceType": "AllergyIntolerance", **shared}),
        ]
    )
    assert len(items) == 2


def test_a_blank_identifier_system_or_value_matches_nothing() -> None:
    blank = [{"system": "", "value": "1"}, {"system": "urn:x", "value": " "}, {"value": "1"}]
    procedure = {"resourceType": "Procedure", "identifier": blank}
    assert identifier_keys(procedure) == frozenset()
    assert len(merge([c("1", "a", procedure), c("2", "b", dict(procedure))])) == 2


def test_two_contributions_with_one_key_are_refused() -> None:
    with pytest.raises(ValueError, match="same key"):
        merge([c("1", "a", immunization(DTAP_IPV)), c("1", "b", immunization(DTAP_IPV))])


# --------------------------------------------------------------------------------------- primary, dates


def test_the_primary_is_the_most_recently_updated_then_the_first_by_source_and_key() -> None:
    resource = immunization(DTAP_IPV)
    newest = c("9", "z", resource, updated="2024-01-01T12:00:00+02:00")  # 10:00 UTC
    items = merge(
        [c("1", "a", resource, updated="2024-01-01T09:59:59Z"), newest, c("2", "b", resource, updated="")]
    )
    assert items[0].primary == newest
    tied = merge(
        [
            c("2", "b", resource, updated="2024-01-01T12:00:00+02:00"),
            c("3", "a", resource, updated="2024-01-01T10:00:00Z"),
        ]
    )
    assert tied[0].primary.key == "3"  # the same moment: source "a" first
    assert merge([c("2", "b", resource), c("3", "a", resource, updated="not a date")])[0].primary.key == "3"


@pytest.mark.parametrize(
    ("dates", "agree"),
    [
        (["2014", "2014-03", "2014-03-01"], True),
        (["2014-03", "2014-05"], False),
        (["2014-03-01", "2014-03-01T10:00:00+01:00"], True),
        (["2014-03-01T09:00:00Z", "2014-03-01T10:00:00+01:00"], True),
        (["2014-03-01T09:00:00Z", "2014-03-01T10:00:00Z"], False),
        (["2014-03-02", "2014-03-01T23:30:00-05:00"], False),  # the day as written
        (["2014-03-01T10:00:00", "2014-03-01T11:00:00"], False),  # no offset: compared as written
        (["2014-03-01T10:00:00", "2014-03-01T10:00:00"], True),
        (["sometime", "2014"], False),
        ([], True),
    ],
)
def test_dates_agree_unless_they_contradict(dates: list[str], agree: bool) -> None:
    assert dates_agree(dates) is agree


# ------------------------------------------------------------------------------------------------- scale


def test_twenty_thousand_contributions_merge_in_about_linear_time() -> None:
    contributions: list[Contribution] = []
    for n in range(5_000):  # 5,000 immunizations held by sources a and b, 5,000 medications by c and d
        vaccine = immunization({"system": "urn:vaccines", "code": str(n)}, day=f"20{n % 25:02d}-01-01")
        contributions += [c(f"a{n}", "a", vaccine), c(f"b{n}", "b", dict(vaccine))]
        drug = medication({"system": "urn:drugs", "code": str(n)}, "active", "2014")
        contributions += [
            c(f"c{n}", "c", drug),
            c(f"d{n}", "d", medication({"system": "urn:drugs", "code": str(n)}, "stopped", "2015")),
        ]
    items = merge(contributions)
    assert len(items) == 10_000
    assert all(len(item.contributions) == 2 for item in items)
    assert sum(len(item.conflicts) for item in items) == 2 * 5_000  # status and date on every medication


# ------------------------------------------------------------------------------------------- properties

SOURCES = st.sampled_from(["a", "b", "c"])
CODINGS = st.sampled_from(
    [DTAP_IPV, DTAP_IPV_ATC, AML, HBA1C, SIMVASTATIN, {"system": "urn:x", "code": "1"}, {"code": "1"}]
)
DATES = st.sampled_from(
    ["2020", "2020-01-01", "2020-01-01T10:00:00Z", "2020-01-01T11:00:00+01:00", "2021-05-03", ""]
)
STATUSES = st.sampled_from(["active", "Active", "stopped", "completed", ""])
IDENTIFIERS = st.sampled_from([("urn:x", "1"), ("urn:x", "2"), ("urn:y", "1"), ("", "1"), ("urn:x", "")])
UPDATED = st.sampled_from(
    ["", "2024-01-01T10:00:00+00:00", "2024-01-01T11:00:00+01:00", "2025-06-01", "junk"]
)
TYPES = [
    "Immunization",
    "Condition",
    "AllergyIntolerance",
    "MedicationStatement",
    "MedicationRequest",
    "Observation",
    "Procedure",
    "Flag",
    "Consent",
    "DeviceUseStatement",
]


@st.composite
def resources(draw: st.DrawFn) -> dict[str, Any]:
    """A small resource of one of the types, from a few codes and dates, so that matches are frequent."""
    kind = draw(st.sampled_from(TYPES))
    concept: dict[str, Any] = {"coding": draw(st.lists(CODINGS, max_size=2))}
    if draw(st.booleans()):
        concept["text"] = draw(st.sampled_from(["Simvastatin", "simvastatin ", "Other"]))
    date = draw(DATES)
    resource: dict[str, Any] = {"resourceType": kind}
    if status := draw(STATUSES):
        resource["status"] = status
    if kind == "Immunization":
        resource.update(vaccineCode=concept, occurrenceDateTime=date)
    elif kind in {"Condition", "AllergyIntolerance"}:
        resource.update(code=concept, onsetDateTime=date)
        if clinical := draw(STATUSES):
            resource["clinicalStatus"] = {"coding": [{"system": CLINICAL, "code": clinical}]}
    elif kind in {"MedicationStatement", "MedicationRequest"}:
        resource.update(medicationCodeableConcept=concept, effectivePeriod={"start": date}, authoredOn=date)
    elif kind == "Observation":
        resource.update(code=concept, effectiveDateTime=date)
        value = draw(st.sampled_from([None, 7.5, "7.50", 8]))
        if value is not None:
            resource["valueQuantity"] = {"value": value, "system": "http://unitsofmeasure.org", "code": "%"}
        elif draw(st.booleans()):
            reading = draw(st.sampled_from([120, "120.0", 85]))
            resource["component"] = [
                {"code": concept, "valueQuantity": {"value": reading, "unit": "mm[Hg]"}},
            ]
    elif kind == "Flag":
        resource.update(code=concept, period={"start": date})
    elif kind == "Consent":
        resource.update(category=[concept], dateTime=date)
    elif kind == "DeviceUseStatement":
        resource.update(
            device={"display": draw(st.sampled_from(["Hip prosthesis", "hip  prosthesis", "Pump"]))}
        )
        if date:
            resource["timingDateTime"] = date
    else:
        resource.update(code=concept, performedDateTime=date)
    identifiers = draw(st.lists(IDENTIFIERS, max_size=2))
    if identifiers:
        resource["identifier"] = [{"system": s, "value": v} for s, v in identifiers]
    return resource


@st.composite
def records(
    draw: st.DrawFn, sources: st.SearchStrategy[str] = SOURCES, max_size: int = 14
) -> list[Contribution]:
    drawn = draw(st.lists(st.tuples(sources, resources(), st.text(max_size=3), UPDATED), max_size=max_size))
    return [
        Contribution(key=f"k{n}", source=s, resource=r, version=v, updated=u)
        for n, (s, r, v, u) in enumerate(drawn)
    ]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    ["identifier", "code", "vaccineCode", "occurrenceDateTime", "onsetDateTime", "status", "clinicalStatus",
     "valueQuantity", "effectiveDateTime", "medicationCodeableConcept", "medicationReference", "contained",
     "effectivePeriod", "coding", "component", "category", "device", "period", "dateTime"]
)  # fmt: skip


@st.composite
def odd_records(draw: st.DrawFn) -> list[Contribution]:
    """Resources whose fields hold anything JSON can."""
    drawn = draw(
        st.lists(
            st.tuples(SOURCES, st.sampled_from([*TYPES, ""]), st.dictionaries(FIELDS, JSON, max_size=5)),
            max_size=8,
        )
    )
    return [
        Contribution(key=f"k{n}", source=s, resource={"resourceType": t, **f})
        for n, (s, t, f) in enumerate(drawn)
    ]


PROPERTIES = settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])


def identifier_connected(members: Sequence[Contribution]) -> set[frozenset[str]]:
    """The members' groups when only shared identifiers link them (all pairs, the naive way)."""
    return components(members, lambda x, y: bool(identifier_keys(x.resource) & identifier_keys(y.resource)))


def components(members: Sequence[Contribution], linked: Any) -> set[frozenset[str]]:
    group = {m.key: {m.key} for m in members}
    for x, y in itertools.combinations(members, 2):
        if linked(x, y) and group[x.key] is not group[y.key]:
            joined = group[x.key] | group[y.key]
            for key in joined:
                group[key] = joined
    return {frozenset(g) for g in group.values()}


@PROPERTIES
@given(records(), st.data())
def test_order_does_not_matter(record: list[Contribution], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(record))
    assert merge(shuffled) == merge(record)  # the same grouping, primaries, conflicts, and item order


@PROPERTIES
@given(records())
def test_merging_is_idempotent(record: list[Contribution]) -> None:
    items = merge(record)
    assert merge([x for item in items for x in item.contributions]) == items
    for item in items:  # an item holds together on its own: nothing outside it was needed to form it
        assert merge(item.contributions) == [item]


@PROPERTIES
@given(records())
def test_nothing_is_lost(record: list[Contribution]) -> None:
    items = merge(record)
    kept = [x for item in items for x in item.contributions]
    assert sorted(kept, key=lambda x: x.key) == sorted(
        record, key=lambda x: x.key
    )  # each exactly once, unchanged
    assert sorted((x.key, x.version) for x in kept) == sorted((x.key, x.version) for x in record)


@PROPERTIES
@given(records())
def test_every_item_keeps_the_rules(record: list[Contribution]) -> None:
    for item in merge(record):
        members = item.contributions
        assert list(members) == sorted(members, key=lambda x: (x.source, x.key))
        assert item.primary in members
        assert len({x.resource["resourceType"] for x in members}) == 1
        by_identifier = identifier_connected(members)
        for x, y in itertools.combinations(members, 2):
            if x.source == y.source:  # a source's own rows are one fact only through identifiers
                assert any({x.key, y.key} <= group for group in by_identifier)


@PROPERTIES
@given(records())
def test_a_disagreement_is_never_hidden(record: list[Contribution]) -> None:
    for item in merge(record):
        found = {x.field: x for x in item.conflicts}
        for name in STATUS_FIELDS:
            given_values = {
                x.key: v for x in item.contributions if (v := status_as_given(x.resource.get(name)))
            }
            if len({v.casefold() for v in given_values.values()}) > 1:
                assert {(v.key, v.value) for v in found[name].values} == set(given_values.items())
            else:
                assert name not in found
        for x in item.conflicts:
            assert len(x.values) >= 2
            assert {v.key for v in x.values} <= item.keys


def status_as_given(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return ", ".join(sorted(coding["code"] for coding in value["coding"]))
    return ""


@PROPERTIES
@given(records(sources=st.uuids().map(str), max_size=10))
def test_with_one_row_per_source_items_are_the_connected_matches(record: list[Contribution]) -> None:
    """With no two rows of one source nothing is ambiguous: the items are exactly the connected components of
    the match relation, computed here over all pairs."""

    def same_fact(x: Contribution, y: Contribution) -> bool:
        return bool(
            identifier_keys(x.resource) & identifier_keys(y.resource)
            or rule_keys(x.resource) & rule_keys(y.resource)
        )

    assert grouping(merge(record)) == components(record, same_fact)


@PROPERTIES
@given(odd_records())
def test_odd_json_never_raises_and_loses_nothing(record: list[Contribution]) -> None:
    items = merge(record)
    assert sorted(x.key for item in items for x in item.contributions) == sorted(x.key for x in record)


@PROPERTIES
@given(records())
def test_merging_the_match_views_gives_what_merging_the_whole_resources_gives(
    record: list[Contribution],
) -> None:
    """The portal merges a record holding only each resource's match view (memory stays bounded)."""
    viewed = [replace(c, resource=match_view(c.resource)) for c in record]

    def outline(items: list[MergedItem]) -> list[tuple[frozenset[str], str, tuple[Conflict, ...]]]:
        return [(item.keys, item.primary.key, item.conflicts) for item in items]

    assert outline(merge(viewed)) == outline(merge(record))


def test_a_match_view_leaves_out_narrative_and_details_but_keeps_a_contained_medication() -> None:
    contained = [
        {"resourceType": "Medication", "id": "med", "code": {"text": "lisinopril"}},
        {"resourceType": "Organization", "id": "org", "name": "unrelated"},
    ]
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": "m1",
        "text": {"status": "generated", "div": "<div>long narrative</div>"},
        "note": [{"text": "a note"}],
        "status": "active",
        "contained": contained,
        "medicationReference": {"reference": "#med"},
        "effectiveDateTime": "2024-08-13",
    }

    view = match_view(resource)

    assert "text" not in view
    assert "note" not in view
    assert view["contained"] == [contained[0]]
    assert view["effectiveDateTime"] == "2024-08-13"
