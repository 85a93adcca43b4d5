"""Jobs are never lost: real workers killed mid-job, a real Redis restarted and flushed under queued jobs, one
task delivered twice, an upstream down for a pull's whole retry budget and the citizen's "Try again".

Every recovery goes through the product's own path: the worker's atomic claim, the periodic sweeper
(`jobs_sweep`, sent the way celery beat sends it, run by the worker with its own settings) and the job page.
Only the clocks are shortened, through the environment the child processes read (see portal/settings.py).
"""

import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from portal.accounts.models import User
from portal.audit.models import Action
from portal.celery import app as celery_app
from portal.jobs.models import Job, JobStatus
from portal.jobs.services import RUN_TASK
from portal.records.fhir_client import UNREACHABLE
from portal.records.management.commands.seed_demo import DEMO_IDENTIFIER_SYSTEM, DEMO_IDENTIFIER_VALUE
from portal.records.models import Pull, StoredResource
from sharing.exports.services import export_create
from sharing.models import Export
from tests.conftest import start_worker, wait_for
from tests.jobs.real_processes import (
    RedisServer,
    kill_hard,
    kill_pool_processes,
    queue_jobs_in_another_process,
    store_large_record,
    sweep_as_beat_would,
    worker_env,
)
from tests.records.conftest import link_identifier, make_source
from tests.sandbox_fixtures import free_port, start_sandbox
from tests.sharing.conftest import store_example
from tests.trail import export_history

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def job_of(job_id: uuid.UUID) -> Job:
    return Job.objects.get(id=job_id)


