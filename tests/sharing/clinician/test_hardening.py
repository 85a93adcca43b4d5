"""The public SHL endpoints against what an outside attacker tried: a body too deep to parse, and 429s that
would tell which link ids exist."""

import json
from typing import Any

import pytest
from django.test import Client

from core.shl.payload import new_manifest_id
from portal.accounts.models import User
from portal.audit.models import Outcome
from tests.sharing.links.test_shares import link_of, make_share, manifest_path, post_manifest
from tests.trail import access_outcomes

pytestmark = pytest.mark.django_db


@pytest.fixture
def patricia(citizen: User) -> User:
    from tests.sharing.conftest import store_example

    store_example(citizen)
    return citizen


def test_a_body_nested_a_thousand_levels_deep_is_a_400_in_json_with_cors(
    citizen_client: Client, patricia: User
) -> None:
    share = make_share(citizen_client)
    payload = link_of(citizen_client, share)
    deep = b'{"recipient": ' + b"[" * 1000 + b"]" * 1000 + b"}"

    answer = citizen_client.post(manifest_path(payload), deep, content_type="application/json")

    assert answer.status_code == 400
    assert answer["Content-Type"] == "application/json"
    assert answer["Access-Control-Allow-Origin"] == "*"
    assert answer.json() == {"error": "the body must be JSON"}
    assert access_outcomes(share) == [Outcome.BAD_REQUEST]


def test_a_429_tells_nothing_about_which_link_ids_exist(
    citizen_client: Client, patricia: User, settings: Any
) -> None:
    share = make_share(citizen_client)
    payload = link_of(citizen_client, share)
    citizen_client.post(f"/shares/{share.id}/revoke/")
    settings.SHL_RATE_LIMIT = "2/h"  # per hour: no window ends mid-test
    stranger = Client()
    unknown = f"/shl/{new_manifest_id()}"
    body = json.dumps({"recipient": "A"})

    asked = [stranger.post(unknown, body, content_type="application/json").status_code for _ in range(3)]

    assert asked == [404, 404, 429]  # the control: the limit holds for the id asked for
    # Another unknown id and a known (revoked) id answer alike: each has a bucket of its own.
    another = stranger.post(f"/shl/{new_manifest_id()}", body, content_type="application/json")
    known = post_manifest(stranger, payload, recipient="A")
    assert (another.status_code, known.status_code) == (404, 404)
    assert another.json() == known.json() == {"error": "not found"}
