import io
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from portal.accounts.models import User
from portal.jobs.kinds import WORKER_CHECK
from portal.jobs.models import Job, JobStatus
from portal.jobs.services import job_create
from sharing.exports.services import EXPORT_KIND
from tests.browser.a11y import check_page
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page: Any, base: str, email: str | None) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{base}/")


def switch_to_danish(page: Any) -> None:
    page.click("button[name=language][value=da]")
    page.wait_for_selector("html[lang=da]")


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


def bar_darkness(page: Any) -> float:
    """How much of the progress bar's inside is drawn dark (0: an empty track, 1: full)."""
    picture = Image.open(io.BytesIO(page.locator("#job-progress").screenshot())).convert("L")
    width, height = picture.size
    inside = picture.crop((4, 4, width - 4, height - 4))
    pixels = list(inside.getdata())
    return sum(1 for value in pixels if value < 128) / len(pixels)


def test_the_job_page_heading_bar_and_help_follow_the_state(
    page: Any, live_server: Any, citizen: User
) -> None:
    job = job_create(owner=citizen, kind=EXPORT_KIND)
    sign_in(page, live_server.url, citizen.email)
    page.goto(f"{live_server.url}/jobs/{job.id}/")
    heading = page.get_by_test_id("job-heading")
    expect(heading).to_have_text("Preparing your patient summary")
    # 0 %: the bar is an empty track, and says so in words too.
    assert bar_darkness(page) < 0.05
    expect(page.get_by_test_id("job-percent")).to_have_text("0\u00a0%")

    Job.objects.filter(id=job.id).update(status=JobStatus.RUNNING, progress=50)
    expect(page.get_by_test_id("job-percent")).to_have_text("50\u00a0%")
    assert 0.3 < bar_darkness(page) < 0.7

    Job.objects.filter(id=job.id).update(status=JobStatus.FAILED, detail="Something went wrong on our side.")
    expect(heading).to_have_text("Your patient summary could not be made")
    expect(page.get_by_test_id("job-failed-help")).to_be_visible()
    expect(page.locator("#job-progress-row")).to_be_hidden()
    assert page.title().startswith("Your patient summary could not be made")
    assert "Preparing" not in page.locator("main").inner_text()


def test_the_job_page_after_success_says_it_is_ready(page: Any, live_server: Any, citizen: User) -> None:
    job = job_create(owner=citizen, kind=EXPORT_KIND)
    sign_in(page, live_server.url, citizen.email)
    page.goto(f"{live_server.url}/jobs/{job.id}/")
    Job.objects.filter(id=job.id).update(status=JobStatus.SUCCEEDED, progress=100, result_url="/exports/")
    expect(page.get_by_test_id("job-heading")).to_have_text("Your patient summary is ready")
    expect(page.get_by_test_id("job-failed-help")).to_be_hidden()
    assert bar_darkness(page) > 0.9
    assert "Preparing" not in page.locator("main").inner_text()


@pytest.mark.parametrize("language", ["en", "da"])
def test_job_pages_pass_axe_in_every_state(page: Any, live_server: Any, citizen: User, language: str) -> None:
    job = job_create(owner=citizen, kind=EXPORT_KIND)
    sign_in(page, live_server.url, citizen.email)
    if language == "da":
        switch_to_danish(page)
    problems = []
    for status, progress in (
        (JobStatus.QUEUED, 0),
        (JobStatus.RUNNING, 40),
        (JobStatus.FAILED, 40),
        (JobStatus.SUCCEEDED, 100),
    ):
        Job.objects.filter(id=job.id).update(status=status, progress=progress)
        page.goto(f"{live_server.url}/jobs/{job.id}/")
        expect(page.get_by_test_id("job-status")).to_have_attribute("class", f"badge badge-{status}")
        problems += check_page(page, f"job-{status}", language)
    assert not problems, "\n".join(problems)
