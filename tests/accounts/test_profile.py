from typing import Any

import pytest
from django.core.management import call_command

from portal.accounts.models import CitizenProfile, NationalIdentity, User
from portal.accounts.services import identity_record_on_file
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_every_user_gets_a_profile(citizen: User) -> None:
    profile = CitizenProfile.objects.get(user=citizen)
    assert profile.preferred_language == "en"
    assert not NationalIdentity.objects.filter(user=citizen).exists()


def test_language_switch_is_remembered_in_the_profile(citizen_client: Any, citizen: User) -> None:
    response = citizen_client.post("/language/", {"language": "da", "next": "/accounts/profile/"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/profile/"
    assert CitizenProfile.objects.get(user=citizen).preferred_language == "da"


def test_preferred_language_applies_at_login(client: Any, citizen: User) -> None:
    CitizenProfile.objects.filter(user=citizen).update(preferred_language="da")
    client.post("/accounts/login/", {"login": citizen.email, "password": PASSWORD})
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="da">' in html
    assert "Log ud" in html


def test_language_switch_refuses_unknown_languages(citizen_client: Any, citizen: User) -> None:
    citizen_client.post("/language/", {"language": "xx", "next": "/"})
    assert CitizenProfile.objects.get(user=citizen).preferred_language == "en"


def test_account_page_masks_the_national_identifier(citizen_client: Any, citizen: User) -> None:
    identity_record_on_file(user=citizen, system="https://example.org/cpr", value="0101901234")
    html = citizen_client.get("/accounts/profile/").content.decode()
    assert "0101901234" not in html
    assert "234" in html


def test_admin_never_shows_the_national_identifier(client: Any, admin_user: User, citizen: User) -> None:
    identity_record_on_file(user=citizen, system="https://example.org/cpr", value="0101901234")
    client.force_login(admin_user)
    html = client.get(f"/admin/accounts/user/{citizen.pk}/change/").content.decode()
    assert "0101901234" not in html


def test_seed_demo_is_idempotent_and_its_citizen_can_sign_in(client: Any) -> None:
    call_command("seed_demo")
    call_command("seed_demo")
    demo = User.objects.get(email="demo@example.com")
    assert User.objects.filter(email="demo@example.com").count() == 1
    assert demo.emailaddress_set.get().verified
    # On file for the demo account, waiting for Patricia's first eID sign-in to claim it.
    identity = NationalIdentity.objects.get(user=demo)
    assert (identity.system, identity.value) == ("https://standards.digital.health.nz/ns/nhi-id", "ABC1234")
    assert (identity.issuer, identity.subject, identity.acr) == ("", "", "")
    response = client.post(
        "/accounts/login/", {"login": "demo@example.com", "password": "yellow-button-demo"}
    )
    assert response.status_code == 302
