"""The trust pages (help, contact, privacy notice, accessibility statement) and the error pages: public, in
English and Danish, with the operator's real contact and this installation's real retention periods."""

from typing import Any

import pytest
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse
from django.utils import translation
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db

# url name, the page's data-testid, its English and Danish h1, one English and one Danish h2.
TRUST_PAGES = [
    ("help", "help-page", "Help", "Hjælp", "Questions and answers", "Spørgsmål og svar"),
    ("contact", "contact-page", "Contact", "Kontakt", "How to reach us", "Sådan kontakter du os"),
    ("privacy", "privacy-page", "Privacy notice", "Privatlivspolitik", "Your rights", "Dine rettigheder"),
    (
        "accessibility",
        "accessibility-page",
        "Accessibility statement",
        "Tilgængelighedserklæring",
        "Enforcement procedure",
        "Håndhævelsesprocedure",
    ),
]


def page(client: Client, name: str, language: str = "en") -> str:
    response = client.get(reverse(name), HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return str(response.content.decode())


def test_the_trust_pages_have_their_exact_addresses() -> None:
    assert [reverse(name) for name, *_ in TRUST_PAGES] == [
        "/help/",
        "/contact/",
        "/privacy/",
        "/accessibility/",
    ]


@pytest.mark.parametrize(("name", "testid", "h1_en", "h1_da", "h2_en", "h2_da"), TRUST_PAGES)
def test_each_trust_page_answers_signed_out_in_english_and_danish(
    client: Client, name: str, testid: str, h1_en: str, h1_da: str, h2_en: str, h2_da: str
) -> None:
    english = page(client, name, "en")
    assert '<html lang="en">' in english
    assert f'data-testid="{testid}"' in english
    assert english.count("<h1") == 1
    assert f'<h1 id="page-title">{h1_en}</h1>' in english
    assert f">{h2_en}</h2>" in english

    danish = page(client, name, "da")
    assert '<html lang="da">' in danish
    assert f'<h1 id="page-title">{h1_da}</h1>' in danish
    assert f">{h2_da}</h2>" in danish
    assert h2_en not in danish


@pytest.mark.parametrize("name", [name for name, *_ in TRUST_PAGES])
def test_each_trust_page_answers_a_signed_in_citizen(citizen_client: Client, name: str) -> None:
    html = page(citizen_client, name)
    assert "Signed in as citizen@example.org" in html
    # The pages link each other, the current one marked as such.
    assert f'href="{reverse(name)}" aria-current="page"' in html


def test_help_explains_the_steps_signing_in_and_what_to_do_when_it_fails(client: Client) -> None:
    html = page(client, "help")
    for step in ("Fetch your records", "Download your summary", "Share with a health professional"):
        assert f"<h3>{step}</h3>" in html
    assert "See who opened it" in html
    assert "With your national eID" in html
    assert "two-factor authentication" in html
    assert 'id="when-something-fails"' in html
    # "contact us" leads somewhere.
    assert '<a href="/contact/">contact us</a>' in html


@override_settings(
    SERVICE_OPERATOR="Region Testland",
    SERVICE_CONTACT_EMAIL="hjaelp@example.dk",
    SERVICE_CONTACT_PHONE="+45 70 20 30 40",
    SERVICE_CONTACT_ADDRESS="Testvej 1\n8000 Aarhus C",
    SERVICE_CONTACT_HOURS="Mon-Fri 8-16",
)
def test_contact_shows_the_operators_contact_as_links(client: Client) -> None:
    html = page(client, "contact")
    assert '<a href="mailto:hjaelp@example.dk" data-testid="contact-email">hjaelp@example.dk</a>' in html
    assert '<a href="tel:+4570203040" data-testid="contact-phone">+45 70 20 30 40</a>' in html
    assert "Testvej 1<br>8000 Aarhus C" in html
    assert "Mon-Fri 8-16" in html
    assert "is run by Region Testland" in html
    assert 'data-testid="no-contact"' not in html


@override_settings(
    SERVICE_OPERATOR="",
    SERVICE_CONTACT_EMAIL="",
    SERVICE_CONTACT_PHONE="",
    SERVICE_CONTACT_ADDRESS="",
    SERVICE_CONTACT_HOURS="",
)
def test_contact_says_plainly_when_no_contact_is_given(client: Client) -> None:
    html = page(client, "contact")
    assert "The operator of this portal has not given contact details yet." in html
    assert "mailto:" not in html
    assert "tel:" not in html
    assert "Operatøren af denne portal har endnu ikke oplyst kontaktoplysninger." in page(
        client, "contact", "da"
    )


@override_settings(SERVICE_OPERATOR="Region Testland", SERVICE_CONTACT_EMAIL="dpo@example.dk")
def test_privacy_names_the_controller_and_the_contact(client: Client) -> None:
    html = page(client, "privacy")
    assert "The data controller is Region Testland." in html
    assert 'href="mailto:dpo@example.dk"' in html
    assert 'href="https://www.datatilsynet.dk"' in html
    for data in ("Your account:", "Your sign-in:", "Your health data:", "The audit trail:"):
        assert data in html


@override_settings(SERVICE_OPERATOR="")
def test_privacy_without_an_operator_says_who_is_responsible(client: Client) -> None:
    assert "The data controller is the operator of this portal." in page(client, "privacy")


@override_settings(
    EXPORT_FILE_LIFETIME_SECONDS=3 * 24 * 60 * 60,
    SHARE_EXPIRY_CHOICES=[15 * 60, 24 * 60 * 60, 30 * 24 * 60 * 60],
    ACCESS_LOG_RETENTION_DAYS=2000,
    SESSION_COOKIE_AGE=30 * 60,
    SESSION_ABSOLUTE_LIFETIME_SECONDS=12 * 60 * 60,
)
def test_privacy_states_the_retention_this_installation_really_uses(client: Client) -> None:
    html = page(client, "privacy")
    assert "the file is deleted 3 days after it was made" in html
    assert "(15 minutes, 24 hours, 30 days; at most 30 days)" in html
    assert "kept for 2000 days (at least 5 years)" in html
    assert "after 30 minutes without activity" in html
    assert "12 hours after you signed in" in html
    danish = page(client, "privacy", "da")
    assert "3 dage" in danish
    assert "2000 dage" in danish


def test_accessibility_statement_has_status_limits_feedback_enforcement_and_date(client: Client) -> None:
    html = page(client, "accessibility")
    assert "WCAG" in html
    assert "2.1" in html
    assert "AA" in html
    assert "2016/2102" in html
    assert "partially complies" in html
    assert "PDF/UA" in html
    assert '<a href="https://was.digst.dk">was.digst.dk</a>' in html
    assert "Digitaliseringsstyrelsen" in html
    assert '<time datetime="2026-12-02">' in html
    assert '<time datetime="2026-12-02">2. december 2026</time>' in page(client, "accessibility", "da")


# ---------------------------------------------------------------------------- error pages


@pytest.mark.parametrize("language", ["en", "da"])
def test_the_404_page_offers_a_way_on(client: Client, settings: Any, language: str) -> None:
    settings.DEBUG = False
    response = client.get("/no/such/page/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 404
    html = response.content.decode()
    assert f'<html lang="{language}">' in html
    assert ("Page not found" if language == "en" else "Siden blev ikke fundet") in html
    for target in ('href="/"', 'href="/help/"', 'href="/contact/"'):
        assert target in html


@pytest.mark.parametrize(
    ("language", "heading"),
    [("en", "Something went wrong on our side"), ("da", "Der gik noget galt hos os")],
)
def test_the_500_page_renders_without_a_request_context(language: str, heading: str) -> None:
    """Django's server_error renders 500.html with no context at all: no `service`, no `request`."""
    request = RequestFactory().get("/")
    with translation.override(language):
        response = server_error(request)
    assert response.status_code == 500
    html = response.content.decode()
    assert f'<html lang="{language}">' in html
    assert heading in html
    assert 'href="/help/"' in html
    assert 'href="/contact/"' in html


def test_the_csrf_failure_page_says_what_happened_and_offers_a_way_on(citizen: Any) -> None:
    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/language/", {"language": "da"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "The form had expired" in html
    assert "Nothing was sent or changed." in html
    assert 'href="/help/"' in html
