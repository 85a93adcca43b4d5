"""Record fixtures: data sources, a citizen the fake upstream knows, running a pull in this process."""

from typing import Any

import pytest

from portal.accounts.models import User
from portal.accounts.services import identity_record_on_file
from portal.jobs.models import Job, JobStatus
from portal.jobs.services import job_run
from portal.records.models import AuthMode, DataSource, Pull
from portal.records.services import MERGE_KIND, pull_start
from tests.records.fake_upstream import PATIENT_SYSTEM, PATIENT_VALUE, fake_upstream  # noqa: F401


@pytest.fixture(autouse=True)
def _quick_retries(settings: Any) -> None:
    # Retries and backoff are exercised, in milliseconds.
    settings.FHIR_BACKOFF_SECONDS = 0.01
    settings.FHIR_MAX_ATTEMPTS = 3


def link_identifier(user: User, system: str = PATIENT_SYSTEM, value: str = PATIENT_VALUE) -> User:
    identity_record_on_file(user=user, system=system, value=value)
    return user


def make_source(base_url: str, **extra: Any) -> DataSource:
    fields: dict[str, Any] = {
        "name": f"Source at {base_url}",
        "base_url": base_url,
        "auth_mode": AuthMode.OPEN,
        "patient_identifier_system": PATIENT_SYSTEM,
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        **extra,
    }
    secret = fields.pop("client_secret", "")
    key = fields.pop("private_key", "")
    source = DataSource(**fields)
    source.set_client_secret(secret)
    source.set_private_key(key)
    source.save()
    return source


def merge_now(owner: User) -> None:
    """Run the record's queued merge job here, as the worker would once the pulls have ended."""
    queued = list(Job.objects.filter(owner=owner, kind=MERGE_KIND, status=JobStatus.QUEUED))
    assert queued, "no merge was queued"
    for job in queued:
        job_run(job_id=job.id)
        assert Job.objects.get(id=job.id).status == JobStatus.SUCCEEDED


def pull_now(owner: User) -> tuple[Job, Pull]:
    """Start a pull and run its job here, as the worker would (the worker itself has its own tests)."""
    jobs = pull_start(owner=owner)
    assert len(jobs) == 1, jobs
    job_run(job_id=jobs[0].id)
    job = Job.objects.get(id=jobs[0].id)
    return job, Pull.objects.get(job=job)
