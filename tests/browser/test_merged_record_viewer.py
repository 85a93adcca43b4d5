"""A record of three sources, shared by link and opened by a clinician in Chromium: the viewer names every
source, and each item's own sources: in a section of several sources its table has a Source column (a fact two
sources hold names both), a section of one source names it above its text; what they disagree on is said."""

from typing import Any

import pytest

from portal.accounts.models import User
from portal.jobs.models import Job, JobStatus
from portal.jobs.services import job_run
from sharing.models import Share
from tests.browser.test_login_and_job_page import sign_in
from tests.records.test_merged_record import pull_all_three
from tests.three_sources import ThreeSources

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

IMMUNIZATIONS, ALLERGIES, PROBLEMS, MEDICATIONS = "11369-6", "48765-2", "11450-4", "10160-0"


def table_rows(section: Any) -> list[dict[str, str]]:
    """The section's narrative table as rows of {column header: cell text}."""
    headers = section.locator("table thead th").all_inner_texts()
    rows = []
    for row in section.locator("table tbody tr").all():
        rows.append(dict(zip(headers, row.locator("td").all_inner_texts(), strict=True)))
    return rows


def test_the_viewer_names_the_sources_of_each_item(
    page: Any, live_server: Any, citizen: User, three_sources: ThreeSources
) -> None:
    sources = pull_all_three(citizen, three_sources)
    names = {key: source.name for key, source in sources.items()}
    sign_in(page, live_server.url, citizen.email)
    page.goto(f"{live_server.url}/shares/")
    page.get_by_test_id("share-button").click()
    share = Share.objects.latest("created_at")
    job_run(job_id=share.job_id)
    assert Job.objects.get(id=share.job_id).status == JobStatus.SUCCEEDED
    page.goto(f"{live_server.url}/shares/{share.id}/")
    link = page.get_by_test_id("share-link").input_value()

    context = page.context.browser.new_context(locale="en-GB")
    try:
        viewer = context.new_page()
        viewer.set_default_timeout(30_000)
        viewer.goto(link)
        viewer.get_by_test_id("recipient-input").fill("Dr. Jens Hansen, Aarhus")
        viewer.get_by_test_id("open-button").click()
        viewer.get_by_test_id("important").wait_for()

        said = viewer.get_by_test_id("provenance-sources").inner_text()
        assert all(name in said for name in names.values()), said

        vaccinations = table_rows(viewer.locator(f"[data-testid=section][data-code='{IMMUNIZATIONS}']"))
        assert vaccinations
        assert all(row["Source"] for row in vaccinations)
        both = [row for row in vaccinations if names["gp"] in row["Source"]]
        assert len(both) == 1  # the influenza vaccination the GP and the register hold
        assert names["register"] in both[0]["Source"]
        problems = table_rows(viewer.locator(f"[data-testid=section][data-code='{PROBLEMS}']"))
        hypertension = [row for row in problems if "ypertension" in row["Item"]]
        assert len(hypertension) == 1
        assert names["gp"] in hypertension[0]["Source"]
        assert names["hospital"] in hypertension[0]["Source"]

        # The medicine the GP calls active and the hospital stopped: the viewer says they disagree.
        medicines = table_rows(viewer.locator(f"[data-testid=section][data-code='{MEDICATIONS}']"))
        disputed = [row for row in medicines if "The sources disagree on the status" in row["Details"]]
        assert len(disputed) == 1
        assert names["gp"] in disputed[0]["Details"]
        assert names["hospital"] in disputed[0]["Details"]

        # Only the hospital holds allergies: the section names it once, and its table needs no Source column.
        allergies = viewer.locator(f"[data-testid=section][data-code='{ALLERGIES}']")
        assert allergies.get_by_test_id("section-source").inner_text() == f"Source: {names['hospital']}."
        assert "Source" not in allergies.locator("table thead th").all_inner_texts()
    finally:
        context.close()
