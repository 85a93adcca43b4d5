"""Operators check a data source from the admin: it answers, and it accepts the portal's credentials."""

import pytest
from django.test import Client

from portal.accounts.models import User
from portal.records.models import AuthMode
from tests.records.conftest import make_source
from tests.records.fake_upstream import FakeUpstream
from tests.records.test_pull_faults import _token_routes

pytestmark = pytest.mark.django_db


def check(client: Client, source_id: int) -> str:
    response = client.post(
        "/admin/records/datasource/",
        {"action": "check_sources", "_selected_action": [str(source_id)]},
        follow=True,
    )
    assert response.status_code == 200
    return response.content.decode()


def test_check_action_reports_each_outcome(
    fake_upstream: FakeUpstream, admin_user: User, client: Client
) -> None:
    client.force_login(admin_user)
    _token_routes(fake_upstream)
    good = make_source(
        fake_upstream.base_url,
        name="Good",
        auth_mode=AuthMode.BACKEND_SERVICES,
        client_id="portal",
        client_secret="right-secret",
    )
    wrong = make_source(
        fake_upstream.base_url,
        name="Wrong secret",
        auth_mode=AuthMode.BACKEND_SERVICES,
        client_id="portal",
        client_secret="wrong-secret",
    )
    down = make_source("http://127.0.0.1:9/fhir", name="Down", connect_timeout=0.5)

    assert "Good: the source answered." in check(client, good.pk)
    page = check(client, wrong.pk)
    assert "Wrong secret: The data source did not accept the portal&#x27;s credentials." in page
    assert "wrong-secret" not in page
    assert "Down: The data source could not be reached." in check(client, down.pk)
