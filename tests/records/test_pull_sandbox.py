"""Pulling from the real FHIR sandbox over HTTP: the demo citizen's IPS record, updates, auth modes."""

import copy
from typing import Any

import pytest
from django.test import Client

from portal.accounts.models import User
from portal.jobs.models import JobStatus
from portal.records import fhir_client
from portal.records.management.commands.seed_demo import DEMO_IDENTIFIER_SYSTEM, DEMO_IDENTIFIER_VALUE
from portal.records.models import AuthMode, StoredResource
from tests.conftest import ips_example
from tests.records.conftest import link_identifier, make_source, pull_now
from tests.sandbox_fixtures import sandbox_put

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

ALL_SECTIONS = "Bundle-bundle-ips-all-sections"
# The record's own content; the Composition is the example's document wrapper, not the patient's data, and
# PractitionerRole/Organization entries only the Composition refers to are not part of it either.
NOT_PULLED = {"Composition"}


def without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in resource.items() if key != "meta"}


def example_resources() -> dict[tuple[str, str], dict[str, Any]]:
    bundle = ips_example(ALL_SECTIONS)
    return {
        (entry["resource"]["resourceType"], entry["resource"]["id"]): entry["resource"]
        for entry in bundle["entry"]
    }


def stored(owner: User) -> dict[tuple[str, str], StoredResource]:
    return {(row.resource_type, row.resource_id): row for row in StoredResource.objects.filter(owner=owner)}


@pytest.fixture
def patricia(citizen: User) -> User:
    return link_identifier(citizen, DEMO_IDENTIFIER_SYSTEM, DEMO_IDENTIFIER_VALUE)


def referenced_by_clinical_content(resources: dict[tuple[str, str], dict[str, Any]]) -> set[tuple[str, str]]:
    from core.fhir.upstream import referenced_resources

    found: set[tuple[str, str]] = set()
    for (resource_type, _id), resource in resources.items():
        if resource_type not in NOT_PULLED:
            found |= referenced_resources(resource, base_url="https://fhir.example.com")
    return found


def test_pulling_the_demo_citizen_stores_every_clinical_resource(fhir_sandbox: Any, patricia: User) -> None:
    make_source(fhir_sandbox.base_url, patient_identifier_system=DEMO_IDENTIFIER_SYSTEM)

    job, pull = pull_now(patricia)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert pull.complete
    rows = stored(patricia)
    example = example_resources()
    patient_and_clinical = {
        key
        for key in example
        if key[0] not in NOT_PULLED and key[0] not in {"Organization", "PractitionerRole", "Practitioner"}
    }
    expected = patient_and_clinical | (referenced_by_clinical_content(example) & example.keys())
    missing = expected - rows.keys()
    assert not missing, f"not pulled: {sorted(missing)}"
    for key in expected:
        assert without_meta(rows[key].data) == without_meta(example[key]), key
    # Nothing of the other example patients came along.
    assert {row.data.get("subject", {}).get("reference") for row in rows.values()} <= {
        None,
        "Patient/d174bd1a-b368-41e6-83a2-af77f2b3c60f",
    }
    assert pull.dropped_other_patient == 0


def test_the_record_page_shows_the_demo_citizens_summary(
    fhir_sandbox: Any, patricia: User, client: Client
) -> None:
    make_source(fhir_sandbox.base_url, patient_identifier_system=DEMO_IDENTIFIER_SYSTEM, name="Sandbox")
    job, _pull = pull_now(patricia)
    assert job.status == JobStatus.SUCCEEDED, job.detail
    client.force_login(patricia)

    page = client.get("/records/").content.decode()

    assert "enicillin" in page  # the allergy
    assert "ypertension" in page
    assert "out" in page
    rows = StoredResource.objects.filter(owner=patricia)
    assert rows.filter(section="medications").count() == 3
    assert rows.filter(section="immunizations").count() == 8
    assert page.count('data-section="immunizations"') == 1
    # Where it came from is said once, in the list of sources, not on every card.
    assert page.count('<strong class="source-name">Sandbox</strong>') == 1
    assert f"{rows.exclude(section='').count()} items in your record, fetched" in page
    assert "From Sandbox" not in page


