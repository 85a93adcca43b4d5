"""Bounded work per job: a PDF of a very large record is a bounded summary that says so, the JSON stays
complete, and a worker child that grew past CELERY_WORKER_MAX_MEMORY_PER_CHILD is replaced after its task.

The hostile record: 52,000 Conditions (what an upstream can fit under the 64 MiB answer cap) stored through
``PullWriter.add_resources``, the storage service a pull writes every page with, a thousand per page. A real
pull of that many entries through an HTTP server takes minutes (every entry is checked against the R4
model), which the suite cannot afford; what the export reads is the same rows either way.
"""

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.db import transaction
from django.test import Client

from portal.accounts.models import User
from portal.celery import app as celery_app
from portal.jobs.kinds import WORKER_CHECK
from portal.jobs.models import Job, JobStatus
from portal.jobs.services import job_create, job_run
from portal.records.models import Connection, DataSource, Pull, StoredResource
from portal.records.storage import PullWriter
from sharing.document import RowLimits, document_build
from sharing.exports.services import READY, READY_SHORTENED, export_create
from sharing.models import Export
from tests.conftest import REPO, ProcessHandle, start_worker, wait_for
from tests.jobs.real_processes import store_large_record, worker_env
from tests.sharing.conftest import export_json_now, store_example

EXAMPLE_PATIENT = (
    "Patient/d174bd1a-b368-41e6-83a2-af77f2b3c60f"  # the IPS example's, as store_example keeps it
)
HOSTILE_ITEMS = 52_000


def problems_in(bundle: dict[str, Any]) -> int:
    composition = bundle["entry"][0]["resource"]
    return next(
        len(s.get("entry", [])) for s in composition["section"] if s["code"]["coding"][0]["code"] == "11450-4"
    )


def pdf_first_page(pdf: bytes) -> str:
    text = subprocess.run(["pdftotext", "-l", "1", "-", "-"], input=pdf, capture_output=True, check=True)
    return " ".join(text.stdout.decode().split())  # wrapped lines read as one


def exported_file(export: Export) -> bytes:
    export.refresh_from_db()
    with default_storage.open(export.storage_name, "rb") as handle:
        body: bytes = handle.read()
    return body


def store_through_a_pull(owner: User, source: DataSource, count: int) -> None:
    """``count`` small Conditions, written page by page as a pull from ``source`` writes them."""
    connection = Connection.objects.create(
        owner=owner, source=source, patient_id=EXAMPLE_PATIENT.split("/")[1]
    )
    job = Job.objects.create(owner=owner, kind="pull")
    pull = Pull.objects.create(job=job, owner=owner, source=source, connection=connection)
    writer = PullWriter(pull=pull, base_url=source.base_url, patient_id=connection.patient_id)
    page = 1000
    for start in range(0, count, page):
        writer.add_resources(
            {
                "resourceType": "Condition",
                "id": f"hostile-{number}",
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "active",
                        }
                    ]
                },
                "code": {"text": f"Condition number {number}"},
                "subject": {"reference": EXAMPLE_PATIENT},
                "onsetDateTime": "2020-01-01",
            }
            for number in range(start, min(start + page, count))
        )


# ---------------------------------------------------------------------------- the cap itself (no worker)


@pytest.mark.django_db
def test_the_row_cap_cuts_each_section_and_in_all_and_keeps_the_counts(citizen: User) -> None:
    store_large_record(citizen, source=store_example(citizen), conditions=12)
    whole = document_build(owner=citizen, document_id=uuid.uuid4())
    problems = problems_in(whole.bundle)
    assert problems == 12 + 3  # the example has three
    assert whole.shortened is None

    cut = document_build(owner=citizen, document_id=uuid.uuid4(), limits=RowLimits(per_section=5, total=9))

    assert cut.problems == []  # still a valid IPS document
    assert problems_in(cut.bundle) == 5
    assert cut.shortened is not None
    composition = cut.bundle["entry"][0]["resource"]
    shown = sum(len(section.get("entry", [])) for section in composition["section"])
    assert shown == cut.shortened.shown <= 9
    whole_composition = whole.bundle["entry"][0]["resource"]
    everything = sum(len(section.get("entry", [])) for section in whole_composition["section"])
    assert cut.shortened.total == everything
    assert cut.shortened.left_out["problems"] == problems - 5
    assert sum(cut.shortened.left_out.values()) == everything - shown
    # A limit the record fits in changes nothing.
    roomy = document_build(
        owner=citizen, document_id=uuid.uuid4(), limits=RowLimits(per_section=50, total=500)
    )
    assert roomy.shortened is None
    assert problems_in(roomy.bundle) == problems


