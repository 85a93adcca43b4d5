"""Real processes for the "jobs are never lost" tests: Celery workers (killable), a Redis server of the test's
own (restartable, flushable), a web-like process that queues jobs, and beat's message to the sweeper."""

import copy
import os
import re
import signal
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis
from django.utils import timezone

from portal.accounts.models import User
from portal.celery import app as celery_app
from portal.records.models import DataSource, StoredResource
from tests.conftest import (
    VENV_BIN,
    ProcessHandle,
    child_env,
    database_url_of_test_db,
    ips_example,
    start_process,
    wait_for,
)
from tests.sharing.conftest import stored_row

SWEEP_TASK = "portal.jobs.tasks.jobs_sweep"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def worker_env(broker_url: str, media_root: Path, **overrides: str) -> dict[str, str]:
    """The environment of a worker (or web process) sharing this test's database, broker and file storage."""
    return child_env(
        DATABASE_URL=database_url_of_test_db(),
        REDIS_URL=broker_url,
        MEDIA_ROOT=str(media_root),
        **overrides,
    )


def kill_hard(handle: ProcessHandle) -> None:
    """SIGKILL the process group (a worker's main process and its pool): no cleanup, no ack, no goodbye."""
    os.killpg(handle.process.pid, signal.SIGKILL)
    handle.process.wait(timeout=10)


def kill_pool_processes(handle: ProcessHandle) -> None:
    """SIGKILL the worker's pool processes only (as the OOM killer picks the biggest): the worker lives on."""
    children = [
        int(stat.parent.name)
        for stat in Path("/proc").glob("[0-9]*/stat")
        if _parent_pid(stat) == handle.process.pid
    ]
    assert children, "the worker has no pool process"
    for pid in children:
        os.kill(pid, signal.SIGKILL)


def _parent_pid(stat: Path) -> int | None:
    try:
        # pid (comm) state ppid …; comm may contain spaces and parentheses, so split after the last ")".
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None  # a process that ended meanwhile


def sweep_as_beat_would(
    done: Callable[[], bool], *, timeout: float, what: str, broker_url: str | None = None, every: float = 2.0
) -> None:
    """Send the periodic sweeper's task the way celery beat does, until `done()` holds.

    Beat sends `jobs_sweep` every minute; here every `every` seconds, and only when the previous one has been
    taken off the queue, so no sweep is left over for a later test. The sweep itself runs in the worker,
    with the worker's settings.
    """
    with celery_app.connection_for_write(broker_url) as connection:
        client = redis.Redis.from_url(broker_url or celery_app.conf.broker_url)

        def swept_and_done() -> bool:
            if done():
                return True
            if client.llen("default") == 0:
                celery_app.send_task(SWEEP_TASK, connection=connection)
            return False

        wait_for(swept_and_done, timeout=timeout, what=what, interval=every)


def queue_jobs_in_another_process(env: dict[str, str], code: str) -> list[uuid.UUID]:
    """Run `code` in a fresh Django process (as the web process would), return the job ids it prints."""
    result = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", "shell", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [uuid.UUID(line) for line in result.stdout.split() if UUID.match(line)]


@dataclass
class RedisServer:
    """A redis-server of the test's own: its own port and data directory (append-only file on)."""

    port: int
    directory: Path
    log_path: Path
    process: ProcessHandle | None = field(default=None)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=2)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = start_process(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--save", "", "--appendonly", "yes", "--appendfsync", "always"],
            env=dict(os.environ),
            log_path=self.log_path,
        )  # fmt: skip
        wait_for(self._answers, timeout=20, what="redis-server to accept connections")

    def stop(self) -> None:
        """SIGTERM: Redis flushes its append-only file and exits, as on an operator's restart."""
        if self.process is not None:
            self.process.stop()
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False


def store_large_record(owner: User, *, source: DataSource, conditions: int) -> None:
    """A citizen with a long problem list (copies of the IPS example's Condition): its PDF takes seconds."""
    condition = next(
        entry["resource"]
        for entry in ips_example("Bundle-bundle-ips-all-sections")["entry"]
        if entry["resource"]["resourceType"] == "Condition"
    )
    now = timezone.now()
    rows = []
    for number in range(conditions):
        resource = copy.deepcopy(condition)
        resource["id"] = f"long-list-{number}"
        rows.append(stored_row(owner, source, resource, now=now))
    StoredResource.objects.bulk_create(rows, batch_size=500)
