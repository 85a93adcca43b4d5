"""Slow clients against the portal's real web servers: gunicorn with the repository's gunicorn.conf.py and
two workers, as `make run` starts it, and nginx with deploy/nginx/portal.conf.template in front, as
compose.yaml runs it.

A slow client sends a POST's headers at once and then its body a byte a second. On gunicorn's sync workers
each one holds a whole worker until its body is in, so a handful of them stop a two-worker portal: the
control below shows that. The repository's threaded workers, and nginx in front of any workers, must keep
answering meanwhile.
"""

import contextlib
import os
import pwd
import runpy
import select
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.test import Client

from portal.accounts.models import User
from tests.conftest import (
    REPO,
    VENV_BIN,
    ProcessHandle,
    child_env,
    database_url_of_test_db,
    service_missing,
    start_process,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

NGINX_TEMPLATE = REPO / "deploy" / "nginx" / "portal.conf.template"
# The CSP report endpoint reads its whole body (up to 16 KiB) before it answers, and needs no CSRF token.
SLOW_PATH = "/csp-report/"
SLOW_BODY_BYTES = 16_000
# More slow clients than the sync workers (2), fewer than the threads of one worker (gunicorn.conf.py: 8), so
# that whichever worker they land on keeps a thread free.
SLOW_CLIENTS = 6
# A request that is not answered in this long counts as not answered at all.
REQUEST_TIMEOUT = 5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def browser() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # straight to 127.0.0.1, whatever proxy the environment names
    return session


def healthz(base: str) -> int:
    """The status of /healthz; requests.Timeout if no answer comes within REQUEST_TIMEOUT."""
    return browser().get(f"{base}/healthz", timeout=REQUEST_TIMEOUT).status_code


class SlowClients:
    """Connections that each send a POST's headers, then trickle its body a byte a second, never finishing."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)

    def __enter__(self) -> "SlowClients":
        head = (
            f"POST {SLOW_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/csp-report\r\nContent-Length: {SLOW_BODY_BYTES}\r\n\r\n{{"
        ).encode()
        for _ in range(self.count):
            connection = socket.create_connection(("127.0.0.1", self.port), timeout=REQUEST_TIMEOUT)
            connection.sendall(head)
            self.sockets.append(connection)
        self._thread.start()
        # Let the server take them in: accepted and reading their bodies before anyone else asks.
        time.sleep(1.5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for connection in self.sockets:
            connection.close()

    def _trickle(self) -> None:
        while not self._stop.wait(1.0):
            for connection in self.sockets:
                with contextlib.suppress(OSError):  # answered and closed: answered() reports it
                    connection.send(b" ")

    def answered(self) -> int:
        """How many got an answer or were closed: none, while the attack holds."""
        readable, _, _ = select.select(self.sockets, [], [], 0)
        return len(readable)


@dataclass
class Server:
    handle: ProcessHandle
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answers(self) -> bool:
        if self.handle.process.poll() is not None:
            raise AssertionError(f"the server exited:\n{self.handle.log()}")
        try:
            return healthz(self.base) == 200
        except requests.RequestException:
            return False


@pytest.fixture
def start_gunicorn(transactional_db: None, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Starts gunicorn as `make run` does (the repository's gunicorn.conf.py is read from the working
    directory), on the test database; extra arguments come last. Returns once /healthz answers."""
    servers: list[Server] = []
    env = child_env(
        DATABASE_URL=database_url_of_test_db(),
        VAR_DIR=str(tmp_path / "var"),  # the embedded broker's folder, unless REDIS_URL names one
        DEBUG="1",
        CONN_MAX_AGE="60",
    )

    def start(name: str, *extra: str) -> Server:
        port = free_port()
        handle = start_process(
            [str(VENV_BIN / "gunicorn"), "portal.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", "2", "--access-logfile", "-", *extra],
            env=env,
            log_path=tmp_path / f"gunicorn-{name}.log",
        )  # fmt: skip
        server = Server(handle, port)
        servers.append(server)
        wait_for(server.answers, timeout=60, what=f"gunicorn ({name}) to answer /healthz")
        return server

    yield start
    for server in servers:
        server.handle.stop()


def render_nginx_config(*, upstream: str, listen: str) -> str:
    """The template with its two variables filled in, as the nginx image's envsubst step fills them."""
    text = NGINX_TEMPLATE.read_text(encoding="utf-8")
    text = text.replace("${PORTAL_UPSTREAM}", upstream).replace("${NGINX_LISTEN}", listen)
    assert "${" not in text, "the template has a variable the compose service does not set"
    return text


def nginx_binary() -> str:
    path = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(path).exists():
        service_missing("nginx is not installed (apt-get install -y nginx)")
    return path


def nginx_main_config(directory: Path, *, upstream_port: int, port: int) -> Path:
    """Debian's nginx with the deploy config as its only server, everything it writes under `directory`, run
    as the current user. (In the image, its own nginx.conf includes the rendered file the same way.)"""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "portal.conf").write_text(
        render_nginx_config(upstream=f"127.0.0.1:{upstream_port}", listen=f"127.0.0.1:{port}"),
        encoding="utf-8",
    )
    user = pwd.getpwuid(os.geteuid())
    # Only a master started as root switches users; without `user` it would hand the workers to "nobody".
    user_line = f"user {user.pw_name};" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = directory / "nginx.conf"
    main.write_text(
        f"{user_line}\n"
        "daemon off;\n"
        "worker_processes 1;\n"
        f"pid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} info;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"{temp}\n"
        f"    include {directory / 'portal.conf'};\n"
        "}\n",
        encoding="utf-8",
    )
    return main


