"""A brand-new person signs in with the national eID (the real eID sandbox process), finds their identifier
bound, fetches their record from the real FHIR sandbox through a real worker, and makes a summary; signing
out signs out at the eID too; a second person, at assurance low, is signed in but not looked up by their
identifier, and cannot reach the first one's summary; the first signs in again to the same account."""

from typing import Any

import pytest

from portal.accounts.models import NationalIdentity, User
from portal.records.management.commands.seed_demo import DEMO_IDENTIFIER_SYSTEM
from portal.records.models import Connection
from tests.records.conftest import make_source

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# The eID sandbox's person with NHI AAA1234, whose record the FHIR sandbox holds.
MADS = "Mads Kjærgaard Sørensen"
# The eID sandbox's person who signs in at assurance low.
FREJA = "Freja Lund Holm"


def eid_sign_in(page: Any, base: str, sandbox: str, person: str) -> None:
    """Press the portal's eID control; at the sandbox, press the person's button and consent if asked."""
    page.goto(f"{base}/accounts/login/")
    page.get_by_test_id("eid-login").click()
    page.wait_for_url(lambda url: url.startswith((sandbox, base)))
    if page.url.startswith(sandbox):
        page.get_by_role("button", name=person, exact=True).click()
        continue_button = page.get_by_role("button", name="Continue")
        continue_button.or_(page.get_by_test_id("signed-in-as")).wait_for()
        if continue_button.count():
            continue_button.click()
    page.wait_for_url(f"{base}/**")


def sign_out(page: Any, base: str, sandbox: str) -> None:
    page.goto(f"{base}/")
    page.locator("form[action='/accounts/logout/'] button").click()
    page.wait_for_url(f"{sandbox}/**")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/")


def test_a_new_person_signs_in_with_eid_fetches_their_record_and_makes_a_summary(
    page: Any, live_server: Any, celery_worker_process: Any, fhir_sandbox: Any, portal_on_the_eid_sandbox: Any
) -> None:
    make_source(
        fhir_sandbox.base_url, patient_identifier_system=DEMO_IDENTIFIER_SYSTEM, name="National endpoint"
    )
    base, sandbox = live_server.url, portal_on_the_eid_sandbox.url
    assert not User.objects.exists()

    eid_sign_in(page, base, sandbox, MADS)

    assert MADS in page.get_by_test_id("signed-in-as").inner_text()
    (identity,) = NationalIdentity.objects.all()
    assert (identity.system, identity.value) == (DEMO_IDENTIFIER_SYSTEM, "AAA1234")
    assert identity.issuer == sandbox
    assert identity.acr == "http://eidas.europa.eu/LoA/high"
    person = identity.user

    page.goto(f"{base}/records/")
    page.get_by_test_id("pull-button").click()
    page.wait_for_selector("#job-result:not([hidden])", timeout=60_000)
    assert page.get_by_test_id("job-status").inner_text() == "Succeeded"
    page.click("#job-result-link")
    page.wait_for_url(f"{base}/records/")
    assert page.locator("[data-testid=record-item]").count() > 0

    page.goto(f"{base}/exports/")
    page.check("input[name=format][value=json]")
    page.get_by_test_id("yellow-button").click()
    page.wait_for_selector("#job-result:not([hidden])", timeout=60_000)
    assert page.get_by_test_id("job-status").inner_text() == "Succeeded"

    summary_job = page.url  # Mads's job page

    # Signing out of the portal signs out at the eID too (RP-initiated logout), and comes back home.
    sign_out(page, base, sandbox)
    assert not page.get_by_test_id("signed-in-as").count()

    # A second person, at assurance low: signed in, told why their identifier is not used, and Mads's
    # summary is not there for them.
    page.goto(f"{base}/accounts/login/")
    page.get_by_test_id("eid-login").click()
    page.get_by_role("button", name=FREJA, exact=True).wait_for()  # the eID asks afresh: its session ended
    eid_sign_in(page, base, sandbox, FREJA)
    assert FREJA in page.get_by_test_id("signed-in-as").inner_text()
    freja = NationalIdentity.objects.get(value="DEF5678")
    assert freja.acr == "http://eidas.europa.eu/LoA/low"
    assert freja.user_id != person.id
    page.goto(f"{base}/records/")
    step = page.get_by_test_id("next-step")
    assert step.get_attribute("data-step") == "stronger-eid"
    assert "at low assurance" in step.inner_text()
    assert "at low assurance" in page.get_by_test_id("source-blocked").inner_text()
    assert not page.get_by_test_id("pull-button").count()
    assert not Connection.objects.filter(owner_id=freja.user_id).exists()
    response = page.goto(summary_job)
    assert response is not None
    assert response.status == 404
    sign_out(page, base, sandbox)

    # Mads signing in again lands in his own account.
    eid_sign_in(page, base, sandbox, MADS)
    assert MADS in page.get_by_test_id("signed-in-as").inner_text()
    assert User.objects.count() == 2
    assert NationalIdentity.objects.get(value="AAA1234").user_id == person.id
