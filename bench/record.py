"""A synthetic record of one patient: N resources of IPS types in a collection Bundle for the sandbox."""

import json
from pathlib import Path
from typing import Any

IDENTIFIER_SYSTEM = "urn:oid:1.2.208.176.1.2"
IDENTIFIER_VALUE = "BENCH-0001"
PATIENT_ID = "bench-patient"


def _subject() -> dict[str, str]:
    return {"reference": f"Patient/{PATIENT_ID}"}


def _condition(index: int) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"bench-condition-{index}",
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "code": {
            "coding": [{"system": "http://snomed.info/sct", "code": "38341003"}],
            "text": f"Condition {index}",
        },
        "subject": _subject(),
        "onsetDateTime": "2019-04-01",
    }


def _observation(index: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"bench-observation-{index}",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}], "text": "Hemoglobin"},
        "subject": _subject(),
        "effectiveDateTime": "2024-01-15T10:00:00Z",
        "valueQuantity": {"value": 13 + index % 3, "unit": "g/dL", "system": "http://unitsofmeasure.org"},
    }


def _immunization(index: int) -> dict[str, Any]:
    return {
        "resourceType": "Immunization",
        "id": f"bench-immunization-{index}",
        "status": "completed",
        "vaccineCode": {
            "coding": [{"system": "http://snomed.info/sct", "code": "836398006"}],
            "text": "Vaccine",
        },
        "patient": _subject(),
        "occurrenceDateTime": "2021-05-01",
    }


def _medication_pair(index: int) -> list[dict[str, Any]]:
    medication = {
        "resourceType": "Medication",
        "id": f"bench-medication-{index}",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "108774000"}], "text": "Medicine"},
    }
    statement = {
        "resourceType": "MedicationStatement",
        "id": f"bench-statement-{index}",
        "status": "active",
        "medicationReference": {"reference": f"Medication/{medication['id']}"},
        "subject": _subject(),
        "effectivePeriod": {"start": "2022-01-01"},
    }
    return [medication, statement]


def record_resources(count: int) -> list[dict[str, Any]]:
    """The patient and count-1 more: conditions, lab results, immunizations, medicines and statements."""
    patient = {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "identifier": [{"system": IDENTIFIER_SYSTEM, "value": IDENTIFIER_VALUE}],
        "name": [{"family": "Benchmark", "given": ["Berit"]}],
        "birthDate": "1970-01-01",
    }
    resources: list[dict[str, Any]] = [patient]
    index = 0
    while len(resources) < count:
        kind = index % 5
        if kind == 0:
            resources.append(_condition(index))
        elif kind in (1, 2):
            resources.append(_observation(index))
        elif kind == 3:
            resources.append(_immunization(index))
        else:
            resources.extend(_medication_pair(index))
        index += 1
    return resources[:count]


def write_record(path: Path, count: int) -> Path:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": resource} for resource in record_resources(count)],
    }
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path
