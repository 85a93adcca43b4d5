"""/records/status/, which the record page follows while its sources are fetched: each source's state, busy
until every pull and the merge after them have ended, and a version that moves when the page would change."""

from typing import Any

import pytest
from django.test import Client

from portal.accounts.models import User
from portal.jobs.services import job_run
from portal.records.services import pull_start
from tests.conftest import make_citizen
from tests.records.conftest import link_identifier, make_source, merge_now
from tests.records.fake_upstream import Answer, FakeUpstream, condition, searchset

pytestmark = pytest.mark.django_db


def status_of(client: Client) -> dict[str, Any]:
    response = client.get("/records/status/")
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    answer: dict[str, Any] = response.json()
    return answer


def test_the_status_needs_a_login(client: Client) -> None:
    assert client.get("/records/status/").status_code == 302


def test_the_status_follows_each_source_until_the_merge_has_run(
    fake_upstream: FakeUpstream, citizen: User, citizen_client: Client
) -> None:
    link_identifier(citizen)
    one = make_source(fake_upstream.base_url, name="One")
    two = make_source(fake_upstream.base_url + "/", name="Two")
    fake_upstream.routes["GET /fhir/Condition"] = Answer(body=searchset([condition("c1")]))
    before = status_of(citizen_client)
    assert before["busy"] is False
    assert {source["id"]: source["status"] for source in before["sources"]} == {one.pk: "", two.pk: ""}

    first, second = pull_start(owner=citizen)
    queued = status_of(citizen_client)
    assert queued["busy"] is True
    assert {source["status"] for source in queued["sources"]} == {"queued"}
    assert queued["version"] != before["version"]
    page = citizen_client.get("/records/").content.decode()
    assert 'data-busy="true"' in page
    assert page.count('data-testid="source-progress"') == 2
    assert "js/records-live.js" in page

    job_run(job_id=first.id)
    one_done = status_of(citizen_client)
    assert one_done["busy"] is True
    assert sorted(source["status"] for source in one_done["sources"]) == ["queued", "succeeded"]
    assert one_done["version"] != queued["version"]  # the page would show what the first source sent

    job_run(job_id=second.id)
    pulled = status_of(citizen_client)
    assert pulled["busy"] is True  # the merge of the two is still to run
    merge_now(citizen)
    done = status_of(citizen_client)
    assert done["busy"] is False
    assert done["version"] != pulled["version"]
    assert status_of(citizen_client)["version"] == done["version"]  # nothing changed: nothing to reload
    page = citizen_client.get("/records/").content.decode()
    assert 'data-busy="false"' in page
    assert "js/records-live.js" not in page
    assert 'data-testid="source-progress"' not in page


def test_another_citizens_pulls_are_not_in_the_status(
    fake_upstream: FakeUpstream, citizen: User, citizen_client: Client
) -> None:
    make_source(fake_upstream.base_url, name="One")
    other = link_identifier(make_citizen("other@example.org"))
    pull_start(owner=other)

    answer = status_of(citizen_client)

    assert answer["busy"] is False
    assert [source["status"] for source in answer["sources"]] == [""]
