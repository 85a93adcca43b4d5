"""The architecture holds: the core imports without Django or Celery, and the import contracts in
pyproject.toml ([tool.importlinter]) are kept, and would be broken by an import that goes the wrong way.

No database: every check runs in a subprocess, on the source files alone.
"""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("core", "portal", "sharing")

# Run in a fresh interpreter before anything else: from then on django, celery, kombu and allauth (and any of
# their submodules) cannot be imported. Whatever imports them fails with this ImportError.
BLOCKER = """
import importlib.abc
import sys

BLOCKED = ("django", "celery", "kombu", "allauth")


def blocked(name):
    return name.partition(".")[0] in BLOCKED


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if blocked(name):
            raise ImportError(f"{name} is blocked: the core must do without it", name=name)
        return None


for loaded in [name for name in sys.modules if blocked(name)]:
    del sys.modules[loaded]
sys.meta_path.insert(0, Blocker())
"""

IMPORT_THE_CORE = """
import importlib
import pkgutil

import core


def fail(name):
    raise ImportError(f"{name} did not import")  # the ImportError being handled is chained to this one


imported = ["core"]
for info in pkgutil.walk_packages(core.__path__, "core.", onerror=fail):
    importlib.import_module(info.name)
    imported.append(info.name)
leaked = sorted(name for name in sys.modules if blocked(name))
if leaked:
    raise SystemExit(f"loaded although blocked: {leaked}")
print("\\n".join(imported))
"""


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def core_modules_on_disk() -> set[str]:
    modules = set()
    for path in (REPO / "core").rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        modules.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def test_the_core_imports_without_django_or_celery() -> None:
    result = run_python(BLOCKER + IMPORT_THE_CORE)

    assert result.returncode == 0, result.stderr
    imported = set(result.stdout.split())
    assert {
        "core.i18n",
        "core.fhir.narrative",
        "core.fhir.read",
        "core.fhir.summary",
        "core.fhir.upstream",
        "core.ips.assemble",
        "core.ips.validate",
        "core.shl.jwe",
        "core.shl.payload",
    } <= imported
    # Every module of the package, not only the ones named above.
    assert imported == core_modules_on_disk()


def test_the_blocker_stops_the_apps() -> None:
    """The control: the same blocker makes an app module fail, so the test above proves something."""
    result = run_python(BLOCKER + "import sharing.document\n")

    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "is blocked: the core must do without it" in result.stderr


def lint_imports(cwd: Path) -> tuple[int, str]:
    """Run lint-imports on the packages under cwd (its pyproject.toml); output with one line per contract."""
    env = {
        **os.environ,
        "PYTHONPATH": str(cwd),  # the packages under cwd, never the repository's
        "COLUMNS": "250",  # contract names are not wrapped
        "NO_COLOR": "1",
    }
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],  # no .import_linter_cache left behind, none shared between copies
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def contract_names(pyproject: Path) -> list[str]:
    config: dict[str, Any] = tomllib.loads(pyproject.read_text())
    return [contract["name"] for contract in config["tool"]["importlinter"]["contracts"]]


def test_the_import_contracts_hold() -> None:
    names = contract_names(REPO / "pyproject.toml")

    returncode, output = lint_imports(REPO)

    assert returncode == 0, output
    assert f"Contracts: {len(names)} kept, 0 broken." in output, output
    for name in names:
        assert f"{name} KEPT" in output, output


CORE = "The core imports no Django, no Celery and no app"
APPS = "Apps never import upward"
WITHIN_APPS = "Views, admin, tasks and urls sit above services and selectors, which sit above models"


@pytest.mark.parametrize(
    ("module", "bad_import", "contract", "chain"),
    [
        ("core/fhir/read.py", "import django", CORE, "core.fhir.read -> django"),
        (
            "portal/records/selectors.py",
            "from sharing import models as _up",
            APPS,
            "portal.records.selectors -> sharing.models",
        ),
        (
            "sharing/links/services.py",
            "from sharing.links import views as _up",
            WITHIN_APPS,
            "sharing.links.services -> sharing.links.views",
        ),
        (
            "portal/accounts/services.py",
            "from portal.audit import services as _up",
            APPS,
            "portal.accounts.services -> portal.audit.services",
        ),
        (
            "sharing/exports/services.py",
            "from sharing.links import services as _sideways",
            "Downloads and share links are independent of each other",
            "sharing.exports.services -> sharing.links.services",
        ),
    ],
    ids=[
        "core-imports-django",
        "records-imports-sharing",
        "service-imports-view",
        "accounts-imports-audit",
        "exports-imports-links",
    ],
)
def test_a_wrong_import_breaks_the_contracts(
    tmp_path: Path, module: str, bad_import: str, contract: str, chain: str
) -> None:
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    assert contract in contract_names(tmp_path / "pyproject.toml")
    # The control: the copy as it is keeps every contract, so the break below comes from the one bad import.
    returncode, output = lint_imports(tmp_path)
    assert returncode == 0, output

    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{bad_import}  # noqa\n")
    returncode, output = lint_imports(tmp_path)

    assert returncode != 0, output
    assert f"{contract} BROKEN" in output, output
    assert chain in output, output
