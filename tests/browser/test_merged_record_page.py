"""The record of three sources in Chromium: one card per fact naming its sources, the disagreement shown,
and the page clean for axe and without sideways scrolling, in both languages (screenshots under
var/screenshots/)."""

from typing import Any

import pytest

from portal.accounts.models import User
from tests.browser.a11y import check_page
from tests.browser.test_login_and_job_page import sign_in, switch_to_danish
from tests.records.test_merged_record import pull_all_three
from tests.three_sources import ThreeSources

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("language", ["en", "da"])
def test_the_merged_record_page_reads_well_in_both_languages(
    page: Any, live_server: Any, citizen: User, three_sources: ThreeSources, language: str
) -> None:
    sources = pull_all_three(citizen, three_sources)
    sign_in(page, live_server.url, citizen.email)
    if language == "da":
        switch_to_danish(page)
    page.goto(f"{live_server.url}/records/")

    conflict = page.get_by_test_id("item-conflict")
    assert conflict.count() == 1
    sides = conflict.get_by_test_id("conflict-side").all_inner_texts()
    assert len(sides) == 2
    for key in ("gp", "hospital"):
        assert [side for side in sides if sources[key].name in side], key
    heading = "Kilderne er ikke enige:" if language == "da" else "The sources disagree:"
    assert heading in conflict.inner_text()
    both = [text for text in page.get_by_test_id("item-sources").all_inner_texts() if ", " in text]
    assert len(both) == 3  # the vaccination, the diagnosis and the medicine two sources hold
    problems = check_page(page, "records-three-sources", language)
    assert not problems, "\n".join(problems)