def files_under(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*") if path.is_file()) if directory.exists() else []


def created_rows(export: Export) -> int:
    return export_history(export, Action.EXPORT_MADE).count()


def csrf_token(client: Client, url: str) -> str:
    match = CSRF_TOKEN.search(client.get(url).content.decode())
    assert match, f"no CSRF token on {url}"
    return match.group(1)


# ---------------------------------------------------------------------------- 1. a worker killed mid-export

# The sweeper counts a running export as dead once it has been silent for longer than the export's hard time
# limit (plus a grace): small limits (120 s and 150 s in production), still well above the 4 to 8 seconds
# this record's PDF takes in a freshly started worker.
KILLED_WORKER_ENV = {"EXPORT_SOFT_TIME_LIMIT": "18", "EXPORT_TIME_LIMIT": "20"}


@pytest.mark.parametrize("victim", ["worker", "pool-process"])
def test_export_whose_worker_is_killed_mid_pdf_runs_again_and_finishes_once(
    postgres: None, redis_url: str, tmp_path: Path, settings: Any, citizen: User, client: Client, victim: str
) -> None:
    """SIGKILL mid-PDF: the whole worker (a crash, a lost machine; a new worker is started), or only the
    pool process running the job (the OOM killer; the worker starts a new one, Celery redelivers the message
    at once, and the claim refuses it: the job is running)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    store_large_record(citizen, source=store_example(citizen), conditions=1200)
    env = worker_env(redis_url, settings.MEDIA_ROOT, **KILLED_WORKER_ENV)
    client.force_login(citizen)

    worker = start_worker(env, tmp_path / "worker-1.log")
    try:
        job_url = client.post("/exports/", {"format": "pdf"})["Location"]
        export = Export.objects.get(owner=citizen)
        wait_for(lambda: job_of(export.job_id).progress >= 65, timeout=60, what="the PDF rendering to start")
        time.sleep(0.5)  # inside the rendering, which takes seconds for this record
        if victim == "worker":
            kill_hard(worker)
        else:
            kill_pool_processes(worker)

        job = job_of(export.job_id)
        assert (job.status, job.attempts) == (JobStatus.RUNNING, 1), "the worker died mid-job"
        assert files_under(settings.MEDIA_ROOT) == [], "killed before the file was written"

        if victim == "worker":
            worker.stop()
            worker = start_worker(env, tmp_path / "worker-2.log")
        sweep_as_beat_would(
            lambda: job_of(export.job_id).is_finished, timeout=120, what="the export to run again and finish"
        )
    finally:
        worker.stop()

    job = job_of(export.job_id)
    assert job.status == JobStatus.SUCCEEDED, (job.detail, worker.log()[-3000:])
    assert job.attempts == 2
    assert "'restarted': 1" in worker.log()
    export.refresh_from_db()
    assert files_under(settings.MEDIA_ROOT) == [settings.MEDIA_ROOT / export.storage_name]
    assert created_rows(export) == 1
    assert not export_history(export, Action.EXPORT_FAILED).exists()
    answer = client.get(job_url, HTTP_ACCEPT="application/json").json()
    download = client.get(answer["result_url"])
    assert download.status_code == 200
    assert download.getvalue().startswith(b"%PDF-")


# ---------------------------------------------------------------------------- 2. Redis restarted or flushed

QUEUE_THREE_EXPORTS_AND_TWO_CHECKS = """
from portal.accounts.models import User
from portal.jobs.kinds import WORKER_CHECK
from portal.jobs.services import job_create
from sharing.exports.services import export_create

owner = User.objects.get(pk={owner})
for _ in range(3):
    print(export_create(owner=owner, export_format="json").job_id)
for _ in range(2):
    print(job_create(owner=owner, kind=WORKER_CHECK).id)
"""


@pytest.fixture
def own_redis(tmp_path: Path) -> Any:
    server = RedisServer(port=free_port(), directory=tmp_path / "redis", log_path=tmp_path / "redis.log")
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("mishap", ["restart", "flushall"])
def test_jobs_queued_while_redis_restarts_or_is_flushed_all_succeed(
    postgres: None, own_redis: RedisServer, tmp_path: Path, settings: Any, citizen: User, mishap: str
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    store_example(citizen)
    # The sweeper re-sends jobs queued for longer than this (120 s in production).
    env = worker_env(own_redis.url, settings.MEDIA_ROOT, JOB_REQUEUE_AFTER_SECONDS="1")

    # A web process queues jobs while no worker runs: they wait in Redis.
    job_ids = queue_jobs_in_another_process(env, QUEUE_THREE_EXPORTS_AND_TWO_CHECKS.format(owner=citizen.pk))
    assert len(job_ids) == 5
    assert (own_redis.client().llen("export"), own_redis.client().llen("default")) == (3, 2)

    if mishap == "restart":
        own_redis.restart()
        assert own_redis.client().llen("export") == 3, "the append-only file kept the messages"
    else:
        own_redis.client().flushall()
        assert own_redis.client().dbsize() == 0, "every message is gone"

    worker = start_worker(env, tmp_path / "worker.log")
    try:
        sweep_as_beat_would(
            lambda: all(job_of(job_id).is_finished for job_id in job_ids),
            timeout=60,
            what="every queued job to finish",
            broker_url=own_redis.url,
        )
    finally:
        worker.stop()

    jobs = [job_of(job_id) for job_id in job_ids]
    outcomes = [(job.status, job.attempts) for job in jobs]
    assert outcomes == [(JobStatus.SUCCEEDED, 1)] * 5, worker.log()[-3000:]
    exports = list(Export.objects.filter(job_id__in=job_ids))
    assert len(exports) == 3
    assert files_under(settings.MEDIA_ROOT) == sorted(settings.MEDIA_ROOT / e.storage_name for e in exports)
    assert [created_rows(export) for export in exports] == [1, 1, 1]
    if mishap == "flushall":
        assert "'resent': 5" in worker.log(), "the sweeper, not the broker, brought them back"


# ---------------------------------------------------------------------------- 3. one task delivered twice


def test_the_same_task_delivered_twice_runs_the_work_once(
    postgres: None, redis_url: str, tmp_path: Path, settings: Any, citizen: User
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    store_example(citizen)
    # Sent once when its transaction commits (no worker runs yet)…
    export = export_create(owner=citizen, export_format="pdf")
    # …and once more, as a broker's redelivery or a sweep racing a slow worker would.
    celery_app.send_task(RUN_TASK, args=[str(export.job_id)], queue="export")

    # Two pool processes: both deliveries are handed out at once and race for the claim.
    worker = start_worker(worker_env(redis_url, settings.MEDIA_ROOT), tmp_path / "worker.log", concurrency=2)
    try:
        wait_for(
            lambda: job_of(export.job_id).is_finished and "nothing to do" in worker.log(),
            timeout=60,
            what="the job to finish and the second delivery to be handled",
        )
    finally:
        worker.stop()

    job = job_of(export.job_id)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1), job.detail
    log = worker.log()
    assert log.count(f"job {job.id}: running kind export") == 1
    assert log.count(f"job {job.id}: not queued (missing, or claimed elsewhere); nothing to do") == 1
    export.refresh_from_db()
    assert files_under(settings.MEDIA_ROOT) == [settings.MEDIA_ROOT / export.storage_name]
    assert created_rows(export) == 1


# ------------------------------------------------------------------------- 4. upstream down, then "Try again"


def test_pull_failing_for_its_whole_retry_budget_reads_well_and_try_again_works_once_upstream_is_back(
    postgres: None, redis_url: str, tmp_path: Path, settings: Any, citizen: User, other_citizen: User
) -> None:
    link_identifier(citizen, DEMO_IDENTIFIER_SYSTEM, DEMO_IDENTIFIER_VALUE)
    port = free_port()  # nothing listens here yet: every connection is refused
    make_source(
        f"http://127.0.0.1:{port}/fhir", patient_identifier_system=DEMO_IDENTIFIER_SYSTEM, name="National"
    )
    env = worker_env(redis_url, tmp_path / "media", FHIR_MAX_ATTEMPTS="3", FHIR_BACKOFF_SECONDS="0.2")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(citizen)

    worker = start_worker(env, tmp_path / "worker.log")
    try:
        pressed = browser.post("/records/pull/", {"csrfmiddlewaretoken": csrf_token(browser, "/records/")})
        job_url = pressed["Location"]
        job_id = uuid.UUID(job_url.strip("/").split("/")[-1])
        wait_for(lambda: job_of(job_id).is_finished, timeout=60, what="the pull to give up")

        job = job_of(job_id)
        assert job.status == JobStatus.FAILED
        assert job.detail == UNREACHABLE  # "The data source could not be reached. Please try again later."
        for leak in ("Traceback", "Error", "http", "127.0.0.1", str(port), DEMO_IDENTIFIER_VALUE):
            assert leak not in job.detail
        log = worker.log()
        assert "connection failed, attempt 1 of 3" in log
        assert "connection failed, attempt 2 of 3" in log
        assert "attempt 3 of 3" not in log, "the third attempt was the last"
        assert browser.get(job_url, HTTP_ACCEPT="application/json").json()["detail"] == UNREACHABLE
        page = browser.get(job_url).content.decode()
        assert UNREACHABLE in page
        retry_url = f"{job_url}retry/"
        assert f'action="{retry_url}" id="job-retry"' in page
        assert 'id="job-retry" hidden' not in page

        # Only a CSRF-protected POST by the job's owner does anything.
        assert browser.get(retry_url).status_code == 405
        assert browser.post(retry_url).status_code == 403
        stranger = Client(enforce_csrf_checks=True)
        stranger.force_login(other_citizen)
        token = csrf_token(stranger, "/records/")
        assert stranger.post(retry_url, {"csrfmiddlewaretoken": token}).status_code == 404
        assert job_of(job_id).status == JobStatus.FAILED

        # The national endpoint is back.
        sandbox = start_sandbox(data_dir=tmp_path / "sandbox", port=port, log_path=tmp_path / "sandbox.log")
        try:
            token = csrf_token(browser, job_url)
            retried = browser.post(retry_url, {"csrfmiddlewaretoken": token})
            assert (retried.status_code, retried["Location"]) == (302, job_url)
            wait_for(lambda: job_of(job_id).is_finished, timeout=90, what="the retried pull")
        finally:
            sandbox.stop()
    finally:
        worker.stop()

    job = job_of(job_id)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1), (job.detail, worker.log()[-3000:])
    pull = Pull.objects.get(job=job)
    assert pull.complete
    assert StoredResource.objects.filter(owner=citizen, source=pull.source, resource_type="Patient").exists()
    answer = browser.get(job_url, HTTP_ACCEPT="application/json").json()
    assert (answer["status"], answer["result_url"]) == ("succeeded", "/records/")
    assert 'id="job-retry" hidden' in browser.get(job_url).content.decode()
    # A second press (a double click, or an old tab) does not run the pull again.
    again = browser.post(retry_url, {"csrfmiddlewaretoken": csrf_token(browser, job_url)})
    assert again.status_code == 302
    assert job_of(job_id).status == JobStatus.SUCCEEDED
