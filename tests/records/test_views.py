"""The record pages: only the citizen's own data, pull starts, and the pull running in a real worker."""

from typing import Any

import pytest
from django.test import Client

from portal.accounts.models import User
from portal.accounts.services import IdentityConflict
from portal.jobs.models import Job, JobStatus
from portal.records.management.commands.seed_demo import DEMO_IDENTIFIER_SYSTEM, DEMO_IDENTIFIER_VALUE
from portal.records.models import Connection, Pull, StoredResource
from portal.records.services import pull_start
from tests.conftest import wait_for
from tests.records.conftest import link_identifier, make_source, pull_now
from tests.records.fake_upstream import Answer, FakeUpstream, condition, searchset

pytestmark = pytest.mark.django_db


def test_records_need_a_login(client: Client) -> None:
    assert client.get("/records/").status_code == 302
    assert client.post("/records/pull/").status_code == 302
    assert not Job.objects.exists()


def test_pull_without_a_connected_source_explains_itself(citizen_client: Client) -> None:
    response = citizen_client.post("/records/pull/", follow=True)

    assert response.redirect_chain[-1][0] == "/records/"
    assert "No data source is connected" in response.content.decode()
    assert not Job.objects.exists()


def test_pull_starts_one_job_per_connected_source_and_redirects_to_it(
    fake_upstream: FakeUpstream, citizen: User, citizen_client: Client
) -> None:
    link_identifier(citizen)
    make_source(fake_upstream.base_url, name="One")
    make_source(fake_upstream.base_url + "/", name="Two")
    make_source(fake_upstream.base_url, name="Elsewhere", patient_identifier_system="urn:other")

    response = citizen_client.post("/records/pull/")

    jobs = Job.objects.filter(owner=citizen, kind="records.pull")
    assert jobs.count() == 2
    assert response.status_code == 302
    assert response["Location"] in {f"/jobs/{job.id}/" for job in jobs}
    # Pressing again while they run starts nothing new.
    citizen_client.post("/records/pull/")
    assert Job.objects.filter(owner=citizen).count() == 2


def test_another_citizen_sees_none_of_it(
    fake_upstream: FakeUpstream, citizen: User, other_citizen: User, client: Client
) -> None:
    link_identifier(citizen)
    make_source(fake_upstream.base_url, name="Region")
    fake_upstream.routes["GET /fhir/Condition"] = Answer(
        body=searchset([condition("c1", text="Rare condition")])
    )
    job, _pull = pull_now(citizen)
    assert job.status == JobStatus.SUCCEEDED

    client.force_login(citizen)
    assert "Rare condition" in client.get("/records/").content.decode()

    client.force_login(other_citizen)
    page = client.get("/records/").content.decode()
    assert "Rare condition" not in page
    assert client.get(f"/jobs/{job.id}/").status_code == 404
    assert client.get(f"/jobs/{job.id}/", HTTP_ACCEPT="application/json").status_code == 404
    # The other citizen has no identifier: pressing pull cannot reach the first citizen's record.
    client.post("/records/pull/")
    assert not Pull.objects.filter(owner=other_citizen).exists()
    assert StoredResource.objects.filter(owner=other_citizen).count() == 0


def test_one_identifier_belongs_to_one_account(
    fake_upstream: FakeUpstream, citizen: User, other_citizen: User
) -> None:
    link_identifier(citizen)
    # A second account cannot hold the same identifier (NationalIdentity), so it pulls nothing.
    with pytest.raises(IdentityConflict):
        link_identifier(other_citizen)
    make_source(fake_upstream.base_url)
    fake_upstream.routes["GET /fhir/Condition"] = Answer(body=searchset([condition("c1")]))

    pull_now(citizen)

    assert Connection.objects.filter(owner=citizen).count() == 1
    assert StoredResource.objects.filter(owner=citizen, resource_type="Condition").count() == 1
    assert pull_start(owner=other_citizen) == []
    assert StoredResource.objects.filter(owner=other_citizen).count() == 0


def test_hostile_narrative_is_inert_on_the_record_page(
    fake_upstream: FakeUpstream, citizen: User, citizen_client: Client
) -> None:
    link_identifier(citizen)
    make_source(fake_upstream.base_url)
    hostile = condition("c1", text="<img src=x onerror=alert(1)>")
    hostile["text"] = {
        "status": "generated",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Asthma</p><script>alert(2)</script>'
        '<a href="javascript:alert(3)">x</a></div>',
    }
    fake_upstream.routes["GET /fhir/Condition"] = Answer(body=searchset([hostile]))
    pull_now(citizen)

    page = citizen_client.get("/records/").content.decode()

    assert "<p>Asthma</p>" in page
    assert "<script>alert" not in page
    assert "javascript:" not in page
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


@pytest.mark.integration
def test_the_pull_button_runs_in_a_real_worker(
    celery_worker_process: Any, fhir_sandbox: Any, citizen: User, client: Client
) -> None:
    link_identifier(citizen, DEMO_IDENTIFIER_SYSTEM, DEMO_IDENTIFIER_VALUE)
    make_source(fhir_sandbox.base_url, patient_identifier_system=DEMO_IDENTIFIER_SYSTEM, name="Sandbox")
    client.force_login(citizen)

    response = client.post("/records/pull/")
    job_url = response["Location"]

    def finished() -> bool:
        status = client.get(job_url, HTTP_ACCEPT="application/json").json()["status"]
        return status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    wait_for(finished, timeout=90, what="the pull job")
    answer = client.get(job_url, HTTP_ACCEPT="application/json").json()
    assert answer["status"] == JobStatus.SUCCEEDED, (answer, celery_worker_process.log()[-3000:])
    assert answer["result_url"] == "/records/"
    assert StoredResource.objects.filter(owner=citizen, resource_type="Immunization").count() == 8
    assert "ypertension" in client.get("/records/").content.decode()


def test_a_failed_pull_page_explains_and_leads_back(
    fake_upstream: FakeUpstream, citizen: User, citizen_client: Client
) -> None:
    link_identifier(citizen)
    make_source(fake_upstream.base_url)
    fake_upstream.routes["GET /fhir/Condition"] = Answer(status=503, body={})
    job, _pull = pull_now(citizen)

    page = citizen_client.get(f"/jobs/{job.id}/").content.decode()

    assert "The data source answered with a server error. Please try again later." in page
    assert 'href="/records/" data-testid="job-home"' in page
    records = citizen_client.get("/records/").content.decode()
    assert "The data source answered with a server error." in records
    assert 'data-testid="pull-button"' in records
