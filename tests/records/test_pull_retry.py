"""A source that fails for a reason that may pass is asked again by the portal itself, at a time the record
page names; one that refuses for good (no such patient there) is not; the automatic tries end after the last
delay, and the citizen's own "Fetch my records" starts a new series."""

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from portal.accounts.models import User
from portal.audit.models import Action, AuditEntry
from portal.celery import app as celery_app
from portal.jobs.models import JobStatus
from portal.jobs.services import job_run
from portal.records import services
from portal.records.models import Connection, Pull
from tests.records.conftest import link_identifier, make_source, pull_now
from tests.records.fake_upstream import Answer, FakeUpstream, condition, searchset

pytestmark = pytest.mark.django_db


@pytest.fixture
def linked_citizen(citizen: User) -> User:
    return link_identifier(citizen)


@pytest.fixture
def failing_source(fake_upstream: FakeUpstream, settings: Any) -> Any:
    settings.PULL_RETRY_DELAYS_SECONDS = [300, 1800]
    fake_upstream.routes["GET /fhir/Condition"] = Answer(status=503)
    return make_source(fake_upstream.base_url, name="County Hospital")


def make_due(connection: Connection) -> None:
    Connection.objects.filter(pk=connection.pk).update(retry_at=timezone.now() - timedelta(seconds=1))


def run_due_pull(owner: User) -> Pull:
    assert services.pulls_retry_due() == 1
    pull = Pull.objects.filter(owner=owner).select_related("job").latest("created_at")
    assert pull.job.status == JobStatus.QUEUED
    job_run(job_id=pull.job.id)
    pull.refresh_from_db()
    pull.job.refresh_from_db()
    return pull


def test_a_passing_failure_sets_when_the_source_is_asked_again_and_the_page_says_it(
    fake_upstream: FakeUpstream, linked_citizen: User, citizen_client: Client, failing_source: Any
) -> None:
    job, _pull = pull_now(linked_citizen)
    assert job.status == JobStatus.FAILED

    connection = Connection.objects.get(owner=linked_citizen, source=failing_source)
    assert connection.failed_pulls == 1
    assert connection.retry_at is not None
    expected = timezone.now() + timedelta(seconds=300)
    assert abs((connection.retry_at - expected).total_seconds()) < 30
    page = citizen_client.get("/records/").content.decode()
    retry = page.split('data-testid="source-retry"')[1].split("</p>")[0]
    assert "County Hospital" in retry
    assert "again by itself" in retry
    assert "Fetch my records" in retry
    # Not due yet: nothing starts.
    assert services.pulls_retry_due() == 0

    # The time comes and the source answers again: the portal's own pull succeeds and ends the series.
    fake_upstream.routes["GET /fhir/Condition"] = Answer(body=searchset([condition("c1")]))
    make_due(connection)
    retried = run_due_pull(linked_citizen)
    assert retried.job.status == JobStatus.SUCCEEDED, retried.job.detail
    connection.refresh_from_db()
    assert (connection.failed_pulls, connection.retry_at) == (0, None)
    started = AuditEntry.objects.filter(action=Action.PULL_STARTED, target_id=str(retried.pk)).get()
    assert started.actor is None
    assert started.actor_kind == "system"
    page = citizen_client.get("/records/").content.decode()
    assert 'data-testid="source-failed"' not in page
    assert 'data-testid="source-retry"' not in page


def test_the_automatic_tries_end_after_the_last_delay(
    linked_citizen: User, citizen_client: Client, failing_source: Any
) -> None:
    pull_now(linked_citizen)
    connection = Connection.objects.get(owner=linked_citizen)
    make_due(connection)
    assert run_due_pull(linked_citizen).job.status == JobStatus.FAILED
    connection.refresh_from_db()
    assert connection.failed_pulls == 2
    assert connection.retry_at is not None
    expected = timezone.now() + timedelta(seconds=1800)
    assert abs((connection.retry_at - expected).total_seconds()) < 30

    make_due(connection)
    assert run_due_pull(linked_citizen).job.status == JobStatus.FAILED
    connection.refresh_from_db()
    assert (connection.failed_pulls, connection.retry_at) == (3, None)
    assert services.pulls_retry_due() == 0
    page = citizen_client.get("/records/").content.decode()
    failed = page.split('data-testid="source-failed"')[1].split("</div>")[0]
    assert 'data-testid="source-retry"' not in failed
    assert "next time you press “Fetch my records”" in failed

    # The citizen asking starts a new series: one more failure gives the first delay again.
    pull_now(linked_citizen)
    connection.refresh_from_db()
    assert connection.failed_pulls == 1
    assert connection.retry_at is not None


def test_a_refusal_that_will_not_pass_is_not_tried_again(
    fake_upstream: FakeUpstream, linked_citizen: User, settings: Any
) -> None:
    settings.PULL_RETRY_DELAYS_SECONDS = [300]
    source = make_source(fake_upstream.base_url)
    fake_upstream.routes["GET /fhir/Patient"] = Answer(body=searchset([]))

    job, _pull = pull_now(linked_citizen)

    assert job.detail == services.NO_PATIENT
    connection = Connection.objects.get(owner=linked_citizen, source=source)
    assert (connection.failed_pulls, connection.retry_at) == (1, None)


def test_a_due_retry_of_a_switched_off_source_starts_nothing(
    linked_citizen: User, failing_source: Any
) -> None:
    pull_now(linked_citizen)
    connection = Connection.objects.get(owner=linked_citizen)
    failing_source.enabled = False
    failing_source.save()
    make_due(connection)

    assert services.pulls_retry_due() == 0
    connection.refresh_from_db()
    assert connection.retry_at is None
    assert Pull.objects.filter(owner=linked_citizen).count() == 1


def test_the_beat_runs_the_retry_task() -> None:
    from django.conf import settings

    entries = [entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()]
    assert "portal.records.tasks.pulls_retry_due" in entries
    celery_app.loader.import_default_modules()
    assert "portal.records.tasks.pulls_retry_due" in celery_app.tasks


def test_operators_see_the_failures_in_a_row_and_the_next_try(
    linked_citizen: User, failing_source: Any, admin_user: User, client: Client
) -> None:
    pull_now(linked_citizen)
    client.force_login(admin_user)

    listing = client.get("/admin/records/connection/").content.decode()

    assert 'class="field-failed_pulls">1<' in listing
    retry = re.search(r'class="field-retry_at[^"]*">([^<]*)<', listing)
    assert retry is not None
    assert retry[1].strip() not in ("", "-")
