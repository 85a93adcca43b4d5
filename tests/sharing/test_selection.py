"""The one form both the download page and the share page read their choice with."""

import pytest
from django.http import QueryDict

from core.ips.sections import SECTION_BY_KEY
from sharing.selection import UNKNOWN_SECTION, UNREADABLE, SelectionForm


def form_of(query: str) -> SelectionForm:
    form = SelectionForm(QueryDict(query))
    form.is_valid()
    return form


def test_nothing_chosen_means_every_section_and_no_item_left_out() -> None:
    form = form_of("")
    assert form.is_valid()
    assert form.section_keys == []
    assert form.excluded_items == []


def test_sections_by_loinc_code_or_key_and_items_by_id() -> None:
    allergies, medications = SECTION_BY_KEY["allergies"], SECTION_BY_KEY["medications"]
    form = form_of(f"sections={allergies.loinc}&sections=medications&exclude=12&exclude=7")
    assert form.is_valid()
    assert form.section_keys == ["allergies", medications.key]
    assert form.excluded_items == [12, 7]


@pytest.mark.parametrize("query", ["sections=99999-9", "sections=<script>", "sections=11450-4&sections=nope"])
def test_an_unknown_section_is_named_as_such(query: str) -> None:
    form = form_of(query)
    assert not form.is_valid()
    assert form.first_error() == UNKNOWN_SECTION


@pytest.mark.parametrize("query", ["exclude=abc", "exclude=1.5", "exclude=12&exclude=", "exclude=%00"])
def test_an_item_that_is_not_a_whole_number_is_unreadable(query: str) -> None:
    form = form_of(query)
    assert not form.is_valid()
    assert form.first_error() == UNREADABLE
