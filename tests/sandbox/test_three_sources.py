"""The three-source test world over real HTTP: sandbox/make_sources.py's bundles, each in its own sandbox."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.sandbox_fixtures import sandbox_get, sandbox_python
from tests.three_sources import SOURCE_NAMES, ThreeSources, make_sources_script, run_make_sources

pytestmark = pytest.mark.integration

NHI_SYSTEM = "https://standards.digital.health.nz/ns/nhi-id"
NHI = f"{NHI_SYSTEM}|ABC1234"
STRICT = {"Prefer": "handling=strict"}


def matches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in bundle.get("entry", []) if entry["search"]["mode"] == "match"]


def read(world: ThreeSources, item: dict[str, str]) -> dict[str, Any]:
    return sandbox_get(world.handle(item["source"]), f"{item['resourceType']}/{item['id']}")


def references(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return own + [ref for child in value.values() for ref in references(child)]
    if isinstance(value, list):
        return [ref for child in value for ref in references(child)]
    return []


# ---------------------------------------------------------------------------- the script


def test_the_script_writes_the_same_bytes_every_run(tmp_path: Path, three_sources: ThreeSources) -> None:
    run_make_sources(tmp_path / "first")
    run_make_sources(tmp_path / "second")

    names = sorted(path.name for path in (tmp_path / "first").iterdir())
    assert names == ["expected.json", "gp.json", "hospital.json", "register.json"]
    for name in names:
        first = (tmp_path / "first" / name).read_bytes()
        assert first == (tmp_path / "second" / name).read_bytes(), name
        assert first == (three_sources.directory / name).read_bytes(), name  # and the session's copy


def test_the_manifest_plans_what_the_task_asked_for(three_sources: ThreeSources) -> None:
    manifest = three_sources.manifest

    assert [overlap["kind"] for overlap in manifest["overlaps"]] == [
        "shared-identifier",
        "same-code-and-onset",
    ]
    immunization, condition = manifest["overlaps"]
    assert {entry["source"] for entry in immunization["items"]} == {"register", "gp"}
    assert {entry["source"] for entry in condition["items"]} == {"hospital", "gp"}
    [conflict] = manifest["conflicts"]
    assert {(entry["source"], entry["status"]) for entry in conflict["items"]} == {
        ("gp", "active"),
        ("hospital", "stopped"),
    }
    for source in SOURCE_NAMES:  # at least two items only this source has, in different sections
        own = [entry for entry in manifest["single_source"] if entry["source"] == source]
        assert len({tuple(entry["sections"]) for entry in own if entry["sections"]}) >= 2, source
    ids = [
        entry["id"] for group in (*manifest["overlaps"], *manifest["conflicts"]) for entry in group["items"]
    ] + [entry["id"] for entry in manifest["single_source"]]
    assert len(ids) == len(set(ids))
    for source in SOURCE_NAMES:
        counts = manifest["sources"][source]["counts"]
        assert sum(counts.values()) == manifest["sources"][source]["total"]
        assert len(three_sources.bundle(source)["entry"]) == manifest["sources"][source]["total"]


def test_the_launcher_takes_examples_or_no_examples_never_both(tmp_path: Path) -> None:
    python = sandbox_python()
    if not python.exists():
        pytest.skip("the FHIR sandbox is not installed (run `make sandbox`)")
    launch = str(make_sources_script().parent / "launch.py")
    base = [str(python), launch, "--data-dir", str(tmp_path), "--port", "1"]
    for extra in ([], ["--no-examples", "--examples", str(tmp_path)], ["--no-examples"]):
        done = subprocess.run([*base, *extra], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 2, (extra, done.stderr)
        assert "examples" in done.stderr


# ---------------------------------------------------------------------------- over HTTP


def test_each_source_finds_the_person_by_national_identifier_under_its_own_id(
    three_sources: ThreeSources,
) -> None:
    found = {}
    for source in SOURCE_NAMES:
        bundle = sandbox_get(three_sources.handle(source), "Patient", {"identifier": NHI}, headers=STRICT)
        assert bundle["total"] == 1, source
        [patient] = matches(bundle)
        assert patient["id"] == three_sources.manifest["sources"][source]["patient_id"]
        assert {"system": NHI_SYSTEM, "value": "ABC1234"} in patient["identifier"]
        assert patient["name"][0]["family"] == "JORDANA"
        found[source] = patient["id"]

    assert len(set(found.values())) == 3


def test_each_source_holds_exactly_the_manifests_counts(three_sources: ThreeSources) -> None:
    manifest = three_sources.manifest
    for source in SOURCE_NAMES:
        handle = three_sources.handle(source)
        described = manifest["sources"][source]
        for resource_type in sorted({*described["counts"], *manifest["clinical_types"]}):
            bundle = sandbox_get(handle, resource_type, {"_count": "200"}, headers=STRICT)
            assert bundle["total"] == described["counts"].get(resource_type, 0), (source, resource_type)
        for resource_type in manifest["clinical_types"]:  # and every record item is hers
            bundle = sandbox_get(
                handle, resource_type, {"patient": described["patient_id"], "_count": "200"}, headers=STRICT
            )
            assert bundle["total"] == described["counts"].get(resource_type, 0), (source, resource_type)


def test_every_reference_resolves_at_its_own_source(three_sources: ThreeSources) -> None:
    for source in SOURCE_NAMES:
        for entry in three_sources.bundle(source)["entry"]:
            for reference in references(entry["resource"]):
                response = requests.get(f"{three_sources.base_urls[source]}/{reference}", timeout=10)
                assert response.status_code == 200, (source, entry["fullUrl"], reference)


def test_the_shared_immunization_carries_the_same_identifier_at_both_sources(
    three_sources: ThreeSources,
) -> None:
    overlap = three_sources.manifest["overlaps"][0]
    identifier = overlap["match"]["identifier"]

    stored = [read(three_sources, entry) for entry in overlap["items"]]
    assert [resource["identifier"] for resource in stored] == [[identifier], [identifier]]
    assert stored[0]["vaccineCode"] == stored[1]["vaccineCode"]
    assert stored[0]["occurrenceDateTime"] == stored[1]["occurrenceDateTime"]
    for entry in overlap["items"]:  # an identifier search finds it at each
        bundle = sandbox_get(
            three_sources.handle(entry["source"]),
            "Immunization",
            {"identifier": f"{identifier['system']}|{identifier['value']}"},
            headers=STRICT,
        )
        assert [resource["id"] for resource in matches(bundle)] == [entry["id"]]
    hospital = sandbox_get(three_sources.hospital, "Immunization", {"_count": "200"}, headers=STRICT)
    assert hospital["total"] == 0


def test_the_shared_condition_has_the_same_code_and_onset_and_no_identifier(
    three_sources: ThreeSources,
) -> None:
    overlap = three_sources.manifest["overlaps"][1]

    stored = [read(three_sources, entry) for entry in overlap["items"]]
    for resource in stored:
        assert "identifier" not in resource
        assert {"system": overlap["match"]["code"]["system"], "code": overlap["match"]["code"]["code"]} in [
            {"system": coding["system"], "code": coding["code"]} for coding in resource["code"]["coding"]
        ]
        assert resource["onsetDateTime"][:10] == overlap["match"]["onset"]
    assert stored[0]["id"] != stored[1]["id"]


def test_the_conflict_is_active_at_the_gp_and_stopped_at_the_hospital(three_sources: ThreeSources) -> None:
    [conflict] = three_sources.manifest["conflicts"]
    by_source = {entry["source"]: entry for entry in conflict["items"]}

    gp = read(three_sources, by_source["gp"])
    hospital = read(three_sources, by_source["hospital"])
    assert (gp["status"], hospital["status"]) == ("active", "stopped")
    assert gp["medicationCodeableConcept"]["coding"] == hospital["medicationCodeableConcept"]["coding"]
    assert gp["medicationCodeableConcept"]["coding"][0]["code"] == conflict["match"]["medication"]["code"]
    assert gp["effectiveDateTime"] == by_source["gp"]["effectiveDateTime"]
    assert "effectivePeriod" not in gp
    assert hospital["effectivePeriod"] == by_source["hospital"]["effectivePeriod"]
    assert "effectiveDateTime" not in hospital
    assert hospital["effectivePeriod"]["end"] == conflict["latest"]["date"] > gp["effectiveDateTime"]


def test_single_source_items_are_at_their_source_and_nowhere_else(three_sources: ThreeSources) -> None:
    manifest = three_sources.manifest
    for entry in manifest["single_source"]:
        read(three_sources, entry)
        for other in SOURCE_NAMES:
            if other == entry["source"]:
                continue
            other_id = manifest["sources"][other]["prefix"] + entry["example_id"]
            response = requests.get(
                f"{three_sources.base_urls[other]}/{entry['resourceType']}/{other_id}", timeout=10
            )
            assert response.status_code == 404, (entry, other)
