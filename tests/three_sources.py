"""The three-source test world as real processes: a hospital, a GP and a vaccination register/lab, each a FHIR
sandbox (sandbox/launch.py --no-examples) holding only its own bundle of sandbox/make_sources.py.

`three_sources` starts once per session: it runs make_sources.py into a temporary directory, starts the three
launchers at once on free ports and yields a `ThreeSources` with their base URLs and the manifest
(expected.json) the tests count against. Every source holds Patricia Jordana (NHI ABC1234) under its own
Patient id; the manifest names the overlaps, the conflict and the items only one source has. Never change
their data: the session shares them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

if TYPE_CHECKING:
    from tests.sandbox_fixtures import SandboxHandle

# tests.conftest is imported inside the functions: it loads this module as a plugin while it is imported.

SOURCE_NAMES = ("hospital", "gp", "register")
START_TIMEOUT = 60  # seconds; each source's bundle holds a few dozen resources


def make_sources_script() -> Path:
    from tests.conftest import REPO

    return REPO / "sandbox" / "make_sources.py"


def run_make_sources(out: Path, *, python: str = sys.executable) -> dict[str, Any]:
    """Run sandbox/make_sources.py (standard library only: `-I -S` keeps site-packages away) into `out`."""
    from tests.conftest import IPS_EXAMPLES, service_missing

    if not (IPS_EXAMPLES / "Bundle-bundle-ips-all-sections.json").exists():
        service_missing(f"the IPS 2.0.0 examples are not unpacked at {IPS_EXAMPLES} (run `make sandbox`)")
    done = subprocess.run(
        [python, "-I", "-S", str(make_sources_script()), "--examples", str(IPS_EXAMPLES), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    manifest: dict[str, Any] = json.loads((out / "expected.json").read_text(encoding="utf-8"))
    return manifest


@dataclass
class ThreeSources:
    hospital: SandboxHandle
    gp: SandboxHandle
    register: SandboxHandle
    manifest: dict[str, Any]  # var/sources/expected.json as make_sources.py wrote it
    directory: Path  # the bundles (hospital.json, gp.json, register.json) and expected.json

    def handle(self, source: str) -> SandboxHandle:
        handle: SandboxHandle = getattr(self, source)
        return handle

    @property
    def base_urls(self) -> dict[str, str]:
        return {source: self.handle(source).base_url for source in SOURCE_NAMES}

    def bundle(self, source: str) -> dict[str, Any]:
        path = self.directory / self.manifest["sources"][source]["file"]
        bundle: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return bundle

    def stop(self) -> None:
        for source in SOURCE_NAMES:
            self.handle(source).stop()


def start_three_sources(directory: Path) -> ThreeSources:
    """make_sources.py into `directory`, then one launcher per source with only its own bundle loaded."""
    from tests.conftest import ProcessHandle, service_missing, start_process, wait_for
    from tests.sandbox_fixtures import SandboxHandle, free_port, sandbox_python

    python = sandbox_python()
    if not python.exists():
        service_missing(f"the FHIR sandbox is not installed at {python.parent.parent} (run `make sandbox`)")
    sources_dir = directory / "sources"
    manifest = run_make_sources(sources_dir)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    started: dict[str, tuple[ProcessHandle, str]] = {}
    try:
        for source in SOURCE_NAMES:  # all three load at once
            port = free_port()
            args = [
                str(python), str(make_sources_script().parent / "launch.py"), "--host", "127.0.0.1",
                "--port", str(port), "--data-dir", str(directory / f"{source}-data"), "--no-examples",
                "--load", str(sources_dir / manifest["sources"][source]["file"]),
            ]  # fmt: skip
            process = start_process(args, env=env, log_path=directory / f"{source}.log")
            started[source] = (process, f"http://127.0.0.1:{port}/fhir")
        for source, (process, base_url) in started.items():
            wait_for(
                lambda process=process: (
                    "sandbox ready" in process.log() or process.process.poll() is not None
                ),
                timeout=START_TIMEOUT,
                what=f"the {source} sandbox to load and listen",
            )
            if process.process.poll() is not None:
                raise AssertionError(f"the {source} sandbox exited at start:\n{process.log()}")
            metadata = requests.get(f"{base_url}/metadata", timeout=10)
            assert metadata.status_code == 200, process.log()
    except BaseException:
        for process, _base_url in started.values():
            process.stop()
        raise
    handles = {
        source: SandboxHandle(base_url=base_url, process=process)
        for source, (process, base_url) in started.items()
    }
    return ThreeSources(
        hospital=handles["hospital"],
        gp=handles["gp"],
        register=handles["register"],
        manifest=manifest,
        directory=sources_dir,
    )


@pytest.fixture(scope="session")
def three_sources(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreeSources]:
    """Hospital, GP and register/lab sandboxes, open mode, Patricia Jordana at each; shared by the session."""
    world = start_three_sources(tmp_path_factory.mktemp("three-sources"))
    yield world
    world.stop()
