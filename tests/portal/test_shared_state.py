"""One truth for counters and one-time use across web processes, without Redis (the embedded default).

Two real gunicorn servers of two workers each, as `make run` starts one, share only the database: every limit
and every one-time file URL must hold across all four processes. With a per-process cache they did not.
"""

import re
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection
from django.test import Client

from portal.accounts.models import User
from portal.cache import SharedDatabaseCache
from portal.jobs.models import Job, JobStatus
from portal.jobs.services import job_run
from portal.records.models import StoredResource
from sharing.models import Export, Share
from tests.accounts.test_login import TOO_MANY_FAILURES
from tests.conftest import (
    PASSWORD,
    REPO,
    VENV_BIN,
    ProcessHandle,
    child_env,
    database_url_of_test_db,
    start_process,
    wait_for,
)
from tests.sharing.conftest import store_example
from tests.sharing.links.test_shares import link_of, make_share

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CACHE_TABLE = "portal_cache"
# Requests per hour and client to links (manifests) and to files, in each bucket.
SHL_RATE = 30
INCREMENTS = 200


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Portals:
    """Two web servers of one portal, as a load balancer spreads one host name's requests over them."""

    bases: list[str]

    def url(self, number: int, path: str) -> str:
        """Request `number`'s URL: even numbers go to the first server, odd to the second."""
        return self.bases[number % len(self.bases)] + path

    def call(self, client: Any, method: str, number: int, path: str, **arguments: Any) -> requests.Response:
        # One Host for both, as behind a proxy: allauth keys its login limits by the site's host and port.
        headers = {"Host": self.bases[0].removeprefix("http://"), **arguments.pop("headers", {})}
        response: requests.Response = client.request(
            method, self.url(number, path), headers=headers, timeout=20, **arguments
        )
        return response


def portal_env(var_dir: Path) -> dict[str, str]:
    # No REDIS_URL: the embedded default, whose cache is the database every process reaches.
    return child_env(
        DATABASE_URL=database_url_of_test_db(),
        REDIS_URL="",
        DEBUG="1",
        VAR_DIR=str(var_dir),
        # Per hour: django-ratelimit's windows have fixed ends, and a test must not straddle one.
        SHL_RATE_LIMIT=f"{SHL_RATE}/h",
        EXPORT_CREATE_RATE="2/h",
        CONN_MAX_AGE="0",
    )


@pytest.fixture(scope="module")
def servers(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Portals]:
    """Started once for this module: they serve the test database, whose rows each test makes and loses."""
    var_dir = tmp_path_factory.mktemp("shared-state")
    env = portal_env(var_dir)
    subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", "createcachetable"], cwd=REPO, env=env, check=True, timeout=60
    )
    handles: list[ProcessHandle] = []
    bases = []
    try:
        for number in range(2):
            port = free_port()
            handles.append(
                start_process(
                    [str(VENV_BIN / "gunicorn"), "portal.wsgi:application", "--bind", f"127.0.0.1:{port}",
                     "--workers", "2"],
                    env=env,
                    log_path=var_dir / f"web-{number}.log",
                )
            )  # fmt: skip
            bases.append(f"http://127.0.0.1:{port}")
        for handle, base in zip(handles, bases, strict=True):
            wait_for(
                lambda base=base, handle=handle: answers(base, handle), timeout=90, what=f"{base}/healthz"
            )
        yield Portals(bases)
    finally:
        for handle in handles:
            handle.stop()


