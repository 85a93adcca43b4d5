"""Object-level authorisation: every URL that takes an id, walked as another citizen, answers 404.

A guard test lists every route with a parameter, so a new one cannot be added without a row here.
"""

from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from portal.accounts.models import User
from portal.audit.models import Action
from portal.audit.services import audit_record
from portal.jobs.services import job_run
from sharing.models import Export, Share
from tests.sharing.conftest import store_example

pytestmark = pytest.mark.django_db

# Routes with a parameter that are not a citizen's object, and why.
NOT_OWNED = {
    "records/connect/<int:source_id>/": "a data source every citizen may connect to",
    "shl/<str:manifest_id>": "public SMART Health Link endpoint: the 256-bit id is the capability",
    "shl/files/<str:token>": "public file URL: an encrypted, dated, single-use token",
}

# route → (method, URL template filled from the owner's objects)
OWNED: dict[str, list[tuple[str, str]]] = {
    "jobs/<uuid:job_id>/": [("get", "/jobs/{job}/")],
    "jobs/<uuid:job_id>/retry/": [("post", "/jobs/{job}/retry/")],
    "exports/<uuid:export_id>/download/": [("get", "/exports/{export}/download/")],
    "shares/<uuid:share_id>/": [("get", "/shares/{share}/")],
    "shares/<uuid:share_id>/<slug:action>/": [
        ("post", "/shares/{share}/pause/"),
        ("post", "/shares/{share}/resume/"),
        ("post", "/shares/{share}/revoke/"),
    ],
}


def routes_with_parameters(patterns: list[Any], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if route.startswith(("admin/", "accounts/")):
                continue  # staff-only admin; allauth's own keyed URLs (reset and confirmation keys)
            found |= routes_with_parameters(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and "<" in route:
            found.add(route)
    return found


def test_every_route_with_an_id_is_walked_here() -> None:
    routes = routes_with_parameters(get_resolver().url_patterns)
    assert routes == set(OWNED) | set(NOT_OWNED)


@pytest.fixture
def owned_ids(citizen_client: Client, citizen: User) -> dict[str, str]:
    store_example(citizen)
    export_job = citizen_client.post("/exports/", {"format": "json"})["Location"].split("/")[2]
    export = Export.objects.get(job_id=export_job)
    job_run(job_id=export.job_id)
    citizen_client.post("/shares/", {"expires_in": 24 * 60 * 60})
    share = Share.objects.get()
    job_run(job_id=share.job_id)
    return {"job": export_job, "export": str(export.id), "share": str(share.id)}


@pytest.mark.parametrize(("method", "template"), [call for calls in OWNED.values() for call in calls])
def test_another_citizen_gets_404_and_changes_nothing(
    citizen_client: Client, owned_ids: dict[str, str], other_citizen: User, method: str, template: str
) -> None:
    url = template.format(**owned_ids)
    stranger = Client()
    stranger.force_login(other_citizen)
    before = Share.objects.values("paused_at", "revoked_at").get()
    assert getattr(stranger, method)(url).status_code == 404
    assert Share.objects.values("paused_at", "revoked_at").get() == before
    # The owner is answered (control: the URL is right).
    assert getattr(citizen_client, method)(url).status_code in (200, 302)


def test_access_log_entries_show_only_to_their_owner(
    citizen_client: Client, owned_ids: dict[str, str], other_citizen: User
) -> None:
    share = Share.objects.get()
    audit_record(
        action=Action.LINK_MANIFEST, owner=share.owner, target=share, recipient="Dr. Hansen", outcome="opened"
    )
    stranger = Client()
    stranger.force_login(other_citizen)
    assert "Dr. Hansen" not in stranger.get("/access-log/").content.decode()
    assert "Dr. Hansen" in citizen_client.get("/access-log/").content.decode()
