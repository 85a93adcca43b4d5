"""The clinician viewer (/viewer/) against another party's SHL server (tests/sharing/foreign_shl.py)."""

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.a11y import check_page
from tests.conftest import ips_example
from tests.sharing.clinician.foreign_shl import (
    ForeignShlServer,
    b64url_decode,
    encrypt_json,
    new_key,
    running_foreign_shl_server,
    shlink,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CLINICIAN = "Dr. Lars Hansen, Aarhus ED"
# The key of the IPS example link in the SMART Health Cards and Links IG.
IG_EXAMPLE_KEY = "rxTgYlOaKJPFtcEd0qcceN8wEU4p94SqAwIWQe6uX7Q"
SMALL_PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


@pytest.fixture
def foreign() -> Iterator[ForeignShlServer]:
    with running_foreign_shl_server() as server:
        yield server


def viewer_url(live_server: Any, payload: dict[str, Any]) -> str:
    return f"{live_server.url}/viewer/#{shlink(payload)}"


def error_message(page: Any) -> str:
    """The text of the error the page shows (once it shows one, rather than "Opening the link…")."""
    locator = page.locator("[data-testid=viewer-message][data-kind=error]")
    locator.wait_for(state="visible")
    return str(locator.inner_text())


def open_link(page: Any, *, passcode: str | None = None) -> None:
    page.get_by_test_id("recipient-input").fill(CLINICIAN)
    if passcode is not None:
        page.get_by_test_id("passcode-input").fill(passcode)
    page.get_by_test_id("open-button").click()


def downloaded(page: Any, test_id: str) -> bytes:
    with page.expect_download() as download_info:
        page.get_by_test_id(test_id).first.click()
    return Path(download_info.value.path()).read_bytes()


def test_u_link_like_the_ig_example_opens_a_compressed_ips_bundle(
    page: Any, live_server: Any, foreign: ForeignShlServer
) -> None:
    bundle = ips_example("Bundle-bundle-ips-all-sections")
    path = "/ips/IPS_IG-bundle-01-enc.txt"
    url = foreign.add_file(path, encrypt_json(bundle, b64url_decode(IG_EXAMPLE_KEY), deflate=True))
    payload = {"url": url, "flag": "LU", "key": IG_EXAMPLE_KEY, "label": "Demo SHL for IPS_IG-bundle-01"}

    page.goto(viewer_url(live_server, payload))
    assert page.get_by_test_id("link-label").inner_text() == "Demo SHL for IPS_IG-bundle-01"
    # The fragment (with the key) is gone from the address bar and so from history.
    assert page.url == f"{live_server.url}/viewer/"
    assert page.evaluate("location.hash") == ""
    assert page.get_by_test_id("passcode-input").is_hidden()
    assert foreign.requests == []

    open_link(page)
    assert page.get_by_test_id("patient-name").inner_text() == "Patricia JORDANA"
    assert page.get_by_test_id("patient-sex").inner_text() == "Female"
    allergies = page.locator("[data-testid=section][data-code='48765-2']")
    assert allergies.get_by_test_id("section-title").inner_text() == "Allergies and Intolerances"
    assert allergies.get_by_test_id("narrative").inner_text().strip() != ""
    assert page.get_by_test_id("section").count() == len(bundle["entry"][0]["resource"]["section"])
    # No identifier is shown.
    assert "ABC1234" not in page.get_by_test_id("viewer-result").inner_text()

    (request,) = foreign.requests_to(path)
    assert request.method == "GET"
    assert request.query == {"recipient": [CLINICIAN]}
    assert "referer" not in request.headers
    assert "cookie" not in request.headers

    assert json.loads(downloaded(page, "download-json")) == bundle
    assert page.get_by_test_id("download-pdf").count() == 0


def test_manifest_with_passcode_embedded_and_location_files_and_a_pdf(
    page: Any, live_server: Any, foreign: ForeignShlServer
) -> None:
    key = new_key()
    bundle = ips_example("Bundle-IPS-examples-Bundle-01")
    document_reference = {
        "resourceType": "DocumentReference",
        "status": "current",
        "description": "Patient summary (PDF)",
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml">The summary as PDF</div>',
        },
        "content": [
            {"attachment": {"contentType": "application/pdf", "data": base64.b64encode(SMALL_PDF).decode()}}
        ],
    }
    pdf_location = foreign.add_file("/files/pdf-once", encrypt_json(document_reference, b64url_decode(key)))
    manifest = foreign.add_manifest(
        "/manifests/abc",
        [
            {"contentType": "application/fhir+json", "embedded": encrypt_json(bundle, b64url_decode(key))},
            {"contentType": "application/fhir+json", "location": pdf_location},
        ],
        passcode="4711",
        attempts=3,
    )

    page.goto(viewer_url(live_server, {"url": manifest, "key": key, "flag": "P", "label": "For the ED"}))
    open_link(page, passcode="1234")
    assert error_message(page) == "Wrong passcode: 2 attempts left before the link is locked."
    assert page.get_by_test_id("viewer-result").is_hidden()

    open_link(page, passcode="4711")
    page.get_by_test_id("downloads").wait_for()
    # The PDF's wrapper is no document of its own: its file joins the one download area, before the summary.
    assert page.get_by_test_id("document-title").all_inner_texts() == [
        bundle["entry"][0]["resource"]["title"]
    ]
    downloads = page.get_by_test_id("downloads")
    assert downloads.get_by_test_id("download-json").all_inner_texts() == ["Download FHIR JSON"]
    assert downloads.get_by_test_id("download-pdf").all_inner_texts() == ["Download PDF"]
    assert "No text in this section" not in page.get_by_test_id("viewer-result").inner_text()
    assert page.get_by_test_id("patient-name").first.inner_text() != ""
    assert page.get_by_test_id("section").count() >= 3
    assert downloaded(page, "download-pdf").startswith(b"%PDF")
    assert json.loads(downloaded(page, "download-json")) == bundle

    posts = foreign.requests_to("/manifests/abc")
    assert [post.json() for post in posts] == [
        {"recipient": CLINICIAN, "passcode": "1234"},
        {"recipient": CLINICIAN, "passcode": "4711"},
    ]
    assert all(post.headers["content-type"].startswith("application/json") for post in posts)
    assert len(foreign.requests_to("/files/pdf-once")) == 1