@pytest.fixture
def portals(servers: Portals, transactional_db: None) -> Portals:
    """The servers with every counter at zero."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {CACHE_TABLE}")  # noqa: S608 (a constant)
    return servers


def answers(base: str, server: ProcessHandle) -> bool:
    if server.process.poll() is not None:
        raise AssertionError(f"gunicorn exited:\n{server.log()}")
    try:
        return requests.get(f"{base}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def with_real_password(citizen: User) -> User:
    """The servers hash as production does (the tests' fast hasher is theirs alone)."""
    hasher = PBKDF2PasswordHasher()
    # Few iterations: a valid production hash that checks fast (the servers upgrade it on a good sign-in).
    citizen.password = hasher.encode(PASSWORD, hasher.salt(), iterations=1000)
    citizen.save(update_fields=["password"])
    return citizen


def shared_share(citizen: User) -> tuple[Share, str]:
    """A ready link made in this process (the test database is the servers' database): its manifest path."""
    store_example(citizen)
    client = Client()
    client.force_login(citizen)
    share = make_share(client)
    return share, link_of(client, share).url.removeprefix("http://testserver")


def csrf_of(page: str) -> str:
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None, page[:500]
    return token[1]


def test_a_file_url_fetched_in_parallel_by_every_process_is_sent_once(
    portals: Portals, citizen: User
) -> None:
    _share, manifest = shared_share(citizen)
    for trial in range(3):
        answer = portals.call(requests, "POST", trial, manifest, json={"recipient": f"Dr. Hansen {trial}"})
        assert answer.status_code == 200, answer.text
        location = answer.json()["files"][0]["location"]
        path = location[location.index("/shl/") :]
        # Eight GETs of the one URL at once, spread over both servers and their four workers.
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(
                pool.map(lambda n, path=path: portals.call(requests, "GET", n, path).status_code, range(8))
            )
        assert sorted(statuses) == [200] + [404] * 7, statuses


def test_the_link_rate_limit_counts_across_processes(portals: Portals, citizen: User) -> None:
    _share, manifest = shared_share(citizen)
    statuses = [
        portals.call(requests, "POST", n, manifest, json={"recipient": "Dr. Hansen"}).status_code
        for n in range(SHL_RATE + 10)
    ]
    # One budget for all four processes together.
    assert statuses == [200] * SHL_RATE + [429] * 10, statuses


def test_login_failures_count_across_processes(portals: Portals, citizen: User) -> None:
    with_real_password(citizen)
    for attempt in range(5):  # allauth: 5 failures per 5 minutes for one login
        browser = requests.Session()
        page = portals.call(browser, "GET", attempt, "/accounts/login/").text
        failed = portals.call(
            browser, "POST", attempt, "/accounts/login/",
            data={"login": citizen.email, "password": "wrong", "csrfmiddlewaretoken": csrf_of(page)},
        )  # fmt: skip
        assert failed.status_code == 200
        assert TOO_MANY_FAILURES not in failed.text
    browser = requests.Session()
    page = portals.call(browser, "GET", 5, "/accounts/login/").text
    blocked = portals.call(
        browser, "POST", 5, "/accounts/login/",
        data={"login": citizen.email, "password": PASSWORD, "csrfmiddlewaretoken": csrf_of(page)},
    )  # fmt: skip
    assert TOO_MANY_FAILURES in blocked.text
    assert "sessionid" not in browser.cookies


def signed_in(portals: Portals, citizen: User) -> requests.Session:
    with_real_password(citizen)
    browser = requests.Session()
    page = portals.call(browser, "GET", 0, "/accounts/login/").text
    done = portals.call(
        browser, "POST", 0, "/accounts/login/",
        data={"login": citizen.email, "password": PASSWORD, "csrfmiddlewaretoken": csrf_of(page)},
    )  # fmt: skip
    assert f"Signed in as {citizen.email}" in done.text
    return browser


def test_the_export_limit_counts_across_processes(portals: Portals, citizen: User) -> None:
    store_example(citizen)
    browser = signed_in(portals, citizen)
    statuses = []
    for number in range(4):
        page = portals.call(browser, "GET", number, "/exports/").text
        answer = portals.call(
            browser, "POST", number, "/exports/",
            data={"format": "json", "csrfmiddlewaretoken": csrf_of(page)}, allow_redirects=False,
        )  # fmt: skip
        statuses.append(answer.status_code)
    assert statuses == [302, 302, 429, 429]  # EXPORT_CREATE_RATE=2/h, whichever process answers
    assert Export.objects.filter(owner=citizen).count() == 2


def test_retries_count_on_the_export_limit_across_processes(portals: Portals, citizen: User) -> None:
    """The record gone after the export was asked for: each run fails as it does for real (run here as a
    worker would), and each "Try again" spends the same budget new exports do, whichever process answers."""
    store_example(citizen)
    browser = signed_in(portals, citizen)
    page = portals.call(browser, "GET", 0, "/exports/").text
    made = portals.call(
        browser, "POST", 0, "/exports/",
        data={"format": "json", "csrfmiddlewaretoken": csrf_of(page)}, allow_redirects=False,
    )  # fmt: skip
    assert made.status_code == 302
    StoredResource.objects.filter(owner=citizen).delete()
    job_path = made.headers["Location"]
    job = Job.objects.get(id=job_path.rstrip("/").rsplit("/", 1)[1])
    statuses = []
    for number in (1, 2, 3):
        job_run(job_id=job.id)
        assert Job.objects.get(id=job.id).status == JobStatus.FAILED
        page = portals.call(browser, "GET", number, job_path).text
        retried = portals.call(
            browser, "POST", number, f"{job_path}retry/",
            data={"csrfmiddlewaretoken": csrf_of(page)}, allow_redirects=False,
        )  # fmt: skip
        statuses.append(retried.status_code)
    assert statuses == [302, 429, 429]  # EXPORT_CREATE_RATE=2/h: one new export and one retry


def test_increments_are_not_lost_between_processes(portals: Portals, tmp_path: Path) -> None:
    """Two processes incrementing one counter at once: every increment counts (Django's own read-then-write
    increment of the database cache loses some)."""
    env = {**portal_env(tmp_path), "DJANGO_SETTINGS_MODULE": "portal.settings"}
    cache = SharedDatabaseCache(CACHE_TABLE, {})
    cache.set("race", 0, 60)
    go = tmp_path / "go"
    script = (
        "import pathlib, sys, time, django; django.setup()\n"
        "from django.core.cache import cache\n"
        "print('ready', flush=True)\n"
        "while not pathlib.Path(sys.argv[1]).exists(): time.sleep(0.01)\n"
        "for _ in range(INCREMENTS): cache.incr('race')\n"
    ).replace("INCREMENTS", str(INCREMENTS))
    counters = [
        subprocess.Popen(
            [str(VENV_BIN / "python"), "-c", script, str(go)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for counter in counters:  # both set up before either starts counting, so they overlap
        assert counter.stdout is not None
        assert counter.stdout.readline().strip() == "ready"
    go.touch()
    for counter in counters:
        assert counter.wait(timeout=120) == 0
    assert cache.get("race") == 2 * INCREMENTS
