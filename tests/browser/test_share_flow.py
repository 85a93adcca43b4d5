"""Sharing end to end in Chromium: the citizen makes a passcode link (a real worker prepares it), a clinician
in a second browser context opens it in the viewer, and the citizen's access log then names the clinician."""

import io
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from portal.accounts.models import User
from portal.audit.models import RECIPIENT_ACTIONS, AuditEntry, Outcome
from tests.browser.test_login_and_job_page import sign_in
from tests.sharing.conftest import store_example

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CLINICIAN = "Dr. Ingrid Holm, Rigshospitalet"
PASSCODE = "blue-4711"


def test_a_clinician_opens_the_citizens_link_and_the_citizen_sees_who(
    page: Any, live_server: Any, celery_worker_process: Any, citizen: User
) -> None:
    store_example(citizen)
    sign_in(page, live_server.url, citizen.email)
    page.click(".site-nav a[href='/shares/']")
    page.get_by_test_id("share-passcode").fill(PASSCODE)
    page.get_by_test_id("share-label").fill("For my GP")
    page.get_by_test_id("share-button").click()

    # The share page refreshes itself until the worker has prepared the files, then shows link and QR code.
    link_field = page.get_by_test_id("share-link")
    link_field.wait_for(timeout=90_000)
    link = link_field.input_value()
    assert link.startswith(f"{live_server.url}/viewer/#shlink:/")
    # The QR code, as the browser draws it, reads back as the very same link.
    picture = Image.open(io.BytesIO(page.locator("[data-testid=share-qr] svg").screenshot()))
    (barcode,) = zxingcpp.read_barcodes(picture)
    assert barcode.format == zxingcpp.BarcodeFormat.QRCode
    assert barcode.text == link
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.get_by_test_id("copy-link").click()
    expect(page.get_by_test_id("copy-link")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == link

    clinician_context = page.context.browser.new_context(locale="en-GB", accept_downloads=True)
    try:
        viewer = clinician_context.new_page()
        viewer.set_default_timeout(30_000)
        viewer.goto(link)
        assert viewer.get_by_test_id("link-label").inner_text() == "For my GP"
        assert viewer.evaluate("location.hash") == ""
        viewer.get_by_test_id("recipient-input").fill(CLINICIAN)
        viewer.get_by_test_id("passcode-input").fill(PASSCODE)
        viewer.get_by_test_id("open-button").click()
        allergies = viewer.locator("[data-testid=section][data-code='48765-2']")
        allergies.wait_for()
        assert "Allergies" in allergies.get_by_test_id("section-title").inner_text()
        assert viewer.get_by_test_id("patient-name").inner_text() == "Patricia JORDANA"
        with viewer.expect_download() as download_info:
            viewer.get_by_test_id("download-pdf").first.click()
        assert Path(download_info.value.path()).read_bytes().startswith(b"%PDF")
    finally:
        clinician_context.close()

    page.goto(f"{live_server.url}/access-log/")
    rows = page.get_by_test_id("access-row")
    assert rows.count() == 3  # the manifest and its two files
    assert {rows.nth(index).get_by_test_id("access-recipient").inner_text() for index in range(3)} == {
        CLINICIAN
    }
    assert (
        AuditEntry.objects.filter(owner=citizen, action__in=RECIPIENT_ACTIONS, outcome=Outcome.OPENED).count()
        == 1
    )