def test_expired_gone_rate_limited_and_newer_version_links(
    page: Any, live_server: Any, foreign: ForeignShlServer
) -> None:
    key = new_key()
    expired = foreign.add_manifest("/manifests/expired", [])
    page.goto(viewer_url(live_server, {"url": expired, "key": key, "exp": int(time.time()) - 60}))
    assert error_message(page) == "This link has expired. Ask the patient to share a new one."
    assert page.get_by_test_id("access-form").is_hidden()

    newer = foreign.add_manifest("/manifests/newer", [])
    page.goto(viewer_url(live_server, {"url": newer, "key": key, "v": 2, "label": "From the future"}))
    assert "newer version" in error_message(page)
    assert page.get_by_test_id("link-label").inner_text() == "From the future"
    assert foreign.requests == []

    # A link pasted as another viewer's URL: only the shlink:/ part counts.
    gone = foreign.add_status("/manifests/gone", 404)
    page.goto(f"{live_server.url}/viewer/")
    page.get_by_test_id("paste-input").fill(
        f"https://other.viewer.example/#{shlink({'url': gone, 'key': key})}"
    )
    page.get_by_test_id("paste-button").click()
    open_link(page)
    assert error_message(page) == (
        "This link is no longer available: it may have expired or been withdrawn by the patient."
    )
    assert len(foreign.requests_to("/manifests/gone")) == 1

    busy = foreign.add_status("/manifests/busy", 429, **{"Retry-After": "30"})
    page.goto(viewer_url(live_server, {"url": busy, "key": key}))
    open_link(page)
    assert error_message(page) == "Too many requests. Try again in 30 seconds."


