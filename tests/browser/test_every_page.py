"""Every page a citizen, clinician or operator can reach, in English and Danish, at desktop and phone width:
axe-core finds no WCAG 2.1 A/AA violation, and at 320 and 390 px nothing scrolls sideways.

Screenshots of each page at 1280 and 390 px go to var/screenshots/<page>-<language>-<width>.png, for a person
to look at after `make test`. The viewer's own states are checked the same way where a link is opened: the
access form, a wrong passcode and the opened summary of a real share in test_share_flow.py, an expired, a
withdrawn and an invalid link in test_viewer.py.

The citizen's record is stored by the portal's own storage as a pull would leave it, and the export and share
jobs run here as the worker would run them: what is checked is the pages, not the worker.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from portal.accounts.models import User
from portal.jobs.kinds import WORKER_CHECK
from portal.jobs.models import Job, JobStatus
from portal.jobs.services import job_create
from tests.browser.a11y import check_page
from tests.conftest import make_citizen
from tests.sharing.conftest import export_json_now, store_example
from tests.sharing.links.test_shares import link_of, make_share, post_manifest

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LANGUAGES = ("en", "da")
LOCALES = {"en": "en-GB", "da": "da-DK"}
DAY = 24 * 60 * 60

PUBLIC_PAGES = [
    ("home", "/"),
    ("sign-in", "/accounts/login/"),
    ("create-account", "/accounts/signup/"),
    ("password-reset", "/accounts/password/reset/"),
    ("conformance", "/conformance/"),
    ("help", "/help/"),
    ("contact", "/contact/"),
    ("privacy", "/privacy/"),
    ("accessibility", "/accessibility/"),
    ("viewer-paste", "/viewer/"),
    ("not-found", "/no-such-page/"),
]


@pytest.fixture
def browser(page: Any) -> Any:
    return page.context.browser


def signed_in_page(browser: Any, base: str, language: str, user: User | None) -> Any:
    """A page in a fresh context in ``language``, signed in as ``user`` through a real session cookie."""
    context = browser.new_context(locale=LOCALES[language])
    cookies = [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": base}]
    if user is not None:
        client = Client()
        client.force_login(user)
        session = client.session
        session["preferred_language"] = language  # what the language switch leaves in a session
        session.save()
        cookies.append(
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": base,
            }
        )
    context.add_cookies(cookies)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def visit_all(browser: Any, base: str, user: User | None, pages: list[tuple[str, str]]) -> list[str]:
    """Each page in each language through check_page; the problems found, as text."""
    problems: list[str] = []
    for language in LANGUAGES:
        page = signed_in_page(browser, base, language, user)
        try:
            for name, path in pages:
                response = page.goto(f"{base}{path}")
                assert response is not None
                expected = 404 if name == "not-found" else 200
                assert response.status == expected, f"{path} answered {response.status}"
                assert page.locator("html").get_attribute("lang") == language, f"{path} is not in {language}"
                problems.extend(check_page(page, name, language))
        finally:
            page.context.close()
    return problems


@pytest.fixture
def citizen_with_record(citizen: User) -> dict[str, str]:
    """The demo record stored for the citizen, a finished download, a share, and jobs in each state."""
    store_example(citizen)
    export, _body = export_json_now(citizen)
    client = Client()
    client.force_login(citizen)
    share = make_share(client, passcode="1234-abcd", label="For my GP")
    # The access log and the share's page then have rows: one opening, one wrong passcode.
    payload = link_of(client, share)
    assert post_manifest(Client(), payload, recipient="Dr. Hansen", passcode="1234-abcd").status_code == 200
    assert post_manifest(Client(), payload, recipient="Dr. Hansen", passcode="wrong").status_code == 401
    failed = job_create(owner=citizen, kind=WORKER_CHECK)
    Job.objects.filter(id=failed.id).update(
        status=JobStatus.FAILED, progress=40, detail="The data source did not answer in time."
    )
    queued = job_create(owner=citizen, kind=WORKER_CHECK)
    return {
        "export_job": f"/jobs/{export.job_id}/",
        "share": f"/shares/{share.id}/",
        "share_revoke": f"/shares/{share.id}/revoke/",
        "failed_job": f"/jobs/{failed.id}/",
        "queued_job": f"/jobs/{queued.id}/",
    }


def test_public_pages_pass_axe_and_fit_a_phone(page: Any, browser: Any, live_server: Any) -> None:
    problems = visit_all(browser, live_server.url, None, PUBLIC_PAGES)
    assert not problems, "\n\n".join(problems)


def test_a_citizens_pages_pass_axe_and_fit_a_phone(
    browser: Any, live_server: Any, citizen: User, citizen_with_record: dict[str, str]
) -> None:
    urls = citizen_with_record
    pages = [
        ("home-signed-in", "/"),
        ("records", "/records/"),
        ("download", "/exports/"),
        ("job-succeeded", urls["export_job"]),
        ("job-failed", urls["failed_job"]),
        ("job-queued", urls["queued_job"]),
        ("shares", "/shares/"),
        ("share", urls["share"]),
        ("share-revoke", urls["share_revoke"]),
        ("access-log", "/access-log/"),
        ("activity", "/activity/"),
        ("account", "/accounts/profile/"),
        ("account-email", "/accounts/email/"),
        ("account-password", "/accounts/password/change/"),
        ("two-factor", "/accounts/2fa/"),
        ("two-factor-activate", "/accounts/2fa/totp/activate/"),
    ]
    problems = visit_all(browser, live_server.url, citizen, pages)
    assert not problems, "\n\n".join(problems)


def test_a_new_citizens_pages_pass_axe_and_fit_a_phone(browser: Any, live_server: Any) -> None:
    """No record yet: the pages say what to do next instead."""
    newcomer = make_citizen("newcomer@example.org")
    pages = [
        ("records-empty", "/records/"),
        ("download-empty", "/exports/"),
        ("shares-empty", "/shares/"),
        ("activity-empty", "/activity/"),
    ]
    problems = visit_all(browser, live_server.url, newcomer, pages)
    assert not problems, "\n\n".join(problems)


def test_the_operators_pages_pass_axe_and_fit_a_phone(
    page: Any,
    browser: Any,
    live_server: Any,
    admin_user: User,
    citizen: User,
    citizen_with_record: dict[str, str],
) -> None:
    """The admin's index, each list it links to and the first object of each list."""
    base = live_server.url
    crawler = signed_in_page(browser, base, "en", admin_user)
    try:
        crawler.goto(f"{base}/admin/")
        lists = sorted(
            {
                href
                for href in crawler.locator("#content-main a").evaluate_all(
                    "(links) => links.map((a) => a.getAttribute('href'))"
                )
                if href and href.startswith("/admin/") and not href.endswith("/add/")
            }
        )
        pages = [("admin", "/admin/")]
        for href in lists:
            pages.append((f"admin-{href.strip('/').replace('/', '-')}", href))
            crawler.goto(f"{base}{href}")
            first = crawler.locator("#result_list tbody tr th a, #result_list tbody tr td a").first
            if first.count():
                change = first.get_attribute("href")
                assert change is not None
                pages.append((f"admin-{href.strip('/').replace('/', '-')}-change", change))
    finally:
        crawler.context.close()
    assert len(pages) > 5, pages
    problems = visit_all(browser, base, admin_user, pages)
    assert not problems, "\n\n".join(problems)
