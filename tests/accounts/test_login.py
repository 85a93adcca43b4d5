from typing import Any

import pytest
from django.core import mail

from portal.accounts.models import User
from tests.conftest import PASSWORD, admin_totp_code, make_citizen

pytestmark = pytest.mark.django_db

WRONG_CREDENTIALS = "The email address and/or password you specified are not correct."
TOO_MANY_FAILURES = "Too many failed login attempts. Try again later."


def login(client: Any, email: str | None, password: str) -> Any:
    return client.post("/accounts/login/", {"login": email, "password": password})


def test_verified_citizen_signs_in(client: Any, citizen: User) -> None:
    response = login(client, citizen.email, PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/"
    home = client.get("/")
    assert "Signed in as citizen@example.org" in home.content.decode()
    assert home.wsgi_request.user == citizen


def test_unverified_citizen_is_told_to_verify(client: Any) -> None:
    make_citizen("new@example.org", verified=False)
    response = login(client, "new@example.org", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    page = client.get(response["Location"]).content.decode()
    assert "Confirm your email address" in page
    assert "_auth_user_id" not in client.session
    # ... and a fresh verification mail went out.
    assert [message.to for message in mail.outbox] == [["new@example.org"]]


def test_wrong_password_gives_the_form_error(client: Any, citizen: User) -> None:
    response = login(client, citizen.email, "not the password")
    assert response.status_code == 200
    assert WRONG_CREDENTIALS in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_too_many_wrong_passwords_are_rate_limited(client: Any, citizen: User) -> None:
    for attempt in range(5):
        assert WRONG_CREDENTIALS in login(client, citizen.email, f"wrong {attempt}").content.decode()
    blocked = login(client, citizen.email, "wrong again").content.decode()
    assert TOO_MANY_FAILURES in blocked
    # Even the right password waits until the limit has passed.
    assert TOO_MANY_FAILURES in login(client, citizen.email, PASSWORD).content.decode()
    assert "_auth_user_id" not in client.session


def test_too_many_login_requests_from_one_address_get_429(client: Any, citizen: User, settings: Any) -> None:
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "3/m/ip"}
    statuses = [login(client, "nobody@example.org", "whatever").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert "Too many attempts" in login(client, citizen.email, PASSWORD).content.decode()


def test_signup_requires_email_verification(client: Any) -> None:
    response = client.post(
        "/accounts/signup/",
        {
            "email": "fresh@example.org",
            "password1": "a long enough passphrase",
            "password2": "a long enough passphrase",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert User.objects.get(email="fresh@example.org").emailaddress_set.get().verified is False
    assert "_auth_user_id" not in client.session
    assert len(mail.outbox) == 1
    assert "/accounts/confirm-email/" in mail.outbox[0].body


def test_password_reset_sends_a_link(client: Any, citizen: User) -> None:
    response = client.post("/accounts/password/reset/", {"email": citizen.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert "/accounts/password/reset/key/" in mail.outbox[0].body


def test_mfa_is_offered_to_every_citizen(client: Any, citizen: User) -> None:
    login(client, citizen.email, PASSWORD)
    assert client.get("/accounts/2fa/").status_code == 200
    # Changing MFA asks for the password again first.
    first_try = client.get("/accounts/2fa/totp/activate/")
    assert first_try.status_code == 302
    assert first_try["Location"].startswith("/accounts/reauthenticate/")
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    activate = client.get("/accounts/2fa/totp/activate/")
    assert activate.status_code == 200
    html = activate.content.decode()
    assert "Authenticator secret" in html or "authenticator" in html.lower()
    assert 'name="code"' in html


def test_admin_login_goes_through_allauth_with_the_second_factor(client: Any, admin_user: User) -> None:
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    after_password = login(client, admin_user.email, PASSWORD)
    assert after_password["Location"] == "/accounts/2fa/authenticate/"
    assert client.get("/admin/").status_code == 302  # the password alone opens nothing
    client.post("/accounts/2fa/authenticate/", {"code": admin_totp_code()})
    assert client.get("/admin/").status_code == 200


def test_staff_without_a_second_factor_is_sent_to_set_one_up(client: Any, db: None) -> None:
    staff = make_citizen("staff@example.org", is_staff=True, is_superuser=True)
    login(client, staff.email, PASSWORD)
    response = client.get("/admin/", follow=True)
    # To the authenticator set-up (which, as allauth does, asks for the password once more first).
    assert response.redirect_chain[1][0] == "/accounts/2fa/totp/activate/"
    assert client.get("/admin/sharing/share/").status_code == 302


def test_citizen_without_staff_flag_cannot_use_the_admin(citizen_client: Any) -> None:
    response = citizen_client.get("/admin/")
    assert response.status_code in (302, 403)
    assert citizen_client.get("/admin/jobs/job/").status_code != 200
