"""`python -m bench [name …]`: prints one line per benchmark,
`bench <name>: <ratio>x <what it is divided by> (<absolute figures>)`.

Each runs against the real local FHIR sandbox (a separate process) and a throwaway SQLite database, or the
database BENCH_DATABASE_URL names.
"""

import contextlib
import gc
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from portal.accounts.models import User

REPO = Path(__file__).resolve().parent.parent
SANDBOX_PYTHON = Path(os.environ.get("SANDBOX_VENV", REPO / "var" / "sandbox-venv")) / "bin" / "python"
IPS_EXAMPLES = REPO / "var" / "ips-2.0.0" / "package" / "example"
PULL_RESOURCES = 2_000
MEMORY_RESOURCES = 20_000
MEMORY_BUDGET_MB = 300
REPEATS = 5
BUTTON_BUDGET_SECONDS = 2.0
PULL_20K_REPEATS = 3
PARALLEL_SOURCES = 3
PARALLEL_RESOURCES = 2_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Sandbox:
    """One FHIR sandbox process holding record (and the IPS examples unless examples=False).

    With wait=False it is only started: several load their records at once, then each is awaited.
    """

    def __init__(self, workdir: Path, record: Path, *, examples: bool = True, wait: bool = True) -> None:
        port = _free_port()
        self.base_url = f"http://127.0.0.1:{port}/fhir"
        self.log = (workdir / f"sandbox-{port}.log").open("wb")
        loaded = ["--examples", str(IPS_EXAMPLES)] if examples else ["--no-examples"]
        self.process = subprocess.Popen(
            [str(SANDBOX_PYTHON), str(REPO / "sandbox" / "launch.py"), "--host", "127.0.0.1",
             "--port", str(port), "--data-dir", str(workdir / f"sandbox-{port}"), *loaded,
             "--load", str(record)],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Returns once the sandbox answers: it listens only after storing everything it loads."""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the FHIR sandbox exited; see {self.log.name}")
            try:
                if requests.get(f"{self.base_url}/metadata", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise SystemExit("the FHIR sandbox did not start in time")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


def _setup_django(workdir: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-key"),
            "VAR_DIR": str(workdir / "var"),
            # BENCH_DATABASE_URL (an empty PostgreSQL database, say) runs the benches there instead.
            "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{workdir / 'bench.sqlite3'}",
            "LOG_LEVEL": "WARNING",
            # The button bench presses it through Django's test client.
            "ALLOWED_HOSTS": "testserver",
        }
    )
    os.environ.pop("REDIS_URL", None)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def plain_requests_pull(base_url: str, page_size: int) -> int:
    """The floor: the same searches the portal makes, with plain requests and json, storing nothing."""
    from bench.record import IDENTIFIER_SYSTEM, IDENTIFIER_VALUE
    from core.fhir.upstream import PATIENT_SEARCH_TYPES

    session = requests.Session()
    headers = {"Accept": "application/fhir+json", "Prefer": "handling=strict"}

    def pages(url: str, params: dict[str, str] | None) -> Iterator[dict[str, Any]]:
        while url:
            page = session.get(url, params=params, headers=headers, timeout=60).json()
            yield page
            params = None
            url = next((link["url"] for link in page.get("link", []) if link["relation"] == "next"), "")

    count = 0
    identifier = f"{IDENTIFIER_SYSTEM}|{IDENTIFIER_VALUE}"
    patient = next(pages(f"{base_url}/Patient", {"identifier": identifier}))["entry"][0]["resource"]
    medications: set[str] = set()
    for resource_type in PATIENT_SEARCH_TYPES:
        for page in pages(
            f"{base_url}/{resource_type}", {"patient": patient["id"], "_count": str(page_size)}
        ):
            for entry in page.get("entry", []):
                count += 1
                reference = entry["resource"].get("medicationReference", {}).get("reference", "")
                if reference.startswith("Medication/"):
                    medications.add(reference.removeprefix("Medication/"))
    ids = sorted(medications)
    for start in range(0, len(ids), 50):
        chunk = ids[start : start + 50]
        for page in pages(f"{base_url}/Medication", {"_id": ",".join(chunk), "_count": str(len(chunk))}):
            count += len(page.get("entry", []))
    return count + 1


def _bench_citizen(label: str) -> "User":
    """A citizen seen for the first time, holding the bench record's identifier (every pulled row is new)."""
    from bench.record import IDENTIFIER_SYSTEM, IDENTIFIER_VALUE
    from portal.accounts.models import NationalIdentity, User
    from portal.accounts.services import identity_record_on_file

    user = User.objects.create_user(email=f"{label}@bench.example")
    # One identifier belongs to one account: this bench's user takes it over from an earlier bench's.
    NationalIdentity.objects.filter(system=IDENTIFIER_SYSTEM, value=IDENTIFIER_VALUE).exclude(
        user=user
    ).delete()
    identity_record_on_file(user=user, system=IDENTIFIER_SYSTEM, value=IDENTIFIER_VALUE)
    return user


def portal_pull(base_url: str, label: str) -> tuple[float, int]:
    """One pull by the portal's own service, for a citizen seen for the first time (every row is new)."""
    from bench.record import IDENTIFIER_SYSTEM
    from portal.jobs.models import Job, JobStatus
    from portal.jobs.services import job_run
    from portal.records.models import AuthMode, DataSource, StoredResource
    from portal.records.services import pull_start

    source, _created = DataSource.objects.get_or_create(
        name=f"Bench {base_url}",
        defaults={
            "base_url": base_url,
            "auth_mode": AuthMode.OPEN,
            "patient_identifier_system": IDENTIFIER_SYSTEM,
        },
    )
    # One bench database serves several benches, each with its own sandbox: pull from this one only.
    DataSource.objects.exclude(pk=source.pk).update(enabled=False)
    user = _bench_citizen(label)
    (job,) = pull_start(owner=user)
    started = time.perf_counter()
    job_run(job_id=job.id)
    elapsed = time.perf_counter() - started
    job = Job.objects.get(id=job.id)
    if job.status != JobStatus.SUCCEEDED:
        raise SystemExit(f"the pull failed: {job.detail}")
    return elapsed, StoredResource.objects.filter(owner=user, source=source).count()


def _median_seconds(run: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _paired_medians(ours: Callable[[], object], floor: Callable[[], object]) -> tuple[float, float]:
    """Median seconds of ours and of the floor, run in alternating order, each after a garbage collection.

    In-process work leaves garbage that the next run pays for: taking turns on who runs first, from a
    collected heap, keeps that cost from landing on one side.
    """
    times: dict[str, list[float]] = {"ours": [], "floor": []}
    for index in range(REPEATS * 2):
        order = (("ours", ours), ("floor", floor)) if index % 2 else (("floor", floor), ("ours", ours))
        for name, run in order:
            gc.collect()
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return statistics.median(times["ours"]), statistics.median(times["floor"])


def _record(workdir: Path, count: int, *, prefix: str = "bench") -> Path:
    """The synthetic record of count resources (bench/record.py), written once per run: benches share it."""
    from bench.record import write_record

    path = workdir / (f"record-{count}.json" if prefix == "bench" else f"record-{prefix}-{count}.json")
    return path if path.exists() else write_record(path, count, prefix=prefix)


def bench_pull(workdir: Path) -> None:
    from portal.records.models import DataSource

    sandbox = Sandbox(workdir, _record(workdir, PULL_RESOURCES))
    try:
        page_size = DataSource._meta.get_field("page_size").get_default()
        plain_requests_pull(sandbox.base_url, page_size)  # warm up both sides
        portal_pull(sandbox.base_url, "warm-up")
        floor = _median_seconds(lambda: plain_requests_pull(sandbox.base_url, page_size))
        runs = [portal_pull(sandbox.base_url, f"pull-{index}") for index in range(REPEATS)]
        ours = statistics.median(seconds for seconds, _count in runs)
        stored = runs[0][1]
    finally:
        sandbox.stop()
    print(
        f"bench pull: {ours / floor:.2f}x plain requests paging the same searches "
        f"({ours:.2f} s vs {floor:.2f} s for {stored} resources, median of {REPEATS})"
    )


def bench_pull_memory(workdir: Path) -> None:
    sandbox = Sandbox(workdir, _record(workdir, MEMORY_RESOURCES))
    try:
        # The pull runs in its own process, as in a worker; its peak RSS is what the kernel reports.
        output = workdir / "pull-child.out"
        with output.open("wb") as sink:
            child = subprocess.Popen(
                [sys.executable, "-m", "bench.pull_child", sandbox.base_url],
                cwd=REPO, env=os.environ.copy(), stdout=sink, stderr=subprocess.STDOUT,
            )  # fmt: skip
            _pid, status, usage = os.wait4(child.pid, 0)
    finally:
        sandbox.stop()
    text = output.read_text(encoding="utf-8", errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the pull process failed:\n{text[-3000:]}")
    peak_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
    seconds, stored = text.split()[-2:]
    print(
        f"bench pull-memory: {peak_mb / MEMORY_BUDGET_MB:.2f}x the {MEMORY_BUDGET_MB} MB budget "
        f"(peak RSS {peak_mb:.0f} MB pulling {stored} resources in {float(seconds):.1f} s)"
    )


def bench_pull_20k(workdir: Path) -> None:
    """The pull bench at 20,000 resources (pull-memory's record): the same in-process pull and floor.

    Each portal pull takes seconds here, so fewer repeats, with the floor and ours taking turns."""
    from portal.records.models import DataSource

    sandbox = Sandbox(workdir, _record(workdir, MEMORY_RESOURCES))
    try:
        page_size = DataSource._meta.get_field("page_size").get_default()
        plain_requests_pull(sandbox.base_url, page_size)  # warm up the sandbox
        ours: list[float] = []
        floor: list[float] = []
        stored = 0
        for index in range(PULL_20K_REPEATS):
            gc.collect()
            started = time.perf_counter()
            plain_requests_pull(sandbox.base_url, page_size)
            floor.append(time.perf_counter() - started)
            gc.collect()
            seconds, stored = portal_pull(sandbox.base_url, f"pull-20k-{index}")
            ours.append(seconds)
    finally:
        sandbox.stop()
    mine, plain = statistics.median(ours), statistics.median(floor)
    print(
        f"bench pull-20k: {mine / plain:.2f}x plain requests paging the same searches "
        f"({mine:.2f} s vs {plain:.2f} s for {stored} resources, median of {PULL_20K_REPEATS})"
    )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process so far, from /proc/<pid>/stat (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CeleryWorker:
    """`celery worker -Q pull`, a process group of its own, with the bench's settings from os.environ: its
    SQLite database and the embedded filesystem broker under VAR_DIR, as `make run` on a laptop has them."""

    def __init__(self, workdir: Path, *, concurrency: int) -> None:
        self.log_path = workdir / "pull-worker.log"
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "portal", "worker", "-Q", "pull",
             "--concurrency", str(concurrency), "-l", "INFO", "--without-mingle", "--without-gossip"],
            env=os.environ.copy(), cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while " ready." not in self.text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"the Celery worker did not start:\n{self.text()[-3000:]}")
            time.sleep(0.2)

    def cpu_seconds(self) -> float:
        """CPU time so far of the worker and its pool processes (Linux /proc)."""
        pid = self.process.pid
        children = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        return sum(_cpu_seconds(process) for process in [pid, *children])

    def text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        # SIGTERM to the main process, as an operator stops it (signalling the whole group at once can leave
        # it waiting for pool processes that are already gone); then whatever is left of the group goes.
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


def _worker_pull(
    sources: list[Any], label: str, worker: CeleryWorker, sandboxes: list[Sandbox]
) -> tuple[float, int, float]:
    """One pull of these sources (the only ones enabled) by a citizen seen for the first time, run by the
    worker: the seconds from the first job's claim to the last one's end (the Job rows' own timestamps),
    the rows stored, and the CPU seconds the worker's processes and the sandboxes used meanwhile.

    The broker's hop before the claim is left out: the embedded broker looks for messages once a second,
    Redis (as deployed) hands them over at once. The three jobs of one pull_start are sent together and
    fetched in one go, so they are claimed together either way."""
    from django.db.models import Count

    from portal.jobs.models import Job, JobStatus
    from portal.records.models import DataSource, StoredResource
    from portal.records.services import pull_start

    wanted = [source.pk for source in sources]
    DataSource.objects.exclude(pk__in=wanted).update(enabled=False)
    DataSource.objects.filter(pk__in=wanted).update(enabled=True)
    user = _bench_citizen(label)
    cpu_before = worker.cpu_seconds() + sum(_cpu_seconds(sandbox.process.pid) for sandbox in sandboxes)
    ids = [job.id for job in pull_start(owner=user)]  # one job per source, sent to the pull queue
    if len(ids) != len(sources):
        raise SystemExit(f"pull_start made {len(ids)} jobs for {len(sources)} sources")
    unfinished = Job.objects.filter(id__in=ids, status__in=(JobStatus.QUEUED, JobStatus.RUNNING))
    deadline = time.monotonic() + 300
    while unfinished.exists():
        if worker.process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker did not finish the pulls:\n{worker.text()[-3000:]}")
        time.sleep(0.05)
    cpu = worker.cpu_seconds() + sum(_cpu_seconds(sandbox.process.pid) for sandbox in sandboxes) - cpu_before
    jobs = list(Job.objects.filter(id__in=ids))
    failed = [job.detail for job in jobs if job.status != JobStatus.SUCCEEDED]
    if failed:
        raise SystemExit(f"a pull failed: {failed}\n{worker.text()[-3000:]}")
    counts = dict(StoredResource.objects.filter(owner=user).values_list("source").annotate(rows=Count("pk")))
    if sorted(counts) != sorted(wanted) or set(counts.values()) != {PARALLEL_RESOURCES}:
        raise SystemExit(f"the pulls stored {counts} rows per source, not {PARALLEL_RESOURCES} each")
    started = min(job.started_at for job in jobs if job.started_at)
    finished = max(job.finished_at for job in jobs if job.finished_at)
    return (finished - started).total_seconds(), sum(counts.values()), cpu


def bench_pull_parallel(workdir: Path) -> None:
    """Three sources of one citizen pulled at once, against the slowest of them pulled alone.

    "At once" is what production does: pull_start sends one job per source to the pull queue, and a real
    Celery worker process (prefork, --concurrency 3, the deployed task settings) runs them in three pool
    processes, on the bench's SQLite database and embedded filesystem broker. Threads calling job_run in
    this process would share one GIL (the pulls are CPU-bound here, so that would measure the GIL) and
    contend for SQLite inside one process as no deployment does; separate processes write through SQLite's
    WAL and busy timeout (transaction_mode IMMEDIATE) as `make run` does. "Alone" is the same worker with one
    source enabled, so one job at a time. Times are the Job rows' own, first claim to last finish (see
    _worker_pull). Each source is its own sandbox process with a record of its own (2,000 resources, ids of
    their own, the person's identifier) and none of the IPS examples.
    """
    from bench.record import IDENTIFIER_SYSTEM
    from portal.records.models import AuthMode, DataSource

    sandboxes: list[Sandbox] = []
    worker: CeleryWorker | None = None
    try:
        for number in range(PARALLEL_SOURCES):
            record = _record(workdir, PARALLEL_RESOURCES, prefix=f"source{number + 1}")
            sandboxes.append(Sandbox(workdir, record, examples=False, wait=False))
        for sandbox in sandboxes:
            sandbox.wait_ready()
        sources = [
            DataSource.objects.update_or_create(
                name=f"Bench parallel source {number + 1}",
                defaults={
                    "base_url": sandbox.base_url,
                    "auth_mode": AuthMode.OPEN,
                    "patient_identifier_system": IDENTIFIER_SYSTEM,
                },
            )[0]
            for number, sandbox in enumerate(sandboxes)
        ]
        worker = CeleryWorker(workdir, concurrency=PARALLEL_SOURCES)
        # Warm up each pool process (one job each) and each sandbox.
        _worker_pull(sources, "parallel-warm-up", worker, sandboxes)
        together: list[float] = []
        together_cpu: list[float] = []
        alone: dict[int, list[float]] = {source.pk: [] for source in sources}
        stored = 0
        for index in range(REPEATS):
            # Taking turns on which comes first, as _paired_medians does.
            runs: list[list[Any]] = [[source] for source in sources]
            runs = [sources, *runs] if index % 2 == 0 else [*runs, sources]
            for run in runs:
                seconds, rows, cpu = _worker_pull(
                    run, f"parallel-{index}-{len(run)}-{run[0].pk}", worker, sandboxes
                )
                if len(run) == 1:
                    alone[run[0].pk].append(seconds)
                else:
                    together.append(seconds)
                    together_cpu.append(cpu)
                    stored = rows
    finally:
        if worker is not None:
            worker.stop()
        for sandbox in sandboxes:
            sandbox.stop()
    ours = statistics.median(together)
    singles = [statistics.median(times) for times in alone.values()]
    slowest = max(singles)
    # The CPU the pull at once took (worker pool and sandboxes) over this machine's cores: the least it can
    # take here, whatever the portal does, when the sources are local processes and not remote endpoints.
    cores = os.cpu_count() or 1
    print(
        f"bench pull-parallel: {ours / slowest:.2f}x the slowest of them pulled alone "
        f"({ours:.2f} s for {PARALLEL_SOURCES} sources at once, {stored} resources, vs "
        f"{', '.join(f'{seconds:.2f}' for seconds in singles)} s each alone; "
        f"{statistics.median(together_cpu):.2f} s CPU at once on {cores} cores; "
        f"Celery worker --concurrency {PARALLEL_SOURCES}, median of {REPEATS})"
    )


def _record_entries(count: int) -> tuple[list[Any], list[dict[str, Any]]]:
    """The synthetic record as the portal stores it: entries for assembly, and the plain resources."""
    from bench.record import record_resources
    from core.ips.assemble import RecordEntry
    from core.ips.sections import section_of

    resources = record_resources(count)
    entries = []
    for index, resource in enumerate(resources):
        section = section_of(resource)
        entries.append(
            RecordEntry(key=str(index), source="1", resource=resource, section=section.key if section else "")
        )
    return entries, resources


def _document_info() -> Any:
    import uuid
    from datetime import UTC, datetime

    from core.ips.assemble import DocumentInfo

    return DocumentInfo(document_id=uuid.uuid4(), timestamp=datetime.now(UTC), software_version="bench")


def bench_ips(workdir: Path) -> None:
    """Assembling the document of 2,000 stored resources and writing its JSON, against the least any code
    that reads those resources and writes JSON must do: json.loads + json.dumps of the same resources."""
    import json

    from core.ips.assemble import assemble

    entries, resources = _record_entries(PULL_RESOURCES)
    stored = json.dumps(resources)
    info = _document_info()

    def ours() -> None:
        json.dumps(assemble(entries, patient_key="0", info=info), ensure_ascii=False, separators=(",", ":"))

    ours()
    mine, floor = _paired_medians(ours, lambda: json.dumps(json.loads(stored)))
    print(
        f"bench ips: {mine / floor:.2f}x json.loads + json.dumps of the same resources "
        f"({mine * 1000:.0f} ms vs {floor * 1000:.0f} ms for {len(resources)} resources, "
        f"median of {REPEATS * 2})"
    )


def bench_ips_validate(workdir: Path) -> None:
    """Our whole validation of that document against fhir.resources' R4B model validation alone."""
    import json

    from fhir.resources.R4B.bundle import Bundle

    from core.ips.assemble import assemble
    from core.ips.validate import validate_document

    entries, _resources = _record_entries(PULL_RESOURCES)
    bundle = assemble(entries, patient_key="0", info=_document_info())
    serialized = json.dumps(bundle).encode()
    if validate_document(bundle, bundle_json=serialized):
        raise SystemExit("the bench document does not validate")
    mine, floor = _paired_medians(
        lambda: validate_document(bundle, bundle_json=serialized),
        lambda: Bundle.model_validate_json(serialized),
    )
    print(
        f"bench ips-validate: {mine / floor:.2f}x fhir.resources R4B Bundle.model_validate_json alone "
        f"({mine:.2f} s vs {floor:.2f} s for {len(bundle['entry'])} entries, median of {REPEATS * 2})"
    )


def bench_pdf(workdir: Path) -> None:
    """The PDF of the all-sections example against WeasyPrint on the same HTML, rendered beforehand."""
    import json
    from datetime import UTC, datetime

    from weasyprint import HTML

    from sharing.pdf import STYLESHEET, static_url, summary_html, summary_pdf

    bundle = json.loads((IPS_EXAMPLES / "Bundle-bundle-ips-all-sections.json").read_text(encoding="utf-8"))
    options: dict[str, Any] = {
        "language": "en",
        "generated_at": datetime(2026, 1, 1, tzinfo=UTC),
        "sources": ["Sandbox national endpoint"],
    }
    html = summary_html(bundle, **options)
    # The floor gets the same stylesheet inline: WeasyPrint alone, nothing of ours on the way.
    stylesheet = (REPO / "static" / STYLESHEET).read_text(encoding="utf-8")
    inline = html.replace(
        f'<link rel="stylesheet" href="{static_url(STYLESHEET)}">', f"<style>{stylesheet}</style>"
    )
    if inline == html:
        raise SystemExit("the PDF template no longer links its stylesheet as the bench expects")
    pages = len(HTML(string=inline).render().pages)
    summary_pdf(bundle, **options)
    mine, floor = _paired_medians(
        lambda: summary_pdf(bundle, **options), lambda: HTML(string=inline).write_pdf()
    )
    print(
        f"bench pdf: {mine / floor:.2f}x WeasyPrint on the same pre-rendered HTML "
        f"({mine:.3f} s vs {floor:.3f} s, {pages} pages, {mine / max(pages, 1):.3f} s per page, "
        f"median of {REPEATS * 2})"
    )


def bench_button(workdir: Path) -> None:
    """From pressing the button (POST /exports/) to the downloaded bundle, with 2,000 stored resources.

    The export job runs in this process as the worker would run it: the broker's hop is not measured.
    """
    from django.test import Client
    from django.utils import timezone

    from core.fhir.upstream import content_hash
    from portal.accounts.models import User
    from portal.jobs.services import job_run
    from portal.records.models import AuthMode, DataSource, StoredResource
    from sharing.models import Export

    entries, _resources = _record_entries(PULL_RESOURCES)
    user = User.objects.create_user(email="button@bench.example")
    source = DataSource.objects.create(
        name="Bench button", base_url="http://bench.invalid/fhir", auth_mode=AuthMode.OPEN
    )
    now = timezone.now()
    StoredResource.objects.bulk_create(
        StoredResource(
            owner=user, source=source, resource_type=e.resource["resourceType"], resource_id=e.resource["id"],
            data=e.resource, content_hash=content_hash(e.resource), section=e.section,
            first_fetched_at=now, changed_at=now, fetched_at=now,
        )
        for e in entries
    )  # fmt: skip
    client = Client()
    client.force_login(user)

    def press() -> None:
        response = client.post("/exports/", {"format": "json"})
        export = Export.objects.get(job_id=response["Location"].split("/")[2])
        job_run(job_id=export.job_id)
        answer = client.get(response["Location"], HTTP_ACCEPT="application/json").json()
        if answer["status"] != "succeeded":
            raise SystemExit(f"the export failed: {answer['detail']}")
        download = client.get(answer["result_url"])
        if download.status_code != 200 or not download.getvalue():
            raise SystemExit("the download failed")

    press()
    seconds = _median_seconds(press)
    print(
        f"bench button: {seconds / BUTTON_BUDGET_SECONDS:.2f}x the {BUTTON_BUDGET_SECONDS:g} s budget "
        f"({seconds:.2f} s from click to downloaded bundle of {len(entries)} resources, median of {REPEATS})"
    )


MANIFEST_REQUESTS = 1_500
MANIFEST_CLIENTS = 4


def _throughput(url: str, body: dict[str, Any]) -> float:
    """Requests per second of MANIFEST_CLIENTS clients, each on its own connection, POSTing body to url."""
    from concurrent.futures import ThreadPoolExecutor

    def client(count: int) -> None:
        with requests.Session() as session:
            for _ in range(count):
                answer = session.post(url, json=body, timeout=30)
                if answer.status_code != 200:
                    raise SystemExit(f"{url} answered {answer.status_code}")

    share = MANIFEST_REQUESTS // MANIFEST_CLIENTS
    started = time.perf_counter()
    with ThreadPoolExecutor(MANIFEST_CLIENTS) as pool:
        list(pool.map(client, [share] * MANIFEST_CLIENTS))
    return share * MANIFEST_CLIENTS / (time.perf_counter() - started)


def bench_manifest(workdir: Path) -> None:
    """SHL manifest POSTs per second against a trivial JSON view, both served by the same gunicorn.

    The link has no passcode (argon2 would measure the hash, which is slow on purpose) and its two files are
    the all-sections example's document and a PDF-sized DocumentReference, so each answer makes two file
    URLs and one access-log row, as a clinician's first request does.
    """
    import json

    from django.utils import timezone

    from core.shl import jwe
    from portal.accounts.models import User
    from sharing.links.services import share_create, share_key, share_payload
    from sharing.models import ShareFile, ShareFileKind

    port = _free_port()
    origin = f"http://127.0.0.1:{port}"
    user = User.objects.create_user(email="manifest@bench.example")
    share = share_create(owner=user, expires_in=24 * 60 * 60, origin=origin)
    document = (IPS_EXAMPLES / "Bundle-bundle-ips-all-sections.json").read_bytes()
    for kind, plaintext in ((ShareFileKind.DOCUMENT, document), (ShareFileKind.PDF, os.urandom(60_000))):
        ShareFile.objects.create(share=share, kind=kind, jwe=jwe.encrypt(plaintext, key=share_key(share)))
    share.ready_at = timezone.now()
    share.save(update_fields=["ready_at"])
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.server_settings",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SHL_RATE_LIMIT": "1000000/s",
        "CONN_MAX_AGE": "60",
    }
    log = (workdir / "manifest-server.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "1", "--log-level", "warning"],
        env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        trivial = f"{origin}/bench/trivial-json"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.post(trivial, timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"the bench server did not start; see {log.name}")
            time.sleep(0.3)
        manifest_url = share_payload(share).url
        body = {"recipient": "Bench clinic"}
        if (
            json.loads(requests.post(manifest_url, json=body, timeout=10).content)["files"][0].get("location")
            is None
        ):
            raise SystemExit("the manifest gave no file location")
        ours: list[float] = []
        floor: list[float] = []
        for index in range(REPEATS):
            order = (
                ((ours, manifest_url), (floor, trivial))
                if index % 2
                else ((floor, trivial), (ours, manifest_url))
            )
            for results, url in order:
                results.append(_throughput(url, body))
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    ours_rate, floor_rate = statistics.median(ours), statistics.median(floor)
    print(
        f"bench manifest: {ours_rate / floor_rate:.2f}x a trivial JSON view on the same server "
        f"({ours_rate:.0f} vs {floor_rate:.0f} requests/s, {MANIFEST_CLIENTS} clients, median of {REPEATS})"
    )


BENCHES = {
    "pull": bench_pull,
    "pull-memory": bench_pull_memory,
    "pull-20k": bench_pull_20k,
    "pull-parallel": bench_pull_parallel,
    "ips": bench_ips,
    "ips-validate": bench_ips_validate,
    "pdf": bench_pdf,
    "button": bench_button,
    "manifest": bench_manifest,
}


def main(names: list[str]) -> None:
    unknown = set(names) - BENCHES.keys()
    if unknown:
        raise SystemExit(f"unknown benchmarks: {', '.join(sorted(unknown))}; known: {', '.join(BENCHES)}")
    if not SANDBOX_PYTHON.exists() or not IPS_EXAMPLES.exists():
        raise SystemExit("the FHIR sandbox is not set up: run `make sandbox`")
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as directory:
        workdir = Path(directory)
        _setup_django(workdir)
        for name in names or list(BENCHES):
            BENCHES[name](workdir)


if __name__ == "__main__":
    main(sys.argv[1:])