@pytest.mark.django_db
def test_a_short_pdf_says_so_on_its_first_page_and_the_job_tells_it_too(
    citizen: User, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PDF_MAX_ROWS_PER_SECTION = 4
    store_large_record(citizen, source=store_example(citizen), conditions=10)
    export = export_create(owner=citizen, export_format="pdf")

    job_run(job_id=export.job_id)

    job = Job.objects.get(id=export.job_id)
    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert job.detail == READY_SHORTENED
    first = pdf_first_page(exported_file(export))
    assert "This PDF summarises a very large record" in first
    assert "it shows" in first
    assert "The FHIR JSON download holds everything." in first
    everything = subprocess.run(
        ["pdftotext", "-", "-"], input=exported_file(export), capture_output=True
    ).stdout
    assert b"9 more entries of this section are left out of this PDF." in everything  # 13 problems, 4 shown


@pytest.mark.django_db
def test_the_json_download_stays_complete(citizen: User, settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PDF_MAX_ROWS_PER_SECTION = 4
    settings.PDF_MAX_ROWS = 4
    store_large_record(citizen, source=store_example(citizen), conditions=10)

    export, body = export_json_now(citizen)

    assert problems_in(json.loads(body)) == 10 + 3  # every one
    assert Job.objects.get(id=export.job_id).detail == READY


# ---------------------------------------------------------------------------- the worker's memory ceiling


def test_the_memory_ceiling_setting_reaches_the_celery_app(settings: Any) -> None:
    assert settings.CELERY_WORKER_MAX_MEMORY_PER_CHILD == 600 * 1024  # KiB
    assert celery_app.conf.worker_max_memory_per_child == settings.CELERY_WORKER_MAX_MEMORY_PER_CHILD
    # From the environment, as an operator sets it.
    env = {
        **os.environ,
        "CELERY_WORKER_MAX_MEMORY_PER_CHILD": "123456",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    env = {key: value for key, value in env.items() if not key.startswith("PYTEST")}
    code = (
        "import django; django.setup(); from portal.celery import app; "
        "print(app.conf.worker_max_memory_per_child)"
    )
    answer = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert answer.stdout.split()[-1] == "123456"


def pool_children(worker: ProcessHandle) -> set[int]:
    """The worker's pool processes: the children of its main process."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # a process that ended meanwhile
        if parent == worker.process.pid:
            children.add(int(stat.parent.name))
    return children


def peak_rss_kib(pid: int) -> int:
    """VmHWM: the most resident memory the process has ever had, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.fixture
def worker_for(redis_url: str, tmp_path: Path, settings: Any) -> Iterator[Any]:
    """Start real workers (one pool process) sharing this test's database, broker and file storage."""
    settings.MEDIA_ROOT = tmp_path / "media"
    started: list[ProcessHandle] = []

    def start(**overrides: str) -> ProcessHandle:
        env = worker_env(redis_url, settings.MEDIA_ROOT, **overrides)
        worker = start_worker(env, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        wait_for(lambda: len(pool_children(worker)) == 1, timeout=30, what="the worker's pool process")
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_worker_child_past_its_memory_ceiling_is_replaced_after_its_task(
    worker_for: Any, citizen: User
) -> None:
    worker = worker_for(CELERY_WORKER_MAX_MEMORY_PER_CHILD="1")  # 1 KiB: every child is past it
    [child] = pool_children(worker)

    with transaction.atomic():
        job = job_create(owner=citizen, kind=WORKER_CHECK)
    wait_for(lambda: Job.objects.get(id=job.id).status == JobStatus.SUCCEEDED, timeout=60, what="the job")

    wait_for(lambda: pool_children(worker) - {child}, timeout=30, what="a fresh pool process")
    assert child not in pool_children(worker)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_pdf_of_a_hostile_52000_item_record_is_a_bounded_summary_within_the_ceiling(
    worker_for: Any, citizen: User, client: Client, settings: Any
) -> None:
    # Unbounded, building this document alone takes minutes and GiBs: the job would fail at this limit.
    worker = worker_for(EXPORT_SOFT_TIME_LIMIT="45", EXPORT_TIME_LIMIT="50")
    [child] = pool_children(worker)
    store_through_a_pull(citizen, store_example(citizen), HOSTILE_ITEMS)  # the worker waits, idle
    ceiling = settings.CELERY_WORKER_MAX_MEMORY_PER_CHILD
    client.force_login(citizen)

    job_url = client.post("/exports/", {"format": "pdf"})["Location"]
    export = Export.objects.get(owner=citizen)
    wait_for(lambda: Job.objects.get(id=export.job_id).is_finished, timeout=55, what="the PDF export")

    job = Job.objects.get(id=export.job_id)
    assert job.status == JobStatus.SUCCEEDED, (job.detail, worker.log()[-2000:])
    # The same pool process ran it (one past the ceiling is replaced) and its peak stayed under the ceiling.
    assert peak_rss_kib(child) < ceiling, f"peak {peak_rss_kib(child)} KiB"
    assert pool_children(worker) == {child}
    answer = client.get(job_url, HTTP_ACCEPT="application/json").json()
    assert "the PDF shows only part of it" in answer["detail"]
    first = pdf_first_page(client.get(answer["result_url"]).getvalue())
    counts = re.search(r"it shows (\d+) of (\d+) entries", first)
    assert counts, first[:500]
    shown, total = int(counts[1]), int(counts[2])
    assert settings.PDF_MAX_ROWS_PER_SECTION < shown <= settings.PDF_MAX_ROWS
    assert total == StoredResource.objects.filter(owner=citizen).exclude(section="").count() > HOSTILE_ITEMS
    assert "The FHIR JSON download holds everything." in first
