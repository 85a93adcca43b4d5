import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.jobs.kinds import WORKER_CHECK
from portal.jobs.models import Job, JobStatus
from portal.jobs.services import job_create


class Command(BaseCommand):
    help = "Queue a worker check job and wait until a Celery worker has run it (exit 1 if none does)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the worker")

    def handle(self, *args: Any, **options: Any) -> None:
        job = job_create(owner=None, kind=WORKER_CHECK)
        deadline = time.monotonic() + options["wait"]
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.status == JobStatus.SUCCEEDED:
                self.stdout.write(f"job {job.id} succeeded: {job.detail}")
                return
            if job.status == JobStatus.FAILED:
                raise CommandError(f"job {job.id} failed: {job.detail}")
            time.sleep(0.2)
        status = Job.objects.get(id=job.id).status
        raise CommandError(f"job {job.id} still {status} after {options['wait']:g} s: is a worker running?")