def test_hostile_narrative_neither_runs_nor_loads_anything(
    page: Any, live_server: Any, foreign: ForeignShlServer
) -> None:
    leak = foreign.url("/leak")
    hostile = (
        '<div xmlns="http://www.w3.org/1999/xhtml">'
        "<p>Before the script.</p><script>window.__pwned = 'script'</script>"
        f'<p>Penicillin allergy.<img src="{leak}-img" onerror="window.__pwned = \'img\'"/></p>'
        '<p><a id="bad-link" href="javascript:window.__pwned = \'link\'">Click me</a></p>'
        f'<p><a id="good-link" href="https://example.org/info">More information</a></p>'
        f'<svg onload="window.__pwned = \'svg\'"><image href="{leak}-svg"/></svg>'
        f"<style>p {{ background: url({leak}-style) }}</style>"
        f'<p style="background-image: url({leak}-attr)">Styled text.</p>'
        f'<table background="{leak}-table"><tr><td colspan="2">Cell text.</td></tr></table>'
        f'<iframe src="{leak}-iframe"></iframe><object data="{leak}-object"></object>'
        f'<form action="{leak}-form"><input type="image" src="{leak}-input"/></form>'
        f'<link rel="stylesheet" href="{leak}-link"/>'
        '<details open="" ontoggle="window.__pwned = \'toggle\'">'
        "<summary>After everything.</summary></details>"
        "</div>"
    )
    patient = {"resourceType": "Patient", "id": "p", "name": [{"given": ["Eve"], "family": "Mallory"}]}
    composition = {
        "resourceType": "Composition",
        "status": "final",
        "type": {"coding": [{"system": "http://loinc.org", "code": "60591-5"}]},
        "subject": {"reference": "Patient/p"},
        "title": "Patient summary",
        "section": [
            {
                "title": "Allergies and Intolerances",
                "code": {"coding": [{"system": "http://loinc.org", "code": "48765-2"}]},
                "text": {"status": "generated", "div": hostile},
            }
        ],
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "document",
        "entry": [
            {"fullUrl": "urn:uuid:c", "resource": composition},
            {"fullUrl": "urn:uuid:p", "resource": patient},
        ],
    }
    key = new_key()
    url = foreign.add_file("/hostile", encrypt_json(bundle, b64url_decode(key)))
    page.goto(viewer_url(live_server, {"url": url, "key": key, "flag": "U"}))
    open_link(page)

    section = page.locator("[data-testid=section][data-code='48765-2']")
    narrative = section.get_by_test_id("narrative")
    text = narrative.inner_text()
    for expected in [
        "Before the script.",
        "Penicillin allergy.",
        "Click me",
        "Styled text.",
        "Cell text.",
        "After everything.",
    ]:
        assert expected in text
    assert page.get_by_test_id("patient-name").inner_text() == "Eve Mallory"
    assert narrative.locator("script, img, svg, image, style, iframe, object, form, input, link").count() == 0
    assert narrative.locator("[style], [onerror], [onload], [ontoggle], [background]").count() == 0
    assert narrative.locator("td[colspan='2']").count() == 1
    bad_link = narrative.get_by_text("Click me")
    assert bad_link.get_attribute("href") is None
    good_link = narrative.get_by_text("More information")
    assert good_link.get_attribute("href") == "https://example.org/info"
    assert good_link.get_attribute("rel") == "noopener noreferrer nofollow"
    assert good_link.get_attribute("target") == "_blank"

    bad_link.click()
    page.wait_for_timeout(500)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert [path for path in foreign.paths_seen() if path.startswith("/leak")] == []
    assert foreign.paths_seen() == ["/hostile"]


def test_the_specifications_own_encrypted_example_opens(
    page: Any, live_server: Any, foreign: ForeignShlServer
) -> None:
    """The SHL specification's "Example Encryption" file (a SMART Health Card), served by another server."""
    from tests.core.shl.test_shl import SPEC_JWE, SPEC_PAYLOAD

    manifest = foreign.add_manifest(
        "/manifests/spec-example", [{"contentType": "application/smart-health-card", "embedded": SPEC_JWE}]
    )
    page.goto(viewer_url(live_server, {"url": manifest, "key": SPEC_PAYLOAD["key"], "label": "Spec example"}))
    open_link(page)
    document = page.get_by_test_id("document").first
    document.wait_for()
    text = page.get_by_test_id("viewer-result").inner_text()
    assert "signature was not verified" in text
    assert "Anyperson" in text  # the example card's patient, John B. Anyperson


@pytest.mark.parametrize("language", ["en", "da"])
def test_the_viewers_error_states_pass_axe_in_both_languages(
    page: Any, live_server: Any, foreign: ForeignShlServer, language: str
) -> None:
    """An expired link, a withdrawn one and a link that is no link at all: each says so, in the clinician's
    language, with nothing for axe to find and nothing scrolling sideways on a phone."""
    context = page.context.browser.new_context(locale="da-DK" if language == "da" else "en-GB")
    try:
        viewer = context.new_page()
        viewer.set_default_timeout(15_000)
        key = new_key()
        expired = foreign.add_manifest("/manifests/expired-axe", [])
        viewer.goto(viewer_url(live_server, {"url": expired, "key": key, "exp": int(time.time()) - 60}))
        viewer.wait_for_selector(f"html[lang={language}]")
        expired_text = error_message(viewer)
        problems = check_page(viewer, "viewer-expired", language)

        gone = foreign.add_status("/manifests/gone-axe", 404)
        viewer.goto(viewer_url(live_server, {"url": gone, "key": key, "label": "For the ED"}))
        open_link(viewer)
        gone_text = error_message(viewer)
        problems += check_page(viewer, "viewer-gone", language)

        viewer.goto(f"{live_server.url}/viewer/")
        viewer.get_by_test_id("paste-input").fill("not a link at all")
        viewer.get_by_test_id("paste-button").click()
        invalid_text = error_message(viewer)
        problems += check_page(viewer, "viewer-invalid-link", language)
    finally:
        context.close()
    assert not problems, "\n".join(problems)
    if language == "da":
        assert "udløbet" in expired_text
        assert "ikke længere tilgængeligt" in gone_text
    else:
        assert expired_text == "This link has expired. Ask the patient to share a new one."
        assert "no longer available" in gone_text
    assert invalid_text
