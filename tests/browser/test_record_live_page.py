"""The record page in Chromium while three sources are fetched: it shows each source's progress, then what
each one delivered as it arrives, and the merged record at the end, without the citizen reloading; clean for
axe mid-fetch in both languages (screenshots under var/screenshots/records-live-*)."""

from typing import Any

import pytest

from portal.accounts.models import User
from portal.jobs.services import job_run
from portal.records.management.commands.seed_demo import DEMO_IDENTIFIER_SYSTEM, DEMO_IDENTIFIER_VALUE
from portal.records.models import Pull
from portal.records.services import pull_start
from tests.browser.a11y import check_page
from tests.browser.test_login_and_job_page import sign_in, switch_to_danish
from tests.conftest import wait_for
from tests.records.conftest import link_identifier, make_source, merge_now
from tests.three_sources import ThreeSources

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def until(page: Any, expression: str, *, timeout: float = 20) -> None:
    """Wait until the expression holds in the page (evaluated from outside: the page's CSP forbids eval)."""
    wait_for(lambda: page.evaluate(f"() => Boolean({expression})"), timeout=timeout, what=expression)


ITEMS = "document.querySelectorAll('[data-testid=record-item]').length"
BARS = "document.querySelectorAll('[data-testid=source-progress]').length"


@pytest.mark.parametrize("language", ["en", "da"])
def test_the_record_page_shows_each_source_as_it_arrives(
    page: Any, live_server: Any, citizen: User, three_sources: ThreeSources, language: str
) -> None:
    link_identifier(citizen, DEMO_IDENTIFIER_SYSTEM, DEMO_IDENTIFIER_VALUE)
    names = {key: three_sources.manifest["sources"][key]["name"] for key in three_sources.base_urls}
    sources = {
        key: make_source(url, name=names[key], patient_identifier_system=DEMO_IDENTIFIER_SYSTEM)
        for key, url in three_sources.base_urls.items()
    }
    # Queued, and run below one by one as a worker would: the page is watched in between.
    jobs = {Pull.objects.get(job=job).source_id: job for job in pull_start(owner=citizen)}
    sign_in(page, live_server.url, citizen.email)
    if language == "da":
        switch_to_danish(page)
    page.goto(f"{live_server.url}/records/")
    assert page.evaluate(BARS) == 3
    assert page.evaluate(ITEMS) == 0
    assert page.get_by_test_id("record-live-note").is_visible()
    page.evaluate("window.stayedOnThePage = true")

    job_run(job_id=jobs[sources["hospital"].pk].id)
    until(page, f"{ITEMS} > 0 && {BARS} == 2")
    hospital = page.locator(f'[data-source-id="{sources["hospital"].pk}"]')
    assert hospital.get_by_test_id("source-held").is_visible()
    status = page.locator("#record-live-status")
    until(page, "document.getElementById('record-live-status').textContent.length > 0")
    assert names["hospital"] in status.text_content()
    problems = check_page(page, "records-live", language)
    assert not problems, "\n".join(problems)

    job_run(job_id=jobs[sources["gp"].pk].id)
    job_run(job_id=jobs[sources["register"].pk].id)
    merge_now(citizen)
    until(page, "document.getElementById('record-sources').getAttribute('data-busy') === 'false'")
    assert page.evaluate(BARS) == 0
    # The merged record arrived in place: the disagreement between the hospital and the GP is shown.
    page.get_by_test_id("item-conflict").wait_for(timeout=10_000)
    assert page.get_by_test_id("item-conflict").count() == 1
    assert page.get_by_test_id("source-held").count() == 3
    assert page.get_by_test_id("record-live-note").count() == 0
    done = "Alle dine kilder har svaret" if language == "da" else "All your sources have answered"
    assert done in status.text_content()
    assert page.evaluate("window.stayedOnThePage") is True  # no reload: the parts were swapped in
