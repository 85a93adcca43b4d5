"""The fixed cast (citizen, other citizen, admin), the real-service fixtures and their skip-or-fail rule."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.db import connection

from portal.accounts.models import User

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PASSWORD = "correct horse battery staple"
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
# `make sandbox` unpacks the HL7 IPS 2.0.0 package here (npm pack, checksum pinned).
IPS_EXAMPLES = Path(os.environ.get("IPS_EXAMPLES_DIR", REPO / "var" / "ips-2.0.0" / "package" / "example"))

# The local FHIR sandbox (a real FHIR server process) and its fixtures.
pytest_plugins = ["tests.sandbox_fixtures", "tests.eid_fixtures", "tests.smart_launch_fixtures"]
pytest_plugins += ["tests.three_sources"]  # the hospital, GP and register/lab sandboxes


def service_missing(reason: str) -> None:
    """Skip with a visible reason on a laptop; fail in CI, where every service must be there."""
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_cache(settings: Any, request: pytest.FixtureRequest) -> None:
    # Rate limits count in the cache: each test starts from zero.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": request.node.nodeid,
        }
    }


@pytest.fixture(autouse=True)
def _fast_hashing_and_plain_static(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Production serves collected, hashed files (the Dockerfile runs collectstatic); tests serve static/.
    settings.WHITENOISE_USE_FINDERS = True
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def make_citizen(email: str, *, verified: bool = True, **extra: Any) -> User:
    user = User.objects.create_user(email=email, password=PASSWORD, **extra)
    EmailAddress.objects.create(user=user, email=email, verified=verified, primary=True)
    return user


@pytest.fixture
def citizen(db: None) -> User:
    return make_citizen("citizen@example.org", first_name="Karen", last_name="Jensen")


@pytest.fixture
def other_citizen(db: None) -> User:
    return make_citizen("other@example.org")


@pytest.fixture
def admin_user(db: None) -> User:
    """Staff with an authenticator app: the admin lets no one in without a second factor."""
    from allauth.mfa.totp.internal.auth import TOTP

    user = make_citizen("admin@example.org", is_staff=True, is_superuser=True)
    TOTP.activate(user, ADMIN_TOTP_SECRET)
    return user


ADMIN_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def admin_totp_code() -> str:
    """The code the admin's authenticator app shows right now."""
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time

    counters = list(yield_hotp_counters_from_time())
    return format_hotp_value(hotp_value(ADMIN_TOTP_SECRET, counters[len(counters) // 2]))


@pytest.fixture
def citizen_client(client: Any, citizen: User) -> Any:
    client.force_login(citizen)
    return client


# ---------------------------------------------------------------------------- real services


@pytest.fixture
def postgres() -> None:
    if connection.vendor != "postgresql":
        service_missing("PostgreSQL is not configured (set DATABASE_URL=postgres://…)")


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        service_missing("Redis is not configured (set REDIS_URL=redis://…)")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        service_missing(f"Redis at REDIS_URL is unreachable ({type(error).__name__})")
    return url


def database_url_of_test_db() -> str:
    """DATABASE_URL naming the database this test runs on, so that child processes share it."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@dataclass
class ProcessHandle:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start_process(args: list[str], *, env: dict[str, str], log_path: Path, cwd: Path = REPO) -> ProcessHandle:
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    return ProcessHandle(process=process, log_path=log_path)


def wait_for(predicate: Any, *, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def start_worker(env: dict[str, str], log_path: Path, *, concurrency: int = 1) -> ProcessHandle:
    """`celery worker` on all three queues, as an operator starts it; returns once it is ready."""
    worker = start_process(
        [str(VENV_BIN / "celery"), "-A", "portal", "worker", "-Q", "default,pull,export",
         "--concurrency", str(concurrency), "-l", "INFO", "--without-mingle", "--without-gossip"],
        env=env,
        log_path=log_path,
    )  # fmt: skip
    try:
        wait_for(
            lambda: " ready." in worker.log() or worker.process.poll() is not None, timeout=60, what="worker"
        )
    except AssertionError:
        worker.stop()
        raise
    if worker.process.poll() is not None:
        raise AssertionError(f"the worker exited at start:\n{worker.log()}")
    return worker


def child_env(**overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.setdefault("SECRET_KEY", settings.SECRET_KEY)
    env.update(overrides)
    return env


def embedded_env(var_dir: Path) -> dict[str, str]:
    """A child's environment for what `make run` uses on a bare laptop (SQLite, the filesystem broker; DEBUG
    off, as deployed), its database migrated."""
    env = child_env(VAR_DIR=str(var_dir), DEBUG="0", PORTAL_ORIGIN="http://127.0.0.1:8000")
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", "migrate", "--noinput", "-v0"],
        env=env,
        check=True,
        timeout=120,
    )
    return env


@pytest.fixture
def celery_worker_process(
    transactional_db: None, postgres: None, redis_url: str, tmp_path: Path
) -> Iterator[ProcessHandle]:
    """A real Celery worker process on Redis, writing to this test's PostgreSQL database."""
    worker = start_worker(
        child_env(DATABASE_URL=database_url_of_test_db(), REDIS_URL=redis_url), tmp_path / "worker.log"
    )
    yield worker
    worker.stop()


def ips_package_file(name: str) -> dict[str, Any]:
    """One JSON file of the HL7 IPS 2.0.0 package, e.g. "StructureDefinition-Composition-uv-ips"."""
    path = IPS_EXAMPLES.parent / f"{name}.json"
    if not path.exists():
        service_missing(f"the IPS 2.0.0 package is not at {IPS_EXAMPLES.parent} (run `make sandbox`)")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def ips_example(name: str) -> dict[str, Any]:
    """One example of the HL7 IPS 2.0.0 package, e.g. ips_example("Bundle-bundle-ips-all-sections")."""
    return ips_package_file(f"example/{name}")


@pytest.fixture
def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        service_missing("Chromium is not installed (apt-get install -y chromium)")
    return path
