"""Settings come from the environment: each case runs Django in a fresh process with that environment."""

import subprocess
from pathlib import Path

from django.conf import settings

from tests.conftest import REPO, VENV_BIN, child_env

PRINT_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'], s.CELERY_BROKER_URL, s.DEBUG, "
    "s.FHIR_SANDBOX_URL, s.ALLOWED_HOSTS, s.CACHES['default']['BACKEND'])"
)


def run_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = child_env(DJANGO_SETTINGS_MODULE="portal.settings", VAR_DIR=str(tmp_path), **env)
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "FHIR_SANDBOX_URL", "ALLOWED_HOSTS"):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run(
        [str(VENV_BIN / "python"), "-c", PRINT_SETTINGS],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_secret_key_is_required_when_debug_is_off(tmp_path: Path) -> None:
    result = run_settings(tmp_path, DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off" in result.stderr


def test_secret_key_can_come_from_a_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("from-a-file\n")
    result = run_settings(tmp_path, DEBUG="0", SECRET_KEY_FILE=str(key_file))
    assert result.returncode == 0, result.stderr


def test_bare_laptop_defaults_to_sqlite_and_the_embedded_broker(tmp_path: Path) -> None:
    result = run_settings(tmp_path, DEBUG="1")
    assert result.returncode == 0, result.stderr
    engine, name, broker, _debug, fhir, _rest = result.stdout.split(" ", 5)
    assert engine == "django.db.backends.sqlite3"
    assert name == str(tmp_path / "portal.sqlite3")
    assert broker == "filesystem://localhost/"
    assert fhir == "http://127.0.0.1:8090/fhir"
    # Shared by every web process: the database, not each process's memory.
    assert result.stdout.strip().endswith("'] portal.cache.SharedDatabaseCache")


def test_services_come_from_the_environment(tmp_path: Path) -> None:
    result = run_settings(
        tmp_path,
        SECRET_KEY="k",
        DATABASE_URL="postgres://portal:pw@db.internal:5432/portal",
        REDIS_URL="redis://cache.internal:6379/0",
        FHIR_SANDBOX_URL="https://fhir.example.org/r4",
        ALLOWED_HOSTS="portal.example.org",
    )
    assert result.returncode == 0, result.stderr
    engine, name, broker, debug, fhir, hosts, cache = result.stdout.split(" ", 6)
    assert engine == "django.db.backends.postgresql"
    assert name == "portal"
    assert broker == "redis://cache.internal:6379/0"
    assert debug == "False"
    assert fhir == "https://fhir.example.org/r4"
    assert hosts == "['portal.example.org']"
    assert "RedisCache" in cache


def test_behind_the_proxy_the_client_address_is_the_forwarded_one(tmp_path: Path) -> None:
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.ALLAUTH_TRUSTED_PROXY_COUNT, s.RATELIMIT_IP_META_KEY)"
    )
    environment = child_env(DJANGO_SETTINGS_MODULE="portal.settings", VAR_DIR=str(tmp_path), BEHIND_PROXY="1")
    result = subprocess.run(
        [str(VENV_BIN / "python"), "-c", script],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1 HTTP_X_FORWARDED_FOR"
    # Without it (as these tests run), the address is the connection's own.
    assert not hasattr(settings, "RATELIMIT_IP_META_KEY")
    assert not hasattr(settings, "ALLAUTH_TRUSTED_PROXY_COUNT")
