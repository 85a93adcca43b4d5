"""The local FHIR sandbox over real HTTP: the IPS examples it serves, its searches, and its SMART mode."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from tests.conftest import ips_example
from tests.sandbox_fixtures import (
    SandboxHandle,
    SmartSandboxHandle,
    free_port,
    sandbox_get,
    sandbox_put,
    start_sandbox,
)

pytestmark = pytest.mark.integration

ALL_SECTIONS = "Bundle-bundle-ips-all-sections"
NHI = "https://standards.digital.health.nz/ns/nhi-id|ABC1234"
PATRICIA = "d174bd1a-b368-41e6-83a2-af77f2b3c60f"
JAMES = "AAA1234"  # the patient of Bundle-bundle-no-info-required-sections
STRICT = {"Prefer": "handling=strict"}
# Every type the portal searches by patient for the IPS sections.
PATIENT_SEARCHED_TYPES = [
    "AllergyIntolerance", "CarePlan", "ClinicalImpression", "Condition", "Consent",
    "DeviceUseStatement", "DiagnosticReport", "DocumentReference", "Flag", "Immunization",
    "MedicationRequest", "MedicationStatement", "Observation", "Procedure",
]  # fmt: skip
SHARED_COMPOSITION = "30551ce1-5a28-4356-b684-1e639094ad4d"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def patient_of(resource: dict[str, Any]) -> str:
    reference: str = (resource.get("patient") or resource.get("subject") or {}).get("reference", "")
    return reference


def matches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in bundle.get("entry", []) if entry["search"]["mode"] == "match"]


# ---------------------------------------------------------------------------- open mode


def test_the_all_sections_patient_is_found_by_national_identifier(fhir_sandbox: SandboxHandle) -> None:
    bundle = sandbox_get(fhir_sandbox, "Patient", {"identifier": NHI})

    assert bundle["total"] == 1
    [patient] = matches(bundle)
    assert patient["id"] == PATRICIA
    assert patient["name"] == [{"use": "usual", "family": "JORDANA", "given": ["Patricia"]}]
    assert patient["identifier"] == [
        {"system": "https://standards.digital.health.nz/ns/nhi-id", "value": "ABC1234"}
    ]


def test_every_resource_of_the_all_sections_example_is_readable(fhir_sandbox: SandboxHandle) -> None:
    entries = ips_example(ALL_SECTIONS)["entry"]

    for entry in entries:
        original = entry["resource"]
        stored = sandbox_get(fhir_sandbox, f"{original['resourceType']}/{original['id']}")
        assert {key: value for key, value in stored.items() if key != "meta"} == {
            key: value for key, value in original.items() if key != "meta"
        }
    assert len(entries) == 42


def test_every_patient_searched_type_filters_by_patient_under_strict_handling(
    fhir_sandbox: SandboxHandle,
) -> None:
    found = {}
    for resource_type in PATIENT_SEARCHED_TYPES:
        bundle = sandbox_get(
            fhir_sandbox, resource_type, {"patient": PATRICIA, "_count": "100"}, headers=STRICT
        )
        assert {patient_of(resource) for resource in matches(bundle)} <= {f"Patient/{PATRICIA}"}, (
            resource_type
        )
        found[resource_type] = bundle["total"]

    assert found["DeviceUseStatement"] == 1
    assert found["Immunization"] == 8
    assert found["Observation"] == 12
    unknown = requests.get(
        f"{fhir_sandbox.base_url}/DeviceUseStatement",
        params={"no-such-param": "x"},
        headers=STRICT,
        timeout=10,
    )
    assert unknown.status_code == 400


def test_both_examples_sharing_a_composition_id_are_stored(fhir_sandbox: SandboxHandle) -> None:
    first = sandbox_get(fhir_sandbox, f"Composition/{SHARED_COMPOSITION}")
    second = sandbox_get(fhir_sandbox, f"Composition/{SHARED_COMPOSITION}-with-immunization")

    assert first["subject"] == {"reference": "Patient/2b90dd2b-2dab-4c75-9bb9-a355e07401e8"}
    # its urn:uuid references now name the stored resources of its own example
    assert second["subject"] == {
        "reference": "Patient/2b90dd2b-2dab-4c75-9bb9-a355e07401e1-with-immunization"
    }
    compositions = sandbox_get(
        fhir_sandbox, "Composition", {"type": "http://loinc.org|60591-5"}, headers=STRICT
    )
    assert compositions["total"] == 5


def test_the_capability_statement_does_not_advertise_everything(fhir_sandbox: SandboxHandle) -> None:
    capability = sandbox_get(fhir_sandbox, "metadata")

    [rest] = capability["rest"]
    operations = [op["name"] for resource in rest["resource"] for op in resource.get("operation", [])]
    assert "everything" not in operations
    assert "everything" not in [op["name"] for op in rest.get("operation", [])]
    params = {resource["type"]: {p["name"] for p in resource["searchParam"]} for resource in rest["resource"]}
    assert all("patient" in params[resource_type] for resource_type in PATIENT_SEARCHED_TYPES)
    assert "security" not in rest or "extension" not in rest["security"]  # open mode: no OAuth endpoints
    everything = requests.get(f"{fhir_sandbox.base_url}/Patient/{PATRICIA}/$everything", timeout=10)
    assert everything.status_code == 404


def test_searches_page_with_absolute_next_links_and_take_several_ids(fhir_sandbox: SandboxHandle) -> None:
    page = sandbox_get(fhir_sandbox, "Observation", {"patient": PATRICIA, "_count": "5"})

    assert page["total"] == 12
    assert len(matches(page)) == 5
    links = {link["relation"]: link["url"] for link in page["link"]}
    assert links["next"].startswith(f"{fhir_sandbox.base_url}/Observation?")
    second = requests.get(links["next"], timeout=10).json()
    assert {r["id"] for r in matches(second)}.isdisjoint({r["id"] for r in matches(page)})

    ids = [resource["id"] for resource in matches(page)[:3]]
    by_id = sandbox_get(fhir_sandbox, "Observation", {"_id": ",".join(ids)})
    assert sorted(resource["id"] for resource in matches(by_id)) == sorted(ids)


def test_a_fresh_sandbox_takes_changes(fresh_fhir_sandbox: SandboxHandle) -> None:
    condition = next(
        entry["resource"]
        for entry in ips_example(ALL_SECTIONS)["entry"]
        if entry["resource"]["resourceType"] == "Condition"
    )
    changed = {**condition, "note": [{"text": "Reviewed again"}]}

    stored = sandbox_put(fresh_fhir_sandbox, changed)

    assert stored["meta"]["versionId"] == "2"
    assert sandbox_get(fresh_fhir_sandbox, f"Condition/{condition['id']}")["note"] == [
        {"text": "Reviewed again"}
    ]


def test_load_files_are_stored_and_every_start_is_fresh(tmp_path: Path) -> None:
    james_device_use = {
        "resourceType": "DeviceUseStatement",
        "id": "james-device-use",
        "status": "active",
        "subject": {"reference": f"urn:uuid:{uuid.UUID(int=1)}"},
        "device": {"reference": "Device/eumfh-70-275-2"},
    }
    searchset = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{uuid.UUID(int=1)}",
                "resource": {"resourceType": "Patient", "id": JAMES, "active": True},
                "search": {"mode": "include"},
            },
            {"fullUrl": "https://elsewhere.example/fhir/DeviceUseStatement/james-device-use",
             "resource": james_device_use, "search": {"mode": "match"}},
            {"resource": {"resourceType": "OperationOutcome", "issue": []}, "search": {"mode": "outcome"}},
        ],
    }  # fmt: skip
    load_file = tmp_path / "extra.json"
    load_file.write_text(json.dumps(searchset), encoding="utf-8")
    data_dir = tmp_path / "data"

    loaded = start_sandbox(data_dir=data_dir, port=free_port(), log_path=tmp_path / "1.log", load=[load_file])
    try:
        james = sandbox_get(loaded, "DeviceUseStatement", {"patient": JAMES}, headers=STRICT)
        patricia = sandbox_get(loaded, "DeviceUseStatement", {"patient": PATRICIA}, headers=STRICT)
    finally:
        loaded.stop()
    assert [resource["id"] for resource in matches(james)] == ["james-device-use"]
    assert matches(james)[0]["subject"] == {"reference": f"Patient/{JAMES}"}
    assert [resource["id"] for resource in matches(patricia)] == ["eumfh-70-275-1"]
    assert loaded.process.process.returncode == 0, loaded.log()

    again = start_sandbox(data_dir=data_dir, port=free_port(), log_path=tmp_path / "2.log")
    try:
        gone = requests.get(f"{again.base_url}/DeviceUseStatement/james-device-use", timeout=10)
    finally:
        again.stop()
    assert gone.status_code == 404


# ---------------------------------------------------------------------------- SMART mode


def client_assertion(sandbox: SmartSandboxHandle) -> str:
    now = int(time.time())
    claims = {
        "iss": sandbox.client_id,
        "sub": sandbox.client_id,
        "aud": sandbox.token_url,
        "iat": now,
        "exp": now + 240,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, sandbox.private_key_pem, algorithm=sandbox.alg, headers={"kid": sandbox.key_id})


def search_patricia(sandbox: SandboxHandle, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(
        f"{sandbox.base_url}/Patient", params={"identifier": NHI}, headers=headers, timeout=10
    )


def test_smart_mode_refuses_a_search_without_a_token(smart_fhir_sandbox: SmartSandboxHandle) -> None:
    response = search_patricia(smart_fhir_sandbox, None)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_smart_mode_advertises_its_token_endpoint(smart_fhir_sandbox: SmartSandboxHandle) -> None:
    configuration = requests.get(f"{smart_fhir_sandbox.base_url}/.well-known/smart-configuration", timeout=10)
    capability = sandbox_get(smart_fhir_sandbox, "metadata")

    assert configuration.json()["token_endpoint"] == smart_fhir_sandbox.token_url
    [oauth] = capability["rest"][0]["security"]["extension"]
    assert oauth["url"] == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    assert {"url": "token", "valueUri": smart_fhir_sandbox.token_url} in oauth["extension"]


def test_a_client_secret_gets_a_read_token(smart_fhir_sandbox: SmartSandboxHandle) -> None:
    response = requests.post(
        smart_fhir_sandbox.token_url,
        data={"grant_type": "client_credentials", "scope": "system/*.read"},
        auth=(smart_fhir_sandbox.client_id, smart_fhir_sandbox.client_secret),
        timeout=10,
    )

    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    search = search_patricia(smart_fhir_sandbox, token)
    assert search.status_code == 200
    assert search.json()["total"] == 1
    write = requests.put(
        f"{smart_fhir_sandbox.base_url}/Patient/{PATRICIA}",
        json={"resourceType": "Patient", "id": PATRICIA},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert write.status_code == 403  # read scopes only


def test_a_wrong_client_secret_is_rejected(smart_fhir_sandbox: SmartSandboxHandle) -> None:
    response = requests.post(
        smart_fhir_sandbox.token_url,
        data={"grant_type": "client_credentials", "scope": "system/*.read"},
        auth=(smart_fhir_sandbox.client_id, "not-the-secret"),
        timeout=10,
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert search_patricia(smart_fhir_sandbox, "not-a-token").status_code == 401


def test_a_private_key_jwt_assertion_gets_a_token_once(smart_fhir_sandbox: SmartSandboxHandle) -> None:
    assertion = client_assertion(smart_fhir_sandbox)
    form = {
        "grant_type": "client_credentials",
        "scope": "system/*.read",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }

    response = requests.post(smart_fhir_sandbox.token_url, data=form, timeout=10)

    assert response.status_code == 200, response.text
    assert search_patricia(smart_fhir_sandbox, response.json()["access_token"]).json()["total"] == 1
    replay = requests.post(smart_fhir_sandbox.token_url, data=form, timeout=10)
    assert replay.status_code == 401  # the jti was used already
