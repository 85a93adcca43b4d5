"""Sharing end to end in Chromium: the citizen makes a passcode link (a real worker prepares it), a clinician
in a second browser context opens it in the viewer, and the citizen's access log then names the clinician."""

import io
import re
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from core.fhir.summary import summarize
from portal.accounts.models import User
from portal.audit.models import RECIPIENT_ACTIONS, AuditEntry, Outcome
from portal.jobs.services import job_run
from portal.records.models import StoredResource
from portal.records.selectors import IMPORTANT_SECTIONS
from sharing.models import Share
from tests.browser.a11y import check_page
from tests.browser.test_login_and_job_page import sign_in, switch_to_danish
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
    page.get_by_test_id("share-passcode-again").fill(PASSCODE)
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


def tab_presses_to(page: Any, start: str, target_testid: str, *, limit: int = 60) -> int:
    """Tab presses from the focused ``start`` element until the element with ``target_testid`` has focus."""
    page.locator(start).focus()
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if (
            page.evaluate("() => document.activeElement && document.activeElement.dataset.testid")
            == target_testid
        ):
            return presses
    raise AssertionError(f"{target_testid} not reached in {limit} Tab presses")


def test_the_share_form_is_short_to_tab_through_and_checks_the_passcode(
    page: Any, live_server: Any, citizen: User
) -> None:
    store_example(citizen)
    sign_in(page, live_server.url, citizen.email)
    page.goto(f"{live_server.url}/shares/")

    # From the form's first control to the share button: a handful of presses (the sections are not in the
    # way until the citizen asks to choose).
    presses = tab_presses_to(page, "[data-testid=share-form] input[name=expires_in]:checked", "share-button")
    assert presses <= 9, presses
    page.get_by_test_id("scope-choose").check()
    expect(page.get_by_test_id("section-list")).to_be_visible()
    assert (
        tab_presses_to(page, "[data-testid=share-form] input[name=expires_in]:checked", "share-button")
        > presses
    )
    page.get_by_test_id("scope-all").check()
    expect(page.get_by_test_id("section-list")).to_be_hidden()

    # The show toggle: a real button that says whether it is pressed, and shows both entries.
    toggle = page.get_by_test_id("passcode-toggle")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    page.get_by_test_id("share-passcode").fill(PASSCODE)
    page.get_by_test_id("share-passcode-again").fill("blue-4712")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("share-passcode")).to_have_attribute("type", "text")
    expect(page.get_by_test_id("share-passcode-again")).to_have_attribute("type", "text")
    toggle.click()
    expect(page.get_by_test_id("share-passcode")).to_have_attribute("type", "password")

    # A typo in the second entry: the form again, the error next to the field, no link, no passcode shown.
    page.get_by_test_id("share-button").click()
    expect(page.get_by_test_id("passcode-error")).to_contain_text("The two passcodes are not the same")
    expect(page.get_by_test_id("share-passcode-again")).to_have_attribute("aria-invalid", "true")
    assert not Share.objects.exists()
    assert PASSCODE not in page.content()
    assert page.get_by_test_id("share-passcode").input_value() == ""


def sign_in_with_the_example(page: Any, live_server: Any, citizen: User, language: str) -> None:
    """The citizen holds the IPS example record, signs in, and reads the portal in ``language``."""
    store_example(citizen)
    sign_in(page, live_server.url, citizen.email)
    if language == "da":
        switch_to_danish(page)


@pytest.mark.parametrize("language", ["en", "da"])
def test_the_share_pages_pass_axe_in_both_languages(
    page: Any, live_server: Any, citizen: User, language: str
) -> None:
    sign_in_with_the_example(page, live_server, citizen, language)
    page.goto(f"{live_server.url}/shares/")
    problems = check_page(page, "shares", language)
    page.get_by_test_id("scope-choose").check()
    problems += check_page(page, "shares-choosing", language)

    page.get_by_test_id("share-passcode").fill(PASSCODE)
    page.get_by_test_id("share-passcode-again").fill("something-else")
    page.get_by_test_id("share-button").click()
    page.get_by_test_id("passcode-error").wait_for()
    problems += check_page(page, "shares-passcode-error", language)

    page.get_by_test_id("share-passcode").fill(PASSCODE)
    page.get_by_test_id("share-passcode-again").fill(PASSCODE)
    page.get_by_test_id("share-label").fill("For my GP")
    page.get_by_test_id("share-button").click()
    page.wait_for_url(re.compile(r"/shares/[0-9a-f-]{36}/$"))
    share = Share.objects.get()
    problems += check_page(page, "share-preparing", language)
    job_run(job_id=share.job_id)
    page.reload()
    page.get_by_test_id("share-link").wait_for()
    if language == "en":
        assert (
            "Protected with a passcode you chose." in page.get_by_test_id("share-passcode-state").inner_text()
        )
    assert PASSCODE not in page.content()
    problems += check_page(page, "share-detail", language)
    link = page.get_by_test_id("share-link").input_value()
    page.goto(f"{live_server.url}/shares/")
    problems += check_page(page, "shares-with-a-link", language)
    problems += check_viewer_on_the_link(page, link, citizen, language)
    assert not problems, "\n".join(problems)


