"""A synthetic record of one patient: N resources of IPS types in a collection Bundle for the sandbox.

Every id starts with a prefix ("bench" unless told): records of one person at several sources (the same
identifier) differ in their ids, as their rows do.
"""

import json
from pathlib import Path
from typing import Any

IDENTIFIER_SYSTEM = "urn:oid:1.2.208.176.1.2"
IDENTIFIER_VALUE = "BENCH-0001"
PREFIX = "bench"
PATIENT_ID = f"{PREFIX}-patient"


def _subject(prefix: str) -> dict[str, str]:
    return {"reference": f"Patient/{prefix}-patient"}


def _condition(index: int, prefix: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"{prefix}-condition-{index}",
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "code": {
            "coding": [{"system": "http://snomed.info/sct", "code": "38341003"}],
            "text": f"Condition {index}",
        },
        "subject": _subject(prefix),
        "onsetDateTime": "2019-04-01",
    }


def _observation(index: int, prefix: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"{prefix}-observation-{index}",
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
        "subject": _subject(prefix),
        "effectiveDateTime": "2024-01-15T10:00:00Z",
        "valueQuantity": {"value": 13 + index % 3, "unit": "g/dL", "system": "http://unitsofmeasure.org"},
    }


def _immunization(index: int, prefix: str) -> dict[str, Any]:
    return {
        "resourceType": "Immunization",
        "id": f"{prefix}-immunization-{index}",
        "status": "completed",
        "vaccineCode": {
            "coding": [{"system": "http://snomed.info/sct", "code": "836398006"}],
            "text": "Vaccine",
        },
        "patient": _subject(prefix),
        "occurrenceDateTime": "2021-05-01",
    }


def _medication_pair(index: int, prefix: str) -> list[dict[str, Any]]:
    medication = {
        "resourceType": "Medication",
        "id": f"{prefix}-medication-{index}",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "108774000"}], "text": "Medicine"},
    }
    statement = {
        "resourceType": "MedicationStatement",
        "id": f"{prefix}-statement-{index}",
        "status": "active",
        "medicationReference": {"reference": f"Medication/{medication['id']}"},
        "subject": _subject(prefix),
        "effectivePeriod": {"start": "2022-01-01"},
    }
    return [medication, statement]


def record_resources(count: int, *, prefix: str = PREFIX) -> list[dict[str, Any]]:
    """The patient and count-1 more: conditions, lab results, immunizations, medicines and statements."""
    patient = {
        "resourceType": "Patient",
        "id": f"{prefix}-patient",
        "identifier": [{"system": IDENTIFIER_SYSTEM, "value": IDENTIFIER_VALUE}],
        "name": [{"family": "Benchmark", "given": ["Berit"]}],
        "birthDate": "1970-01-01",
    }
    resources: list[dict[str, Any]] = [patient]
    index = 0
    while len(resources) < count:
        kind = index % 5
        if kind == 0:
            resources.append(_condition(index, prefix))
        elif kind in (1, 2):
            resources.append(_observation(index, prefix))
        elif kind == 3:
            resources.append(_immunization(index, prefix))
        else:
            resources.extend(_medication_pair(index, prefix))
        index += 1
    return resources[:count]


def write_record(path: Path, count: int, *, prefix: str = PREFIX) -> Path:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": resource} for resource in record_resources(count, prefix=prefix)],
    }
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path
