"""The job page's "Try again" spends the same budget as the page that creates the job: new exports and retries
together never exceed EXPORT_CREATE_RATE (one django-ratelimit counter, named after the setting)."""

import uuid
from typing import Any

import pytest
from django.test import Client

from portal.accounts.models import User
from portal.jobs.models import Job, JobStatus
from portal.jobs.registry import kind_get
from portal.jobs.services import job_run
from sharing.exports.services import EXPORT_KIND
from sharing.links.services import SHARE_KIND

pytestmark = pytest.mark.django_db


def new_export(client: Client) -> Any:
    return client.post("/exports/", {"format": "json"})


def failed_export(client: Client) -> Job:
    """A new export that fails as it does for real (no record yet), run here as the worker would."""
    response = new_export(client)
    assert response.status_code == 302
    job_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    job_run(job_id=uuid.UUID(job_id))
    job = Job.objects.get(id=job_id)
    assert job.status == JobStatus.FAILED, job.detail
    return job


def retry(client: Client, job: Job, capture: Any) -> tuple[int, int]:
    """POST "Try again"; returns the status and how many jobs it sent to the broker (after commit)."""
    with capture(execute=False) as callbacks:
        response = client.post(f"/jobs/{job.id}/retry/")
    return response.status_code, len(callbacks)


def test_a_retry_after_the_budget_is_spent_on_new_exports_is_a_429_and_runs_nothing(
    citizen_client: Client, citizen: User, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.EXPORT_CREATE_RATE = "2/h"
    job = failed_export(citizen_client)
    assert new_export(citizen_client).status_code == 302  # the second of two

    status, sent = retry(citizen_client, job, django_capture_on_commit_callbacks)

    assert status == 429
    assert sent == 0
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.FAILED, 1)
    refused = citizen_client.post(f"/jobs/{job.id}/retry/")
    assert refused.status_code == 429
    assert "Retry-After" in refused
    assert "429.html" in [template.name for template in refused.templates]  # the portal's own 429 page


def test_retries_spend_the_budget_new_exports_then_lack(
    citizen_client: Client, citizen: User, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.EXPORT_CREATE_RATE = "2/h"
    job = failed_export(citizen_client)

    assert retry(citizen_client, job, django_capture_on_commit_callbacks) == (302, 1)
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED

    assert new_export(citizen_client).status_code == 429


def test_clicking_try_again_on_a_job_that_is_not_failed_costs_nothing(
    citizen_client: Client, citizen: User, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.EXPORT_CREATE_RATE = "2/h"
    job = failed_export(citizen_client)
    assert retry(citizen_client, job, django_capture_on_commit_callbacks) == (302, 1)
    # A double click finds the job queued: nothing happens, nothing is counted.
    assert retry(citizen_client, job, django_capture_on_commit_callbacks) == (302, 0)

    assert new_export(citizen_client).status_code == 429  # the budget: one export and one retry


def test_the_counter_is_the_citizens_own(
    citizen_client: Client, other_citizen: User, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.EXPORT_CREATE_RATE = "1/h"
    other = Client()
    other.force_login(other_citizen)
    assert new_export(other).status_code == 302
    assert new_export(other).status_code == 429

    job = failed_export(citizen_client)
    assert new_export(citizen_client).status_code == 429
    assert retry(citizen_client, job, django_capture_on_commit_callbacks) == (429, 0)


def test_exports_and_links_declare_the_rate_they_count_against() -> None:
    assert kind_get(EXPORT_KIND).rate_setting == "EXPORT_CREATE_RATE"
    assert kind_get(SHARE_KIND).rate_setting == "SHARE_CREATE_RATE"
