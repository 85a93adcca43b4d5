"""Security controls, each attacked: headers on every answer, CSRF under no-referrer, sessions,
re-authentication, rate limits, the CSP report endpoint, and the conformance statement."""

import json
import logging
import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from portal.accounts.models import User
from tests.conftest import PASSWORD
from tests.sharing.conftest import store_example

pytestmark = pytest.mark.django_db

DAY = 24 * 60 * 60


def sign_in(client: Client, user: User) -> Any:
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return response


# ---------------------------------------------------------------------------- headers


def assert_hardened(response: Any, *, cacheable: bool = False) -> None:
    csp = response["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["X-Frame-Options"] == "DENY"
    if not cacheable:
        assert "no-store" in response["Cache-Control"]


def test_every_kind_of_answer_carries_the_headers(citizen_client: Client, citizen: User) -> None:
    store_example(citizen)
    export_job = citizen_client.post("/exports/", {"format": "json"})["Location"]
    from portal.jobs.services import job_run
    from sharing.models import Export

    export = Export.objects.get()
    job_run(job_id=export.job_id)
    answers = {
        "page": citizen_client.get("/records/"),
        "job JSON": citizen_client.get(export_job, HTTP_ACCEPT="application/json"),
        "download": citizen_client.get(f"/exports/{export.id}/download/"),
        "404 page": citizen_client.get("/no-such-page/"),
        "400 page": citizen_client.post("/exports/", {"format": "exe"}),
        "405": citizen_client.delete("/records/"),
        "public SHL 404": citizen_client.post("/shl/" + "A" * 43, "{}", content_type="application/json"),
        "health": citizen_client.get("/healthz"),
        "login page": Client().get("/accounts/login/"),
        "conformance": Client().get("/conformance/"),
    }
    assert answers["download"].status_code == 200
    assert answers["404 page"].status_code == 404
    for name, response in answers.items():
        try:
            assert_hardened(response)
        except (AssertionError, KeyError) as error:
            raise AssertionError(f"{name}: {error!r}") from error
    # The viewer carries a stricter policy of its own.
    viewer = Client().get("/viewer/")
    assert_hardened(viewer)
    assert "default-src 'none'" in viewer["Content-Security-Policy"]


def test_the_500_page_carries_the_headers(citizen_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from portal.records import selectors as record_selectors

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a fault injected into the page")

    monkeypatch.setattr(record_selectors, "record_sections", explode)
    citizen_client.raise_request_exception = False
    response = citizen_client.get("/records/")
    assert response.status_code == 500
    assert_hardened(response)


def test_static_files_stay_cacheable() -> None:
    response = Client().get("/static/css/portal.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


def test_hsts_goes_out_over_https_only(client: Client) -> None:
    assert client.get("/", secure=True)["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "Strict-Transport-Security" not in client.get("/")


def test_no_page_has_inline_script_style_or_handlers(citizen_client: Client, citizen: User) -> None:
    store_example(citizen)
    pages = ["/", "/records/", "/exports/", "/shares/", "/access-log/", "/accounts/profile/", "/conformance/",
             "/viewer/", "/accounts/login/", "/accounts/2fa/"]  # fmt: skip
    for url in pages:
        html = citizen_client.get(url).content.decode()
        for script in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in script or 'type="application/json"' in script, (url, script)
        assert not re.search(r"\son[a-z]+\s*=", html), url
        assert not re.search(r"\sstyle\s*=", html), url


def test_csp_reports_are_taken_and_logged_without_paths(caplog: pytest.LogCaptureFixture) -> None:
    report = {
        "csp-report": {
            "document-uri": "https://portal.example/records/",
            "blocked-uri": "https://evil.example/steal?nhi=ABC1234",
            "effective-directive": "img-src",
        }
    }
    with caplog.at_level(logging.WARNING):
        response = Client(enforce_csrf_checks=True).post(
            "/csp-report/", json.dumps(report), content_type="application/csp-report"
        )
    assert response.status_code == 204
    text = caplog.text
    assert "img-src" in text
    assert "evil.example" in text
    assert "ABC1234" not in text
    assert "/steal" not in text
    assert Client().post("/csp-report/", b"x" * 20000, content_type="application/json").status_code == 204


# ---------------------------------------------------------------------------- CSRF under no-referrer


def csrf_post(client: Client, **headers: Any) -> Any:
    client.get("/accounts/login/")
    token = client.cookies["csrftoken"].value
    return client.post("/language/", {"language": "da", "csrfmiddlewaretoken": token}, **headers)


def test_our_own_form_posts_pass_with_a_null_origin() -> None:
    same = csrf_post(Client(enforce_csrf_checks=True), HTTP_ORIGIN="null", HTTP_SEC_FETCH_SITE="same-origin")
    assert same.status_code == 302


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_ORIGIN": "null", "HTTP_SEC_FETCH_SITE": "cross-site"},
        {"HTTP_ORIGIN": "null"},
        {"HTTP_ORIGIN": "https://evil.example", "HTTP_SEC_FETCH_SITE": "same-origin"},
    ],
)
def test_other_sites_posts_are_refused(headers: dict[str, str]) -> None:
    assert csrf_post(Client(enforce_csrf_checks=True), **headers).status_code == 403


def test_the_token_is_still_required_with_a_null_origin() -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/language/", {"language": "da"}, HTTP_ORIGIN="null", HTTP_SEC_FETCH_SITE="same-origin"
    )
    assert response.status_code == 403


# ---------------------------------------------------------------------------- sessions


def test_sign_in_gives_a_new_session_id_with_safe_cookie_flags(client: Client, citizen: User) -> None:
    client.get("/accounts/login/")
    session = client.session  # an anonymous session with something in it
    session["before"] = 1
    session.save()
    before = session.session_key
    response = sign_in(client, citizen)
    cookie = response.cookies["sessionid"]
    assert cookie.value != before
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["secure"]  # HTTPS is on whenever DEBUG is off
    assert not Session.objects.filter(session_key=before).exists()


def test_half_an_hour_idle_ends_the_session(client: Client, citizen: User) -> None:
    sign_in(client, citizen)
    start = timezone.now()
    with time_machine.travel(start + timedelta(minutes=25)):
        assert client.get("/records/").status_code == 200  # activity renews the idle limit
    with time_machine.travel(start + timedelta(minutes=50)):
        assert client.get("/records/").status_code == 200
    with time_machine.travel(start + timedelta(minutes=81)):
        assert client.get("/records/")["Location"].startswith("/accounts/login/")


def test_twelve_hours_end_the_session_however_active(client: Client, citizen: User) -> None:
    sign_in(client, citizen)
    start = timezone.now()
    for minutes in range(20, 12 * 60, 20):
        with time_machine.travel(start + timedelta(minutes=minutes)):
            assert client.get("/records/").status_code == 200, minutes
    with time_machine.travel(start + timedelta(hours=12, minutes=5)):
        assert client.get("/records/")["Location"].startswith("/accounts/login/")


def test_sign_out_ends_the_session_on_the_server(client: Client, citizen: User) -> None:
    sign_in(client, citizen)
    stolen = client.cookies["sessionid"].value
    client.post("/accounts/logout/")
    assert not Session.objects.filter(session_key=stolen).exists()
    replay = Client()
    replay.cookies["sessionid"] = stolen
    assert replay.get("/records/")["Location"].startswith("/accounts/login/")


# ---------------------------------------------------------------------------- re-authentication


def test_an_old_sign_in_must_re_authenticate_before_an_export(client: Client, citizen: User) -> None:
    store_example(citizen)
    sign_in(client, citizen)
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        response = client.post("/exports/", {"format": "json"})
        assert response["Location"].startswith("/accounts/reauthenticate/")
        resumed = client.post(response["Location"], {"password": PASSWORD})
        assert resumed["Location"].startswith("/jobs/")


def test_changing_the_email_address_asks_for_the_password(client: Client, citizen: User) -> None:
    sign_in(client, citizen)
    response = client.post("/accounts/email/", {"action_add": "", "email": "new@example.org"})
    assert response["Location"].startswith("/accounts/reauthenticate/")
    assert not citizen.emailaddress_set.filter(email="new@example.org").exists()


def test_changing_the_password_needs_the_current_one(client: Client, citizen: User) -> None:
    sign_in(client, citizen)
    new = "a-new-long-passphrase-4711"
    wrong = client.post(
        "/accounts/password/change/", {"oldpassword": "not it", "password1": new, "password2": new}
    )
    assert wrong.status_code == 200
    citizen.refresh_from_db()
    assert citizen.check_password(PASSWORD)


# ---------------------------------------------------------------------------- rate limits


@pytest.mark.parametrize(("url", "setting", "fields"), [
    ("/exports/", "EXPORT_CREATE_RATE", {"format": "json"}),
    ("/shares/", "SHARE_CREATE_RATE", {"expires_in": DAY}),
])  # fmt: skip
def test_creating_exports_and_links_is_rate_limited(
    citizen_client: Client, citizen: User, settings: Any, url: str, setting: str, fields: dict[str, Any]
) -> None:
    store_example(citizen)
    setattr(settings, setting, "3/h")
    answers = [citizen_client.post(url, fields).status_code for _ in range(4)]
    assert answers == [302, 302, 302, 429]
    assert "Retry-After" in citizen_client.post(url, fields)


def test_password_reset_is_rate_limited_per_address(client: Client, citizen: User) -> None:
    answers = [
        client.post("/accounts/password/reset/", {"email": citizen.email}).status_code for _ in range(7)
    ]
    assert 429 in answers
    assert answers[0] == 302


# ---------------------------------------------------------------------------- conformance


def test_the_conformance_statement_names_roles_options_specifications_and_formats() -> None:
    page = Client().get("/conformance/").content.decode()
    for text in ("Yellow Button Provider", "Yellow Button Consumer", "2.0.0", "hl7.fhir.uv.ips#2.0.0",
                 "SMART Health Links", "1.0", "application/fhir+json", "application/pdf"):  # fmt: skip
        assert text in page, text
    for option in ("download", "share", "passcode", "qr", "pdf", "translation"):
        assert f'data-option="{option}"' in page
    statement = Client().get("/conformance/", HTTP_ACCEPT="application/json").json()
    assert {role["name"] for role in statement["roles"]} == {
        "Yellow Button Provider",
        "Yellow Button Consumer",
    }
    assert {spec["version"] for spec in statement["specifications"]} >= {"2.0.0", "1.0 (STU1)"}
