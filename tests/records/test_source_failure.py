"""Three sources, and one of them stops in the middle of its pull (its process is killed once it has sent its
first page): the other two sources' data is complete, what the failed one sent is kept, and the record page
names the source that failed and says when the portal asks it again by itself."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from portal.accounts.models import User
from portal.jobs.models import Job, JobStatus
from portal.jobs.services import job_run
from portal.records.management.commands.seed_demo import DEMO_IDENTIFIER_SYSTEM, DEMO_IDENTIFIER_VALUE
from portal.records.models import Pull, StoredResource
from portal.records.services import pull_start
from portal.records.storage import PullWriter
from tests.records.conftest import link_identifier, make_source, merge_now
from tests.three_sources import ThreeSources, start_three_sources

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def own_world(tmp_path: Path) -> Iterator[ThreeSources]:
    """Three sources of this test's own: one is stopped, which the session's shared ones must not be."""
    world = start_three_sources(tmp_path)
    yield world
    world.stop()


def test_a_source_that_stops_mid_pull_loses_nothing_of_the_others(
    citizen: User,
    citizen_client: Client,
    own_world: ThreeSources,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.FHIR_MAX_ATTEMPTS = 2
    settings.FHIR_BACKOFF_SECONDS = 0.05
    link_identifier(citizen, DEMO_IDENTIFIER_SYSTEM, DEMO_IDENTIFIER_VALUE)
    names = {key: own_world.manifest["sources"][key]["name"] for key in own_world.base_urls}
    sources = {
        key: make_source(url, name=names[key], patient_identifier_system=DEMO_IDENTIFIER_SYSTEM, page_size=3)
        for key, url in own_world.base_urls.items()
    }
    register = sources["register"]

    # The fault: the register's server dies right after the portal has stored its first page.
    original_add_page = PullWriter.add_page
    killed: list[bool] = []

    def add_page_then_kill(self: PullWriter, *args: Any, **kwargs: Any) -> None:
        original_add_page(self, *args, **kwargs)
        if self.pull.source_id == register.pk and not killed:
            own_world.register.process.stop()
            killed.append(True)

    monkeypatch.setattr(PullWriter, "add_page", add_page_then_kill)

    for job in pull_start(owner=citizen):
        job_run(job_id=job.id)
    merge_now(citizen)

    assert killed
    outcome = {
        pull.source_id: pull.job.status for pull in Pull.objects.filter(owner=citizen).select_related("job")
    }
    assert outcome == {
        sources["hospital"].pk: JobStatus.SUCCEEDED,
        sources["gp"].pk: JobStatus.SUCCEEDED,
        register.pk: JobStatus.FAILED,
    }
    for key in ("hospital", "gp"):
        held = StoredResource.objects.filter(owner=citizen, source=sources[key]).count()
        assert held == own_world.manifest["sources"][key]["total"], key
    kept = StoredResource.objects.filter(owner=citizen, source=register).count()
    assert 0 < kept < own_world.manifest["sources"]["register"]["total"]

    page = citizen_client.get("/records/").content.decode()
    failed = page.split('data-testid="source-failed"')
    assert len(failed) == 2  # one source failed, and only one
    said = failed[1].split("</div>")[0]
    assert names["register"] in said
    assert "Fetch my records" in said
    # The register was down, which may pass: the portal says when it asks again by itself.
    assert 'data-testid="source-retry"' in said
    assert "again by itself" in said
    assert Job.objects.get(pull__source=register).detail  # the reason, in plain words
