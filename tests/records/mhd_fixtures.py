"""The MHD source as a real process: a FHIR sandbox (sandbox/launch.py --no-examples) holding only
sandbox/make_sources.py's mhd.json — Patricia Jordana (NHI ABC1234), one DocumentReference (LOINC 60591-5) and
the IPS document it points to, stored as a Binary. Started once per module that uses `mhd_source`."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.sandbox_fixtures import SandboxHandle, free_port, start_sandbox
from tests.three_sources import make_sources_script


@dataclass
class MhdSource:
    handle: SandboxHandle
    manifest: dict[str, Any]  # expected.json's "mhd" entry
    document: dict[str, Any]  # the document Bundle the Binary holds


def _make_sources() -> ModuleType:
    """sandbox/make_sources.py itself (standard library only), to call make(…, mhd=True)."""
    spec = importlib.util.spec_from_file_location("make_sources", make_sources_script())
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def start_mhd_source(directory: Path) -> MhdSource:
    """The MHD source: make_sources.py's mhd.json in a sandbox of its own."""
    from tests.conftest import IPS_EXAMPLES

    make_sources = _make_sources()
    written = make_sources.make(IPS_EXAMPLES, directory / "sources", mhd=True)
    import json

    manifest = json.loads(written["expected"].read_text(encoding="utf-8"))["mhd"]
    handle = start_sandbox(
        data_dir=directory / "mhd-data",
        port=free_port(),
        log_path=directory / "mhd.log",
        load=[written["mhd"]],
        examples=False,
    )
    return MhdSource(
        handle=handle,
        manifest=manifest,
        document=make_sources.mhd_document(_example_index(make_sources, IPS_EXAMPLES)),
    )


def _example_index(make_sources: ModuleType, examples: Path) -> dict[tuple[str, str], dict[str, Any]]:
    import json

    bundle = json.loads((examples / make_sources.EXAMPLE).read_text(encoding="utf-8"))
    return {(e["resource"]["resourceType"], e["resource"]["id"]): e["resource"] for e in bundle["entry"]}


@pytest.fixture(scope="module")
def mhd_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MhdSource]:
    source = start_mhd_source(tmp_path_factory.mktemp("mhd-source"))
    yield source
    source.handle.stop()