def check_viewer_on_the_link(page: Any, link: str, citizen: User, language: str) -> list[str]:
    """A clinician opens the citizen's link in a browser of their own, in ``language``: the access form,
    a wrong passcode and the opened summary pass axe, and the summary puts what matters first."""
    locale = "da-DK" if language == "da" else "en-GB"
    context = page.context.browser.new_context(locale=locale)
    try:
        viewer = context.new_page()
        viewer.set_default_timeout(30_000)
        viewer.goto(link)
        viewer.wait_for_selector(f"html[lang={language}]")
        viewer.get_by_test_id("access-form").wait_for()
        # The clinician has no account here: no sign-in or account links.
        assert viewer.locator("a[href^='/accounts/']").count() == 0
        problems = check_page(viewer, "viewer-access", language)

        viewer.get_by_test_id("recipient-input").fill(CLINICIAN)
        viewer.get_by_test_id("passcode-input").fill("not-the-passcode")
        viewer.get_by_test_id("open-button").click()
        viewer.locator("[data-testid=viewer-message][data-kind=error]").wait_for()
        problems += check_page(viewer, "viewer-wrong-passcode", language)

        viewer.get_by_test_id("passcode-input").fill(PASSCODE)
        viewer.get_by_test_id("open-button").click()
        viewer.get_by_test_id("important").wait_for()
        problems += check_page(viewer, "viewer-summary", language)
        assert_the_viewer_puts_what_matters_first(viewer, citizen, language)
        return problems
    finally:
        context.close()


def assert_the_viewer_puts_what_matters_first(viewer: Any, citizen: User, language: str) -> None:
    result = viewer.get_by_test_id("viewer-result")
    # One download area, before the document, with the JSON and the PDF; one document, not a PDF card.
    assert viewer.get_by_test_id("downloads").count() == 1
    downloads = viewer.get_by_test_id("downloads")
    assert downloads.get_by_test_id("download-json").count() == 1
    assert downloads.get_by_test_id("download-pdf").count() == 1
    assert viewer.get_by_test_id("document").count() == 1
    assert result.locator("[data-testid=downloads] ~ [data-testid=document]").count() == 1
    no_text = "Ingen tekst i dette afsnit." if language == "da" else "No text in this section."
    assert no_text not in result.inner_text()

    # Who shared it and from where, and that the portal vouches for none of it.
    provenance = viewer.get_by_test_id("provenance")
    assert "Example source" in provenance.get_by_test_id("provenance-sources").inner_text()
    shared = "Delt af patienten" if language == "da" else "Shared by the patient"
    assert shared in provenance.get_by_test_id("provenance-shared").inner_text()
    assert provenance.get_by_test_id("provenance-unverified").inner_text()
    sources = viewer.get_by_test_id("section-source").all_inner_texts()
    assert sources
    assert all("Example source" in text for text in sources)

    # The Important panel comes before every other section and holds every allergy, alert and directive.
    sections = viewer.get_by_test_id("section")
    first_section = sections.first
    assert first_section.evaluate("node => node.closest('[data-testid=important]') !== null")
    important = viewer.get_by_test_id("important")
    important_text = important.inner_text()
    expected = [
        summarize(row.data).title
        for row in StoredResource.objects.filter(owner=citizen, section__in=IMPORTANT_SECTIONS)
    ]
    assert expected
    for title in expected:
        assert title in important_text
    assert important.get_by_test_id("section").count() == len(
        {row.section for row in StoredResource.objects.filter(owner=citizen, section__in=IMPORTANT_SECTIONS)}
    )

    # No table column the document sends is empty in every row; on a phone the rows read as labelled cards.
    for table in result.locator("table").all():
        columns = table.locator("thead th").count()
        for index in range(columns):
            cells = table.locator(f"tbody tr td:nth-child({index + 1})").all_inner_texts()
            assert any(cell.strip() for cell in cells)
    assert result.locator("table.stacked-table td[data-label]").count() > 0