def test_a_second_pull_changes_nothing_and_a_changed_resource_is_updated(
    fresh_fhir_sandbox: Any, patricia: User
) -> None:
    make_source(fresh_fhir_sandbox.base_url, patient_identifier_system=DEMO_IDENTIFIER_SYSTEM)
    first_job, _first = pull_now(patricia)
    assert first_job.status == JobStatus.SUCCEEDED, first_job.detail
    before = {key: (row.pk, row.content_hash, row.changed_at) for key, row in stored(patricia).items()}

    _job, second = pull_now(patricia)

    assert (second.added, second.updated, second.missing) == (0, 0, 0)
    assert second.unchanged == len(before)
    after = {key: (row.pk, row.content_hash, row.changed_at) for key, row in stored(patricia).items()}
    assert after == before

    condition = copy.deepcopy(example_resources()[("Condition", "8039e4a7-d459-454c-92a5-6c17ca2a824b")])
    condition["note"] = [{"text": "Reviewed again"}]
    sandbox_put(fresh_fhir_sandbox, condition)

    _job, third = pull_now(patricia)

    assert (third.added, third.updated, third.missing) == (0, 1, 0)
    rows = StoredResource.objects.filter(
        owner=patricia, resource_type="Condition", resource_id=condition["id"]
    )
    assert rows.count() == 1
    assert rows.get().data["note"] == [{"text": "Reviewed again"}]
    assert StoredResource.objects.filter(owner=patricia).count() == len(before)


def test_backend_services_with_a_client_secret(smart_fhir_sandbox: Any, patricia: User) -> None:
    make_source(
        smart_fhir_sandbox.base_url,
        auth_mode=AuthMode.BACKEND_SERVICES,
        patient_identifier_system=DEMO_IDENTIFIER_SYSTEM,
        client_id=smart_fhir_sandbox.client_id,
        client_secret=smart_fhir_sandbox.client_secret,
    )

    job, _pull = pull_now(patricia)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert StoredResource.objects.filter(owner=patricia, resource_type="AllergyIntolerance").exists()


def test_backend_services_with_a_private_key_jwt(smart_fhir_sandbox: Any, patricia: User) -> None:
    make_source(
        smart_fhir_sandbox.base_url,
        auth_mode=AuthMode.BACKEND_SERVICES,
        patient_identifier_system=DEMO_IDENTIFIER_SYSTEM,
        client_id=smart_fhir_sandbox.client_id,
        private_key=smart_fhir_sandbox.private_key_pem,
        signing_algorithm=smart_fhir_sandbox.alg,
        key_id=smart_fhir_sandbox.key_id,
    )

    job, _pull = pull_now(patricia)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert StoredResource.objects.filter(owner=patricia, resource_type="Immunization").count() == 8


def test_backend_services_with_a_wrong_secret_is_a_clear_failed_job(
    smart_fhir_sandbox: Any, patricia: User
) -> None:
    make_source(
        smart_fhir_sandbox.base_url,
        auth_mode=AuthMode.BACKEND_SERVICES,
        patient_identifier_system=DEMO_IDENTIFIER_SYSTEM,
        client_id=smart_fhir_sandbox.client_id,
        client_secret="not-the-secret",
    )

    job, _pull = pull_now(patricia)

    assert job.status == JobStatus.FAILED
    assert job.detail == fhir_client.CREDENTIALS
    assert not StoredResource.objects.filter(owner=patricia).exists()


def test_an_open_pull_of_a_smart_sandbox_is_refused(smart_fhir_sandbox: Any, patricia: User) -> None:
    make_source(smart_fhir_sandbox.base_url, patient_identifier_system=DEMO_IDENTIFIER_SYSTEM)

    job, _pull = pull_now(patricia)

    assert job.status == JobStatus.FAILED
    assert job.detail == fhir_client.CREDENTIALS
