"""Every HL7 IPS 2.0.0 example patient, pulled from the real FHIR sandbox and exported: a valid document
holding every clinical resource of the original example (compared by codes: ids are the document's own).

The three examples of one Dutch test patient share a national identifier, so each example's Patient is
given an identifier of its own in this module's sandbox before the citizens are linked to them.
"""

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from core.ips.sections import section_of
from portal.accounts.models import User
from portal.jobs.models import JobStatus
from tests.conftest import IPS_EXAMPLES, ips_example
from tests.records.conftest import link_identifier, make_source, pull_now
from tests.sandbox_fixtures import SandboxHandle, free_port, sandbox_put, start_sandbox
from tests.sharing.conftest import export_json_now

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

EXAMPLE_SYSTEM = "urn:example:yellow-button-test:ips-example"
EXAMPLES = sorted(path.stem for path in IPS_EXAMPLES.glob("Bundle-*.json")) or [
    # Listed for collection without the package; the fixture then skips or fails as the rule says.
    "Bundle-IPS-examples-Bundle-01",
    "Bundle-IPS-examples-Bundle-with-immunization",
    "Bundle-bundle-ips-all-sections",
    "Bundle-bundle-minimal",
    "Bundle-bundle-no-info-required-sections",
]
CODE_FIELDS = ("code", "vaccineCode", "medicationCodeableConcept", "type")


def example_patient(example: str) -> dict[str, Any]:
    patient: dict[str, Any] = next(
        e["resource"] for e in ips_example(example)["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    return patient


@pytest.fixture(scope="module")
def examples_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    directory = tmp_path_factory.mktemp("examples-sandbox")
    handle = start_sandbox(data_dir=directory / "data", port=free_port(), log_path=directory / "sandbox.log")
    try:
        for example in EXAMPLES:
            patient = example_patient(example)
            sandbox_put(
                handle,
                {
                    **patient,
                    "identifier": [*patient["identifier"], {"system": EXAMPLE_SYSTEM, "value": example}],
                },
            )
        yield handle
    finally:
        handle.stop()


def codes_of(resource: Mapping[str, Any], resolve: Mapping[str, Mapping[str, Any]]) -> frozenset[str]:
    """The codes that say what a clinical item is; a medication's from the Medication it names."""
    codes: set[str] = set()
    for name in CODE_FIELDS:
        concept = resource.get(name)
        for concept_item in concept if isinstance(concept, list) else [concept]:
            if isinstance(concept_item, Mapping):
                codes |= {f"{c.get('system')}|{c.get('code')}" for c in concept_item.get("coding", [])}
    medication = resource.get("medicationReference")
    if isinstance(medication, Mapping) and medication.get("reference") in resolve:
        codes |= codes_of(resolve[medication["reference"]], resolve)
    return frozenset(codes)


def clinical_items(bundle: Mapping[str, Any]) -> Counter[tuple[str, frozenset[str]]]:
    """(type, codes) of every resource of an IPS section in a document bundle."""
    resolve: dict[str, Mapping[str, Any]] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        # References name entries by fullUrl, or by "Type/id" where the fullUrls are RESTful.
        resolve[entry["fullUrl"]] = resolve[f"{resource['resourceType']}/{resource['id']}"] = resource
    return Counter(
        (resource["resourceType"], codes_of(resource, resolve))
        for resource in (entry["resource"] for entry in bundle["entry"])
        if resource["resourceType"] != "Composition" and section_of(resource) is not None
    )


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.mark.parametrize("example", EXAMPLES)
def test_each_example_patient_pulled_and_exported_is_a_valid_document_with_all_its_content(
    examples_sandbox: SandboxHandle, citizen: User, example: str
) -> None:
    link_identifier(citizen, EXAMPLE_SYSTEM, example)
    make_source(examples_sandbox.base_url, patient_identifier_system=EXAMPLE_SYSTEM)
    pull_job, _pull = pull_now(citizen)
    assert pull_job.status == JobStatus.SUCCEEDED, pull_job.detail

    _export, body = export_json_now(citizen)
    bundle = json.loads(body)
    original = clinical_items(ips_example(example))
    exported = clinical_items(bundle)
    assert original, "the example has clinical content"
    missing = original - exported
    assert not missing, f"not in the export: {sorted(missing)}"
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    assert patient["name"] == example_patient(example)["name"]
