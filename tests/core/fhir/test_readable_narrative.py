"""The source's own text on the record page: the generator's boilerplate gone, property names in words, and
exactly as safe as sanitize_narrative."""

from typing import Any

import pytest

from core.fhir.narrative import readable_narrative, sanitize_narrative
from tests.conftest import ips_example
from tests.core.fhir.test_narrative import CORPUS, XSS_VECTORS, assert_inert

GENERATED = (
    '<div xmlns="http://www.w3.org/1999/xhtml"><a name="Condition_8039e4a7"> </a>'
    '<p class="res-header-id"><b>Generated Narrative: Condition 8039e4a7-d459-454c-92a5-6c17ca2a824b</b></p>'
    '<a name="8039e4a7"> </a>'
    '<p><b>clinicalStatus</b>: <span title="Codes:{http://terminology.hl7.org/CodeSystem/condition-clinical '
    'active}">Active</span></p>'
    '<p><b>code</b>: <span title="Codes:{http://snomed.info/sct 59621000}">Essential hypertension</span></p>'
    '<p><b>subject</b>: <a href="Bundle-x.html#Patient_1">Patricia JORDANA Female, DoB: 1956-09-30 '
    "( https://standards.digital.health.nz/ns/nhi-id#ABC1234)</a></p>"
    "<p><b>recordedDate</b>: 2016-05-25</p>"
    '<p><b>value</b>: 4.1 mmol/L<span style="background: LightGoldenRodYellow"> (Details: UCUM code'
    "mmol/L = 'mmol/L')</span></p>"
    '<h3>ReferenceRanges</h3><table class="grid">'
    '<tr><td style="display: none">-</td><td><b>Text</b></td></tr>'
    '<tr><td style="display: none">*</td><td>NA</td></tr></table></div>'
)


def test_the_generators_boilerplate_is_gone() -> None:
    text = readable_narrative(GENERATED)
    assert "Generated Narrative" not in text
    assert "8039e4a7" not in text
    assert "Codes:" not in text  # tooltips listing code systems
    assert "Details: UCUM" not in text
    assert "<td>-</td>" not in text
    assert "<td>*</td>" not in text  # the cells it hid with CSS stay hidden, without CSS
    assert "ABC1234" not in text  # the line naming the reader themself, with their identifier
    # What the reader needs stays.
    assert "Essential hypertension" in text
    assert "4.1 mmol/L" in text
    assert "2016-05-25" in text


def test_property_names_become_words() -> None:
    text = readable_narrative(GENERATED)
    for raw in ("clinicalStatus", "recordedDate", "ReferenceRanges", "<b>code</b>", "<b>value</b>"):
        assert raw not in text
    for words in (
        "<b>Clinical status</b>",
        "<b>Recorded date</b>",
        "<h3>Reference ranges</h3>",
        "<b>Code</b>",
    ):
        assert words in text


def test_a_narrative_someone_wrote_is_only_sanitised() -> None:
    written = '<div xmlns="http://www.w3.org/1999/xhtml"><p><b>camelCase</b>: kept as written</p></div>'
    assert readable_narrative(written) == sanitize_narrative(written)
    assert "<b>camelCase</b>" in readable_narrative(written)


def test_every_narrative_of_the_example_reads_without_raw_property_names() -> None:
    bundle: dict[str, Any] = ips_example("Bundle-bundle-ips-all-sections")
    for entry in bundle["entry"]:
        div = entry["resource"].get("text", {}).get("div")
        if not div:
            continue
        text = readable_narrative(div)
        assert "Generated Narrative" not in text
        assert "clinicalStatus" not in text
        assert "verificationStatus" not in text
        assert_inert(text)


@pytest.mark.parametrize("vector", XSS_VECTORS + CORPUS)
def test_hostile_markup_ends_inert_here_too(vector: str) -> None:
    for markup in (vector, f"<p class='res-header-id'>Generated Narrative: x</p>{vector}"):
        text = readable_narrative(markup)
        assert_inert(text)
        assert "attacker.example" not in text


def test_out_of_limits_or_blank_is_empty() -> None:
    assert readable_narrative("") == ""
    assert readable_narrative("<p>Generated Narrative</p>" + "<b>x</b>" * 20_000) == ""
