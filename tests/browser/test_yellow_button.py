import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from core.ips.validate import validate_document
from portal.accounts.models import User
from portal.records.models import StoredResource
from tests.browser.a11y import check_page
from tests.browser.test_login_and_job_page import sign_in
from tests.browser.test_share_flow import sign_in_with_the_example, tab_presses_to
from tests.sharing.conftest import store_example

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_citizen_presses_the_yellow_button_without_immunizations_and_one_result(
    page: Any, live_server: Any, celery_worker_process: Any, citizen: User
) -> None:
    store_example(citizen)
    left_out = StoredResource.objects.filter(owner=citizen, section="results").first()
    assert left_out is not None
    sign_in(page, live_server.url, citizen.email)

    page.click(".site-nav a[href='/exports/']")
    page.check("input[name=format][value=json]")
    # "Everything" first: a few Tab presses from the format to the button, the section list out of the way.
    assert tab_presses_to(page, "input[name=format]:checked", "yellow-button") <= 4
    page.get_by_test_id("scope-choose").check()
    # A required section is ticked and cannot be unticked, and says why.
    medications = page.locator("input[name=sections][value='10160-0']")
    expect(medications).to_be_checked()
    expect(medications).to_be_disabled()
    expect(page.locator("#always-medications")).to_be_visible()
    page.uncheck("input[name=sections][value='11369-6']")  # immunizations
    results = page.locator("[data-section=results] details")
    results.locator("summary").click()
    page.uncheck(f"input[name=include][value='{left_out.pk}']")
    page.get_by_test_id("yellow-button").click()

    # The job page follows the export in the worker, then offers the download.
    page.wait_for_selector("#job-result:not([hidden])", timeout=60_000)
    assert page.get_by_test_id("job-status").inner_text() == "Succeeded"
    assert page.get_by_test_id("job-heading").inner_text() == "Your patient summary is ready"
    with page.expect_download() as download_info:
        page.click("#job-result-link")
    download = download_info.value
    assert download.suggested_filename.startswith("patient-summary-")
    body = Path(download.path()).read_bytes()
    bundle = json.loads(body)
    assert validate_document(bundle, bundle_json=body) == []
    sections = {s["code"]["coding"][0]["code"]: s for s in bundle["entry"][0]["resource"]["section"]}
    assert not sections.get("11369-6", {}).get("entry")  # the unticked optional section has no items
    assert sections["10160-0"]["entry"]  # required: in, with its items
    result_references = {entry["reference"] for entry in sections["30954-2"]["entry"]}
    assert not any(left_out.resource_id in reference for reference in result_references)
    assert (
        len(result_references) == StoredResource.objects.filter(owner=citizen, section="results").count() - 1
    )

    page.goto(f"{live_server.url}/exports/")
    history = page.get_by_test_id("activity")
    assert history.count() == 2
    assert "Summary downloaded" in history.first.inner_text()


@pytest.mark.parametrize("language", ["en", "da"])
def test_the_download_page_passes_axe_in_both_languages(
    page: Any, live_server: Any, citizen: User, language: str
) -> None:
    sign_in_with_the_example(page, live_server, citizen, language)
    page.goto(f"{live_server.url}/exports/")
    problems = check_page(page, "exports", language)
    page.get_by_test_id("scope-choose").check()
    page.locator("[data-section=immunizations] details summary").click()
    problems += check_page(page, "exports-choosing", language)
    assert not problems, "\n".join(problems)
