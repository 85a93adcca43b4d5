"""The one table of FHIR's fixed codes, FHIR dates read to their precision, and summaries in a language."""

import ast
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.fhir import wording as wording_module
from core.fhir.summary import summarize
from core.fhir.wording import AS_GIVEN, FIXED_CODES, STATUS_CONTEXT, Wording, fixed_term, parse_fhir_date
from tests.conftest import ips_example

# A stand-in for a language: every msgid in capitals, decimals with a comma, dates spelled out.
TRANSLATED: dict[str, str] = {}


def shout(context: str, message: str) -> str:
    assert context == STATUS_CONTEXT
    TRANSLATED[message] = message.upper()
    return message.upper()


LOUD = Wording(
    term=shout,
    number=lambda text: text.replace(".", ","),
    day=lambda value: f"day {value.day}/{value.month}/{value.year}",
    month=lambda value: f"month {value.month}/{value.year}",
    year=lambda value: f"year {value}",
    moment=lambda value: f"moment {value.astimezone(UTC):%d/%m/%Y %H:%M} UTC",
    dates=True,
    range_separator=" to ",
)

# FHIR R4 (4.0.1), the required bindings: every code of each value set is in the table.
REQUIRED_CODES = {
    "AllergyIntolerance.clinicalStatus": {"active", "inactive", "resolved"},
    "AllergyIntolerance.verificationStatus": {"unconfirmed", "confirmed", "refuted", "entered-in-error"},
    "AllergyIntolerance.criticality": {"low", "high", "unable-to-assess"},
    "AllergyIntolerance.type": {"allergy", "intolerance"},
    "Condition.clinicalStatus": {"active", "recurrence", "relapse", "inactive", "remission", "resolved"},
    "MedicationStatement.status": {
        "active", "completed", "entered-in-error", "intended", "stopped", "on-hold", "unknown", "not-taken",
    },
    "Observation.status": {
        "registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error",
        "unknown",
    },
    "DiagnosticReport.status": {
        "registered", "partial", "preliminary", "final", "amended", "corrected", "appended", "cancelled",
        "entered-in-error", "unknown",
    },
    "Immunization.status": {"completed", "entered-in-error", "not-done"},
    "Procedure.status": {
        "preparation", "in-progress", "not-done", "on-hold", "stopped", "completed", "entered-in-error",
        "unknown",
    },
    "CarePlan.status": {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"},
    "Flag.status": {"active", "inactive", "entered-in-error"},
    "Consent.status": {"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"},
    "DeviceUseStatement.status": {
        "active", "completed", "entered-in-error", "intended", "stopped", "on-hold",
    },
}  # fmt: skip


# ---------------------------------------------------------------------------- the table


@pytest.mark.parametrize("element", sorted(REQUIRED_CODES))
def test_every_code_of_a_required_value_set_has_a_word(element: str) -> None:
    assert set(FIXED_CODES[element]) == REQUIRED_CODES[element]


def test_words_are_capitalised_english_msgids() -> None:
    for element, codes in FIXED_CODES.items():
        for code, msgid in codes.items():
            assert msgid[:1].isupper(), (element, code)
            assert msgid.replace(" ", "").isalpha(), (element, code)
    assert fixed_term("MedicationStatement.status", "stopped") == "Stopped"
    assert fixed_term("Observation.status", "final") == "Final"
    assert fixed_term("Condition.clinicalStatus", "active") == "Active"
    assert fixed_term("Observation.status", "no-such-code") is None
    assert fixed_term("Nothing.status", "active") is None


def test_every_word_is_marked_for_makemessages_with_its_context() -> None:
    """makemessages collects ``pgettext("record value", "…")`` literals: each msgid must be one."""
    tree = ast.parse(Path(wording_module.__file__).read_text(encoding="utf-8"))
    marked = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "pgettext":
            context, message = node.args
            assert isinstance(context, ast.Constant)
            assert isinstance(message, ast.Constant)
            if context.value == STATUS_CONTEXT:
                marked.add(message.value)
    used = {msgid for codes in FIXED_CODES.values() for msgid in codes.values()}
    assert used <= marked


def test_a_code_outside_the_table_is_shown_as_the_source_words_it() -> None:
    assert LOUD.code("Observation.status", "weird", "weird") == "weird"
    assert LOUD.code("Observation.status", "final", "final") == "FINAL"
    assert AS_GIVEN.code("Observation.status", "final", "final") == "final"


def test_the_module_is_pure() -> None:
    tree = ast.parse(Path(wording_module.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name if isinstance(node, ast.Import) else node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {"__future__", "re", "collections.abc", "dataclasses", "datetime", "types", "typing"}


# ---------------------------------------------------------------------------- FHIR dates


def test_dates_are_read_to_their_precision() -> None:
    year = parse_fhir_date("2016")
    assert year is not None
    assert (year.precision, year.first_day, year.last_day) == ("year", date(2016, 1, 1), date(2016, 12, 31))
    february = parse_fhir_date("2024-02")
    assert february is not None
    assert (february.precision, february.last_day) == ("month", date(2024, 2, 29))
    december = parse_fhir_date("2023-12")
    assert december is not None
    assert december.last_day == date(2023, 12, 31)
    day = parse_fhir_date("2016-05-25")
    assert day is not None
    assert (day.precision, day.first_day, day.last_day) == ("day", date(2016, 5, 25), date(2016, 5, 25))
    moment = parse_fhir_date("2023-10-31T15:06:00+00:00")
    assert moment is not None
    assert moment.moment == datetime(2023, 10, 31, 15, 6, tzinfo=UTC)
    offset = parse_fhir_date("2024-04-10T09:58:30.123-05:30")
    assert offset is not None
    assert offset.moment is not None
    assert offset.moment.utcoffset() == -timedelta(hours=5, minutes=30)
    zulu = parse_fhir_date("2025-08-01T10:00:00Z")
    assert zulu is not None
    assert zulu.moment == datetime(2025, 8, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    ["", "childhood", "2023-13", "2023-02-30", "2023-10-31T25:00:00Z", "20231031", "2023-1-5", "12 May"],
)
def test_what_is_not_a_fhir_date_is_not_read(text: str) -> None:
    assert parse_fhir_date(text) is None
    assert LOUD.date_text(text) == text  # shown as the source wrote it


def test_each_precision_has_its_one_style() -> None:
    assert LOUD.date_text("2016") == "year 2016"
    assert LOUD.date_text("2016-05") == "month 5/2016"
    assert LOUD.date_text("2016-05-25") == "day 25/5/2016"
    assert LOUD.date_text("2023-10-31T16:06:00+01:00") == "moment 31/10/2023 15:06 UTC"
    # Without a wording, dates stay as given: the document's own narratives keep them.
    assert AS_GIVEN.date_text("2023-10-31T16:06:00+01:00") == "2023-10-31T16:06:00+01:00"


# ---------------------------------------------------------------------------- summaries in a language


def resources(resource_type: str) -> list[dict[str, Any]]:
    bundle = ips_example("Bundle-bundle-ips-all-sections")
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def test_the_default_keeps_todays_output() -> None:
    weight = next(r for r in resources("Observation") if r["code"]["coding"][0]["code"] == "29463-7")
    summary = summarize(weight)
    assert (summary.status, summary.date) == ("final", "2024-04-10T09:58:00+00:00")
    assert [d.value for d in summary.details] == ["91.5 kg"]


def test_statuses_dates_and_measurements_are_worded() -> None:
    weight = next(r for r in resources("Observation") if r["code"]["coding"][0]["code"] == "29463-7")
    summary = summarize(weight, None, LOUD)
    assert summary.status == "FINAL"
    assert summary.date == "moment 10/04/2024 09:58 UTC"
    assert summary.raw_date == "2024-04-10T09:58:00+00:00"  # for the record page's date filter
    assert [d.value for d in summary.details] == ["91,5 kg"]

    statuses = {
        summarize(r, None, LOUD).title: summarize(r, None, LOUD).status
        for r in resources("MedicationStatement")
    }
    assert statuses["lisinopril 5 mg tablet"] == "ACTIVE"
    assert "STOPPED" in statuses.values()
    (allergy,) = resources("AllergyIntolerance")
    assert summarize(allergy, None, LOUD).status == "ACTIVE"  # from the code, not the source's English


def test_every_status_of_the_example_is_worded_by_the_table() -> None:
    bundle = ips_example("Bundle-bundle-ips-all-sections")
    for entry in bundle["entry"]:
        resource = entry["resource"]
        status = summarize(resource, None, LOUD).status
        if status is not None:
            assert status == status.upper(), resource["resourceType"]


def test_a_condition_keeps_a_doubtful_verification_in_words() -> None:
    condition = {
        "resourceType": "Condition",
        "code": {"text": "Asthma"},
        "clinicalStatus": {"coding": [{"code": "active", "display": "Active"}]},
        "verificationStatus": {"coding": [{"code": "provisional"}]},
        "onsetPeriod": {"start": "2019", "end": "2020-03"},
    }
    summary = summarize(condition, None, LOUD)
    assert summary.status == "ACTIVE (PROVISIONAL)"
    assert summary.date == "year 2019 to month 3/2020"
    assert summarize(condition).status == "Active (provisional)"  # the source's display and code, as before


def test_numbers_everywhere_in_a_measurement_take_the_separator() -> None:
    observation = {
        "resourceType": "Observation",
        "status": "preliminary",
        "code": {"text": "Range"},
        "valueRange": {"low": {"value": 1.5, "unit": "mg"}, "high": {"value": "2.25", "unit": "mg"}},
        "component": [
            {
                "code": {"text": "Ratio"},
                "valueRatio": {"numerator": {"value": 0.5}, "denominator": {"value": 2}},
            }
        ],
    }
    values = [d.value for d in summarize(observation, None, LOUD).details]
    assert values == ["1,5 mg\N{EN DASH}2,25 mg", "Ratio: 0,5 / 2"]
    assert summarize(observation, None, LOUD).status == "PRELIMINARY"


def test_an_allergy_says_its_type_in_the_language() -> None:
    allergy = {"resourceType": "AllergyIntolerance", "code": {"text": "Peanut"}, "type": "allergy"}
    details = summarize(allergy, None, LOUD).details
    assert [(d.label, d.value) for d in details] == [("Type", "ALLERGY")]
    assert summarize(allergy).details == ()  # the document's own narrative is unchanged
