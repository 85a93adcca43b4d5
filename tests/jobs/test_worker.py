"""Jobs through real worker processes: Redis + PostgreSQL (CI), the embedded broker + SQLite (a laptop)."""

import subprocess
import uuid
from pathlib import Path

import pytest
from django.db import transaction

from portal.accounts.models import User
from portal.jobs.kinds import WORKER_CHECK
from portal.jobs.models import Job, JobStatus
from portal.jobs.services import job_create
from tests.conftest import VENV_BIN, ProcessHandle, embedded_env, start_worker, wait_for

pytestmark = pytest.mark.integration


def job_status(job_id: uuid.UUID) -> str:
    return Job.objects.get(id=job_id).status


def test_worker_runs_a_committed_job_on_redis_and_postgres(
    celery_worker_process: ProcessHandle, citizen: User, client: object
) -> None:
    with transaction.atomic():
        job = job_create(owner=citizen, kind=WORKER_CHECK)
        # Still inside the transaction: nothing may have been sent yet.
        assert job_status(job.id) == JobStatus.QUEUED

    wait_for(lambda: job_status(job.id) == JobStatus.SUCCEEDED, timeout=60, what="the job to succeed")
    job.refresh_from_db()
    assert job.progress == 100
    assert job.attempts == 1
    assert job.detail == "The background worker ran this job."
    assert f"job {job.id}: succeeded" in celery_worker_process.log()


def test_job_of_a_rolled_back_transaction_never_runs(
    celery_worker_process: ProcessHandle, citizen: User
) -> None:
    class Abandoned(Exception):
        pass

    created: list[uuid.UUID] = []

    @transaction.atomic
    def create_then_abandon() -> None:
        created.append(job_create(owner=citizen, kind=WORKER_CHECK).id)
        raise Abandoned

    with pytest.raises(Abandoned):
        create_then_abandon()
    rolled_back_id = created[0]

    # A committed job sent after it: once the worker has run this one, it would have seen the first one too.
    marker = job_create(owner=citizen, kind=WORKER_CHECK)
    wait_for(lambda: job_status(marker.id) == JobStatus.SUCCEEDED, timeout=60, what="the marker job")

    assert not Job.objects.filter(id=rolled_back_id).exists()
    log = celery_worker_process.log()
    assert f"job {marker.id}: succeeded" in log
    assert str(rolled_back_id) not in log


def test_job_runs_end_to_end_on_the_embedded_broker_and_sqlite(tmp_path: Path) -> None:
    """What `make run` uses on a bare laptop: kombu's filesystem transport and SQLite, no server at all."""
    env = embedded_env(tmp_path / "var")
    manage = [str(VENV_BIN / "python"), "manage.py"]

    worker = start_worker(env, tmp_path / "worker.log")
    try:
        result = subprocess.run(
            [*manage, "worker_check", "--wait", "60"], env=env, capture_output=True, text=True, timeout=120
        )
    finally:
        worker.stop()

    assert result.returncode == 0, result.stderr
    assert "succeeded: The background worker ran this job." in result.stdout
    assert "filesystem://" in worker.log()
    assert (tmp_path / "var" / "portal.sqlite3").exists()
    assert (tmp_path / "var" / "broker" / "queue").is_dir()
