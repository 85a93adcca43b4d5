from typing import Any

import pytest

from portal.accounts.models import User
from portal.records.management.commands.seed_demo import DEMO_IDENTIFIER_SYSTEM, DEMO_IDENTIFIER_VALUE
from tests.browser.test_login_and_job_page import sign_in
from tests.records.conftest import link_identifier, make_source

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_citizen_fetches_their_record_and_reads_it_in_both_languages(
    page: Any, live_server: Any, celery_worker_process: Any, fhir_sandbox: Any, citizen: User
) -> None:
    link_identifier(citizen, DEMO_IDENTIFIER_SYSTEM, DEMO_IDENTIFIER_VALUE)
    make_source(
        fhir_sandbox.base_url, patient_identifier_system=DEMO_IDENTIFIER_SYSTEM, name="National endpoint"
    )
    sign_in(page, live_server.url, citizen.email)

    page.click("text=Your records")
    assert page.get_by_test_id("empty-record").is_visible()
    page.get_by_test_id("pull-button").click()

    # The job page follows the pull in the worker, then leads to the record.
    page.wait_for_selector("#job-result:not([hidden])", timeout=60_000)
    assert page.get_by_test_id("job-status").inner_text() == "Succeeded"
    page.click("#job-result-link")
    page.wait_for_url(f"{live_server.url}/records/")

    allergies = page.locator("section[data-section=allergies]")
    assert "Allergies and Intolerances" in allergies.locator("h2").inner_text()
    assert "enicillin" in allergies.inner_text()
    assert page.locator("section[data-section=immunizations] [data-testid=record-item]").count() == 8
    # The source and its fetch time are said once, in the list of sources, not on every card.
    assert "From National endpoint" not in allergies.inner_text()
    assert "in your record, fetched" in page.get_by_test_id("source-held").inner_text()
    # The source's narrative, sanitised, opens on request.
    narrative = allergies.locator("details.narrative").first
    narrative.locator("summary").click()
    assert narrative.locator(".narrative-body").is_visible()
    assert page.locator(".narrative-body script").count() == 0

    page.click("button[name=language][value=da]")
    page.wait_for_selector("html[lang=da]")
    assert "Allergier og intolerancer" in page.locator("section[data-section=allergies] h2").inner_text()
    assert "Dine journaldata" in page.locator("h1").inner_text()
