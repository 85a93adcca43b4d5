"""A share's passcode never rests in a session: the share form comes after the password when the sign-in is
not recent, and a share POST suspended for the password anyway is kept without its passcode, so the citizen
types it again rather than getting a link without it."""

import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, quote_plus

import pytest
import time_machine
from allauth.account.internal.flows.reauthentication import STATE_SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from portal.accounts.models import User
from portal.jobs.services import job_run
from sharing.links.services import passcode_matches
from sharing.models import Share
from tests.conftest import PASSWORD
from tests.sharing.conftest import store_example

pytestmark = pytest.mark.django_db

DAY = 24 * 60 * 60
PASSCODE = "Sesame-4711"
ALLERGIES = "48765-2"
IMMUNIZATIONS = "11369-6"
MEDICATIONS = "10160-0"


@pytest.fixture
def patricia(citizen: User) -> User:
    store_example(citizen)
    return citizen


def sign_in(client: Client, user: User) -> None:
    assert client.post("/accounts/login/", {"login": user.email, "password": PASSWORD}).status_code == 302


def assert_no_session_holds(secret: str) -> None:
    """Every row of django_session, raw and decoded, is free of ``secret``."""
    rows = list(Session.objects.all())
    assert rows
    for row in rows:
        assert secret not in row.session_data
        for decoded in (row.get_decoded(), SessionStore(session_key=row.session_key).load()):
            text = json.dumps(decoded, default=str)
            assert secret not in text
            assert quote_plus(secret) not in text  # as a suspended POST body would hold it


def suspended_post() -> dict[str, list[str]]:
    """The POST allauth keeps in the session while it waits for the password."""
    states = [
        row.get_decoded()[STATE_SESSION_KEY]
        for row in Session.objects.all()
        if STATE_SESSION_KEY in row.get_decoded()
    ]
    assert len(states) == 1
    return parse_qs(json.loads(states[0]["request"])["POST"])


def checked(page: str, name: str, value: str) -> bool:
    tag = re.search(rf'<input[^>]*name="{name}" value="{re.escape(value)}"[^>]*>', page)
    assert tag, (name, value)
    return " checked" in tag.group(0)


def test_the_share_form_asks_for_the_password_first_when_the_sign_in_is_old(
    client: Client, patricia: User
) -> None:
    sign_in(client, patricia)
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        form = client.get("/shares/")
        assert form.status_code == 302
        assert form["Location"] == "/accounts/reauthenticate/?next=%2Fshares%2F"
        back = client.post(form["Location"], {"password": PASSWORD})
        assert back["Location"] == "/shares/"
        page = client.get("/shares/")
        assert page.status_code == 200
        assert 'name="passcode"' in page.content.decode()


def test_a_share_post_suspended_for_the_password_leaves_its_passcode_out_of_every_session(
    client: Client, patricia: User
) -> None:
    sign_in(client, patricia)
    # The form was shown while the sign-in was recent; it was sent ten minutes later.
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        first = client.post(
            "/shares/",
            {"expires_in": 7 * DAY, "passcode": PASSCODE, "label": "For Dr Holm", "sections": [ALLERGIES]},
        )
        assert first.status_code == 302
        assert first["Location"].startswith("/accounts/reauthenticate/")
        assert_no_session_holds(PASSCODE)
        # The POST waits in the session for the password, only without its passcode.
        assert suspended_post() == {
            "expires_in": [str(7 * DAY)],
            "label": ["For Dr Holm"],
            "sections": [ALLERGIES],
            "portal_withheld": ["passcode"],
        }

        resumed = client.post(first["Location"], {"password": PASSWORD})
        # No link without the passcode the citizen asked for: the form again, asking for it, choices kept.
        assert not Share.objects.exists()
        assert resumed.status_code == 200
        page = resumed.content.decode()
        assert "passcode was not kept" in page
        assert 'value="For Dr Holm"' in page
        assert checked(page, "expires_in", str(7 * DAY))
        assert not checked(page, "expires_in", str(DAY))
        assert checked(page, "sections", ALLERGIES)
        # Not posted: an optional section stays unticked, a required one is always in (ticked, explained).
        assert not checked(page, "sections", IMMUNIZATIONS)
        assert checked(page, "sections", MEDICATIONS)
        assert "Always included: the summary requires this section." in page
        assert PASSCODE not in page
        assert_no_session_holds(PASSCODE)

        # The citizen types it again (the password is recent now): the link has it.
        again = client.post(
            "/shares/",
            {"expires_in": 7 * DAY, "passcode": PASSCODE, "label": "For Dr Holm", "sections": [ALLERGIES]},
        )
        share = Share.objects.get()
        assert again["Location"] == f"/shares/{share.id}/"
        assert passcode_matches(share, PASSCODE)
        assert_no_session_holds(PASSCODE)


def test_a_suspended_share_without_a_passcode_still_resumes_as_asked(client: Client, patricia: User) -> None:
    sign_in(client, patricia)
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        first = client.post("/shares/", {"expires_in": DAY, "passcode": "", "label": "no passcode"})
        resumed = client.post(first["Location"], {"password": PASSWORD})
        share = Share.objects.get()
        assert resumed["Location"] == f"/shares/{share.id}/"
        assert share.label == "no passcode"
        assert not share.has_passcode


def test_a_posted_withheld_mark_never_makes_a_link(citizen_client: Client, patricia: User) -> None:
    response = citizen_client.post(
        "/shares/", {"expires_in": DAY, "passcode": PASSCODE, "portal_withheld": "passcode"}
    )
    assert response.status_code == 200
    assert not Share.objects.exists()


def test_a_recent_sign_in_makes_a_share_whose_passcode_works(client: Client, patricia: User) -> None:
    sign_in(client, patricia)
    response = client.post("/shares/", {"expires_in": DAY, "passcode": PASSCODE, "label": "now"})
    share = Share.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/shares/{share.id}/"
    job_run(job_id=share.job_id)
    assert passcode_matches(share, PASSCODE)
    assert not passcode_matches(share, "Sesame-4712")
    assert_no_session_holds(PASSCODE)


def test_a_failed_share_shows_the_choices_again_but_never_the_passcode(
    citizen_client: Client, patricia: User
) -> None:
    fields: dict[str, Any] = {"expires_in": 900, "passcode": PASSCODE, "direct": "on", "label": "mine"}
    page = citizen_client.post("/shares/", fields).content.decode()
    assert not Share.objects.exists()
    assert checked(page, "expires_in", "900")
    assert 'value="mine"' in page
    assert re.search(r'<input type="checkbox" name="direct" checked>', page)
    assert PASSCODE not in page
