import json
from pathlib import Path
from typing import Any

import pytest

from core.ips.validate import validate_document
from portal.accounts.models import User
from tests.browser.test_login_and_job_page import sign_in
from tests.sharing.conftest import store_example

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_citizen_presses_the_yellow_button_without_medications_and_downloads_the_document(
    page: Any, live_server: Any, celery_worker_process: Any, citizen: User
) -> None:
    store_example(citizen)
    sign_in(page, live_server.url, citizen.email)

    page.click(".site-nav a[href='/exports/']")
    page.check("input[name=format][value=json]")
    page.uncheck("input[name=sections][value='10160-0']")  # medications
    page.get_by_test_id("yellow-button").click()

    # The job page follows the export in the worker, then offers the download.
    page.wait_for_selector("#job-result:not([hidden])", timeout=60_000)
    assert page.get_by_test_id("job-status").inner_text() == "Succeeded"
    with page.expect_download() as download_info:
        page.click("#job-result-link")
    download = download_info.value
    assert download.suggested_filename.startswith("patient-summary-")
    body = Path(download.path()).read_bytes()
    bundle = json.loads(body)
    assert validate_document(bundle, bundle_json=body) == []
    medications = next(
        section
        for section in bundle["entry"][0]["resource"]["section"]
        if section["code"]["coding"][0]["code"] == "10160-0"
    )
    assert medications["emptyReason"]["coding"][0]["code"] == "withheld"
    assert "lisinopril" not in body.decode()

    page.goto(f"{live_server.url}/exports/")
    history = page.get_by_test_id("activity")
    assert history.count() == 2
    assert "Summary downloaded" in history.first.inner_text()
