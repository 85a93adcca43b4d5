from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def test_home_explains_the_yellow_button(client: Any) -> None:
    html = client.get("/").content.decode()
    assert "Yellow Button" in html
    assert "European" in html
    assert 'href="/accounts/login/"' in html
    assert '<link rel="stylesheet" href="/static/css/portal.css">' in html


def test_home_speaks_danish_to_a_danish_browser(client: Any) -> None:
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="da").content.decode()
    assert '<html lang="da">' in html
    assert "Log ind" in html


def test_header_names_the_signed_in_citizen(citizen_client: Any) -> None:
    html = citizen_client.get("/").content.decode()
    assert "Signed in as citizen@example.org" in html


def test_unknown_page_gives_the_friendly_404(client: Any, settings: Any) -> None:
    settings.DEBUG = False
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_static_files_are_served_without_a_cdn(client: Any) -> None:
    response = client.get("/static/css/portal.css")
    assert response.status_code == 200
    css = b"".join(response.streaming_content).decode()
    assert "--yellow" in css
    assert "http" not in css


def test_csrf_failure_gets_the_friendly_403(citizen: Any) -> None:
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/language/", {"language": "da"})
    assert response.status_code == 403
    assert "reload the page and try again" in response.content.decode()