def nginx_command(config: Path) -> list[str]:
    directory = str(config.parent)
    return [nginx_binary(), "-p", directory, "-c", str(config), "-e", str(config.parent / "error.log")]


@pytest.fixture
def start_nginx(tmp_path: Path) -> Iterator[Callable[[int], Server]]:
    """Starts nginx with the deploy config in front of 127.0.0.1:<upstream port>; returns once it listens."""
    servers: list[Server] = []

    def start(upstream_port: int) -> Server:
        port = free_port()
        config = nginx_main_config(tmp_path / "nginx", upstream_port=upstream_port, port=port)
        handle = start_process(nginx_command(config), env=dict(os.environ), log_path=tmp_path / "nginx.log")
        server = Server(handle, port)
        servers.append(server)

        def listening() -> bool:
            if handle.process.poll() is not None:
                error_log = (config.parent / "error.log").read_text(errors="replace")
                raise AssertionError(f"nginx exited:\n{handle.log()}\n{error_log}")
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0

        wait_for(listening, timeout=20, what="nginx to listen")
        return server

    yield start
    for server in servers:
        server.handle.stop()


def signed_in_cookie(citizen: User) -> str:
    """A session of the citizen's in the test database, as if they had signed in (no password hashing)."""
    client = Client()
    client.force_login(citizen)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def browse_signed_in(base: str, cookie: str) -> bool:
    """Three pages as a signed-in citizen; each saves the session (SESSION_SAVE_EVERY_REQUEST): a write."""
    session = browser()
    session.cookies.set(settings.SESSION_COOKIE_NAME, cookie)
    return all('data-testid="signed-in-as"' in session.get(f"{base}/", timeout=20).text for _ in range(3))


def test_threaded_workers_keep_answering_while_slow_clients_hang(
    start_gunicorn: Callable[..., Server], citizen: User
) -> None:
    threads = runpy.run_path(str(REPO / "gunicorn.conf.py"))["threads"]
    assert 2 < SLOW_CLIENTS < threads, "more slow clients than sync workers, fewer than one worker's threads"
    cookies = [signed_in_cookie(citizen) for _ in range(8)]
    portal = start_gunicorn("repository")
    assert "Using worker: gthread" in portal.handle.log()  # what gunicorn.conf.py asks for
    with SlowClients(portal.port, SLOW_CLIENTS) as slow:
        for _ in range(3):
            assert healthz(portal.base) == 200
        # Signed-in citizens browse meanwhile, eight at once: each thread has its own database connection and
        # each page writes the session, on SQLite (WAL) as well as on PostgreSQL.
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda cookie: browse_signed_in(portal.base, cookie), cookies))
        assert results == [True] * 8
        assert slow.answered() == 0  # the attack held all along


def test_slow_clients_hold_sync_workers_unless_nginx_buffers_for_them(
    start_gunicorn: Callable[..., Server], start_nginx: Callable[[int], Server]
) -> None:
    # The control: one request per worker process, as gunicorn ran before gunicorn.conf.py chose threads.
    portal = start_gunicorn("sync", "--worker-class", "sync", "--threads", "1")
    assert "Using worker: sync" in portal.handle.log()
    with SlowClients(portal.port, SLOW_CLIENTS) as slow:
        with pytest.raises(requests.Timeout):
            healthz(portal.base)
        assert slow.answered() == 0

    # The same workers behind nginx with the deploy config: they never see an unfinished request.
    proxy = start_nginx(portal.port)
    wait_for(proxy.answers, timeout=20, what="/healthz through nginx")
    with SlowClients(proxy.port, 4 * SLOW_CLIENTS) as slow:
        for _ in range(3):
            assert healthz(proxy.base) == 200
        assert slow.answered() == 0


def test_nginx_accepts_the_deploy_config(tmp_path: Path) -> None:
    config = nginx_main_config(tmp_path / "nginx", upstream_port=free_port(), port=free_port())
    result = subprocess.run(
        [*nginx_command(config), "-t"], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_refuses_a_body_larger_than_the_portal_takes_unread(
    start_nginx: Callable[[int], Server],
) -> None:
    proxy = start_nginx(free_port())  # nginx answers itself: no portal behind it needed
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=REQUEST_TIMEOUT) as connection:
        # Django's form limit is 2.5 MiB; nginx answers before a byte of a 4 MiB body is sent.
        head = f"POST {SLOW_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {4 * 1024 * 1024}\r\n\r\n"
        connection.sendall(head.encode())
        assert connection.recv(64).startswith(b"HTTP/1.1 413 ")
