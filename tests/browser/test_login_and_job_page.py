from typing import Any

import pytest
from playwright.sync_api import expect

from portal.accounts.models import User
from portal.jobs.kinds import WORKER_CHECK
from portal.jobs.models import Job, JobStatus
from portal.jobs.services import job_create
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page: Any, base: str, email: str | None) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_citizen_signs_in_and_switches_to_danish(page: Any, live_server: Any, citizen: User) -> None:
    sign_in(page, live_server.url, citizen.email)
    assert page.get_by_test_id("signed-in-as").inner_text() == "Signed in as citizen@example.org"
    page.click("button[name=language][value=da]")
    page.wait_for_selector("html[lang=da]")
    assert page.get_by_test_id("signed-in-as").inner_text() == "Logget ind som citizen@example.org"


def test_job_page_follows_the_job_until_its_result(page: Any, live_server: Any, citizen: User) -> None:
    job = job_create(owner=citizen, kind=WORKER_CHECK)
    sign_in(page, live_server.url, citizen.email)
    page.goto(f"{live_server.url}/jobs/{job.id}/")
    assert page.get_by_test_id("job-status").inner_text() == "Queued"
    assert page.locator("#job-result").is_hidden()

    Job.objects.filter(id=job.id).update(status=JobStatus.RUNNING, progress=50)
    # A locator, not wait_for_function: the page's Content-Security-Policy forbids evaluated strings.
    expect(page.locator("#job-progress")).to_have_js_property("value", 50)
    assert page.get_by_test_id("job-status").inner_text() == "Running"

    Job.objects.filter(id=job.id).update(
        status=JobStatus.SUCCEEDED,
        progress=100,
        detail="The background worker ran this job.",
        result_url="/done/",
    )
    page.wait_for_selector("#job-result:not([hidden])")
    assert page.get_by_test_id("job-status").inner_text() == "Succeeded"
    assert page.locator("#job-detail").inner_text() == "The background worker ran this job."
    assert page.locator("#job-result-link").get_attribute("href") == "/done/"
