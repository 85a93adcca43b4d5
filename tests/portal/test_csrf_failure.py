"""The page a person sees when a form is refused for its CSRF check (CSRF_FAILURE_VIEW)."""

import re
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.cache import SessionStore
from django.test import Client, RequestFactory

from portal.views import csrf_failure
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

ENGLISH_HEADING = "The form had expired"
DANISH_HEADING = "Formularen var udløbet"
DANISH_COOKIES = "Sker det igen, blokerer din browser måske cookies fra denne portal."


def h1(html: str) -> str:
    match = re.search(r'<h1 id="error-heading">(.*?)</h1>', html, re.S)
    assert match, html[:2000]
    return match.group(1).strip()


def refused_sign_in(client: Client, email: str = "citizen@example.org", **headers: Any) -> Any:
    """A sign-in posted without the form's token, as from a page that sat open too long."""
    response = client.post("/accounts/login/", {"login": email, "password": PASSWORD}, **headers)
    assert response.status_code == 403
    assert response.templates[0].name == "403_csrf.html"
    return response


def test_a_refused_form_says_it_expired_and_what_to_do(citizen: Any) -> None:
    html = refused_sign_in(Client(enforce_csrf_checks=True)).content.decode()
    assert '<html lang="en">' in html
    assert h1(html) == ENGLISH_HEADING
    assert "Nothing was sent or changed." in html
    assert "reload the page and try again" in html
    assert "your browser may be blocking cookies from this portal" in html
    assert 'href="/help/"' in html
    # Django's reason ("CSRF cookie not set.") is for the logs, never for the page.
    assert "CSRF" not in html
    assert "cookie not set" not in html


def test_a_wrong_token_gets_the_same_page_without_its_reason(citizen: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/",
        {"login": citizen.email, "password": PASSWORD, "csrfmiddlewaretoken": "x" * 64},
    )
    assert response.status_code == 403
    html = response.content.decode()
    assert h1(html) == ENGLISH_HEADING
    assert "CSRF" not in html
    assert "incorrect" not in html


def test_the_page_speaks_danish_to_a_danish_browser(citizen: Any) -> None:
    html = refused_sign_in(Client(enforce_csrf_checks=True), HTTP_ACCEPT_LANGUAGE="da").content.decode()
    assert '<html lang="da">' in html
    assert h1(html) == DANISH_HEADING
    assert "Intet blev sendt eller ændret." in html
    # The cookie sentence is new: its Danish comes with the translation batch for this page.
    assert DANISH_COOKIES in html
    assert ENGLISH_HEADING not in html


def test_a_signed_in_citizen_keeps_the_portals_header(citizen_client: Any) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = citizen_client.cookies
    response = strict.post("/language/", {"language": "da"})
    assert response.status_code == 403
    html = response.content.decode()
    assert h1(html) == ENGLISH_HEADING
    assert "Signed in as citizen@example.org" in html


def test_the_view_never_shows_the_reason_it_is_given() -> None:
    request = RequestFactory().post("/accounts/login/")
    request.user = AnonymousUser()
    request.session = SessionStore()
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
    response = csrf_failure(request, reason="Origin checking failed - https://evil.example")
    assert response.status_code == 403
    html = response.content.decode()
    assert h1(html) == ENGLISH_HEADING
    assert "evil.example" not in html
    assert "Origin checking failed" not in html
