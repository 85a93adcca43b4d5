"""The three-source test world: one person's record as a hospital, a GP and a register/lab each hold it.

    python3 sandbox/make_sources.py --examples var/ips-2.0.0/package/example --out var/sources

Plain Python (standard library only, any python3). It reads the HL7 IPS 2.0.0 example
`Bundle-bundle-ips-all-sections.json` (Patricia Jordana, national identifier
`https://standards.digital.health.nz/ns/nhi-id|ABC1234`: the person `seed_demo` links the demo citizen to and
the eID sandbox signs in) and two Organization examples, and writes four files into --out:

    hospital.json   gp.json   register.json   (FHIR R4 transaction Bundles of PUTs, for launch.py --load)
    expected.json   (the manifest tests count against; its format is below)

Each source holds Patricia under its OWN Patient id (`hospital-…`, `gp-…`, `register-…`: every resource id
is the example's id behind the source's prefix) with the same NHI identifier, so a search
`Patient?identifier=https://standards.digital.health.nz/ns/nhi-id|ABC1234` finds her at all three, plus a
local identifier of the source's own. Every reference in a bundle names a resource of that bundle: the
supporting resources a clinical item points at (organisations, practitioners, the hip prosthesis) are copied
into each bundle that needs them.

What each source holds (clinical items; S = only this source has it):

- hospital (Someplace General Hospital): hypertension (overlap b), lisinopril *stopped* (the conflict),
  S: the penicillin allergy, impaired mobility, the resolved fever, cilazapril (stopped), the total hip
  replacement, the hip prosthesis in use, the do-not-resuscitate consent and its advance directive document,
  the pregnancy status.
- gp (NorthCare Pukete Road-Thomas Road): hypertension (overlap b), lisinopril *active* (the conflict), the
  2024-04-10 influenza vaccination (overlap a), S: gout, the Ultraproct ointment, the three vital signs, the
  two social-history observations, the shellfish-free-diet alert, the weight-management care plan.
- register (vaccination register and laboratory, Best Hospital Laboratory): all eight vaccinations (one of
  them overlap a), S: the other seven vaccinations, the six lipid results and the lipid panel report
  (a DiagnosticReport made here from those six results: the example has none).

The deliberate overlaps and the conflict:

(a) same Immunization, shared business identifier: the influenza vaccination of 2024-04-10 at the register
    and at the GP, both with the register's identifier (`REGISTER_IMMUNIZATION_SYSTEM`, a uuid5 of the
    example id). Every register vaccination carries such an identifier; nothing else at the GP does.
(b) same Condition, no identifiers: essential hypertension (SNOMED 59621000, onset 2016-05-25) at the hospital
    and at the GP; neither has an identifier, and the GP's copy was recorded later (recordedDate 2016-06-01).
(c) conflict: lisinopril (SNOMED 108575001) `active` at the GP (effectiveDateTime 2024-08-13, as in the
    example) and `stopped` at the hospital (effectivePeriod 2024-08-13 to 2024-11-04, dateAsserted
    2024-11-04, a statusReason): the hospital's statement is the later one.

No other clinical item is at more than one source. How it was made: every resource is a copy of the
example's (a few fields changed as above), its narrative replaced by a short generated one (the example's
narratives name the example's ids and pages); ids and references get the source's prefix; the hospital's
medication statements name the hospital as their information source. Output is deterministic: sorted keys,
entries in a fixed order, no clocks, uuids only uuid5 of fixed names. Run it twice: the same bytes.

expected.json:

    {
      "example": "Bundle-bundle-ips-all-sections.json",
      "person": {"name": ..., "identifier": {"system": ..., "value": ...}, "example_patient_id": ...},
      "sources": {"<source>": {"file": "<source>.json", "name": ..., "prefix": "<source>-",
                               "patient_id": ..., "local_identifier": {"system": ..., "value": ...},
                               "counts": {"<resourceType>": n, ...}, "total": n}, ...},
      "overlaps": [{"kind": "shared-identifier" | "same-code-and-onset", "resourceType": ...,
                    "example_id": ..., "sections": [IPS section LOINC codes], "match": {...},
                    "items": [{"source": ..., "resourceType": ..., "id": ...}, {...}]}, ...],
      "conflicts": [{"kind": "status", "resourceType": "MedicationStatement", "example_id": ...,
                     "sections": [...], "match": {"medication": {"system": ..., "code": ...}},
                     "items": [{"source": ..., "resourceType": ..., "id": ..., "status": ...,
                                "effectiveDateTime" | "effectivePeriod": ...}, ...],
                     "latest": {"source": ..., "date": ...}}],
      "single_source": [{"source": ..., "resourceType": ..., "id": ..., "example_id": ...,
                         "sections": [...]}, ...],
      "clinical_types": [the resource types that are record items: every other type is supporting],
      "merged_counts": {"<resourceType>": n}  (clinical items once each: an overlap or conflict pair is one)
    }

Every clinical item of every bundle is in exactly one overlap, conflict or single_source entry (checked here).

With `--mhd` it also writes mhd.json, a fourth source apart from the three (the three and their manifest
entries stay byte for byte as they are): one that publishes Patricia's patient summary only as a document
(IHE MHD). It holds her Patient (`mhd-…`, the NHI identifier and one of its own), a current
DocumentReference (LOINC 60591-5) whose attachment (application/fhir+json, `url` "Binary/mhd-ips-document",
relative to the server) is a Binary holding the IPS document Bundle: a Composition first, her Patient,
hypertension, gout and the penicillin allergy, all referring to each other by urn:uuid fullUrls. A Binary,
because the sandbox resolves every urn:uuid reference in a transaction, a nested document's too, and refuses
the ones that name no entry of the transaction (a document Bundle PUT on its own, outside a transaction, it
stores and serves). expected.json then has an "mhd" entry: file, patient_id, local_identifier,
document_reference, attachment_url, document_id (the document Bundle's id) and document_items (the example's
type and id of each item).
"""

from __future__ import annotations

import argparse
import base64
import copy
import html
import json
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    Resource = dict[str, Any]
    Key = tuple[str, str]  # (resourceType, id)

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = "Bundle-bundle-ips-all-sections.json"
EXTRA_EXAMPLES = ("Organization-TII-Organization1.json", "Organization-lab-org-example.json")

NHI_SYSTEM = "https://standards.digital.health.nz/ns/nhi-id"
NHI_VALUE = "ABC1234"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
REGISTER_IMMUNIZATION_SYSTEM = "https://register.example.org/fhir/sid/immunization-id"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://yellow-button.example/sandbox/three-sources")

# The example's ids.
PATIENT = "d174bd1a-b368-41e6-83a2-af77f2b3c60f"
GP_PRACTICE = "7a17027f-acc0-4d77-bf84-c0dad8f7c881"  # NorthCare Pukete Road-Thomas Road
HOSPITAL = "TII-Organization1"  # Someplace General Hospital (its own example file)
LAB = "lab-org-example"  # Best Hospital Laboratory (its own example file)
PATHOLOGIST = "75ed6f24-9a7e-4568-9c05-91b6d4786743"  # PractitionerRole
HYPERTENSION = "8039e4a7-d459-454c-92a5-6c17ca2a824b"
GOUT = "f8ab8ac1-56d1-4239-8303-dc70c1a3d0e1"
IMPAIRED_MOBILITY = "4f3d8f79-2f96-48c5-b346-d47f0c66c981"
FEVER = "77efacd9-b5a6-4b35-9764-269017ea7567"
PENICILLIN = "9838cf73-c30d-4aa5-8ed8-36a079060b81"
CILAZAPRIL = "c3d31980-2a88-45b6-a7af-3fe8d32cc6fa"
LISINOPRIL = "b8dac343-16d7-49bf-ac36-b15e6726c343"
ULTRAPROCT = "b8e4d4a8-2c18-4f03-88dc-06f5f44f8058"
INFLUENZA_2024 = "17b5a6d7-307b-4726-8c8c-0031e61582ce"
IMMUNIZATIONS = (
    INFLUENZA_2024, "14e8b0d8-b4e4-4f8e-b263-ef385787453b", "47befa30-026c-421a-ad32-c0b134597a30",
    "2f05b590-ce75-4ac6-be97-c2a275e21cbc", "c1d3ccb9-8b7d-4732-8e03-abe63be1984c",
    "79b66c21-fbd3-4c7f-ae82-ac958ae62e0a", "9910b96a-793b-4e96-91a9-291c27357f83",
    "5b028fb0-bd04-4e75-b2bc-6952771173ea",
)  # fmt: skip
LIPIDS = (
    "b0187efd-5f9b-474d-87bc-efebf877449a", "f40b9e26-93b4-462b-8811-bdd6943873aa",
    "612b7e6a-c902-45cb-b45c-d1894458a26b", "15bd8c0c-fa53-4f5b-994b-487c7db3dc78",
    "5019909f-097d-4a43-84d9-cc50143b8c82", "5d269392-79c1-4129-a142-0cdee6b49ea4",
)  # fmt: skip
VITAL_SIGNS = (
    "36ff59b8-d5a7-438e-b8c6-cd54af10a4af", "96e33a60-dbd8-47ce-b613-be954243939e",
    "4ea539e1-fff9-4f56-964f-650d9e69ce58",
)  # fmt: skip
SOCIAL_HISTORY = ("9f906425-8c18-4580-ab30-61a56d7f4c05", "e2e3f8aa-df2a-4357-b01f-a9fba6bb9b41")
PREGNANCY_STATUS = "f241ac65-5eab-49a0-8b92-7fb263274110"
DIET_FLAG = "e8ae9c4e-8f5a-4270-bfac-02368c567fcf"
HIP_REPLACEMENT = "39252"
HIP_PROSTHESIS_USE = "eumfh-70-275-1"
DNR_CONSENT = "080d85fa-c807-42d1-a3af-b3ee70858a54"
ADVANCE_DIRECTIVE = "advance-directive-123"
WEIGHT_PLAN = "85d57ac7-ea2d-47cf-b019-b867f876ee7c"
LIPID_PANEL = "lipid-panel-2023-10-31"  # made here: a DiagnosticReport over the six lipid results

# The resource types that are items of the record (the types the portal searches by patient); the others
# (Patient, Organization, Practitioner, PractitionerRole, Device) support them.
CLINICAL_TYPES = (
    "AllergyIntolerance", "CarePlan", "ClinicalImpression", "Condition", "Consent",
    "DeviceUseStatement", "DiagnosticReport", "DocumentReference", "Flag", "Immunization",
    "MedicationRequest", "MedicationStatement", "Observation", "Procedure",
)  # fmt: skip
ENTRY_ORDER = ("Patient", "Organization", "Practitioner", "PractitionerRole", "Device", *CLINICAL_TYPES)


class Source:
    def __init__(
        self,
        key: str,
        name: str,
        base_url: str,
        local_identifier: dict[str, str],
        items: list[Key],
        organization_for: dict[str, str] | None = None,
    ) -> None:
        self.key = key
        self.name = name
        self.prefix = f"{key}-"
        self.file = f"{key}.json"
        self.base_url = base_url
        self.local_identifier = local_identifier
        self.items = items
        # Organization references of the example rewritten for this source (example id → example id).
        self.organization_for = organization_for or {}


SOURCES = (
    Source(
        "hospital",
        "Someplace General Hospital",
        "https://hospital.example.org/fhir",
        {"system": "https://hospital.example.org/fhir/sid/mrn", "value": "H-104729"},
        [
            ("Condition", HYPERTENSION),
            ("MedicationStatement", LISINOPRIL),
            ("AllergyIntolerance", PENICILLIN),
            ("Condition", IMPAIRED_MOBILITY),
            ("Condition", FEVER),
            ("MedicationStatement", CILAZAPRIL),
            ("Procedure", HIP_REPLACEMENT),
            ("DeviceUseStatement", HIP_PROSTHESIS_USE),
            ("Consent", DNR_CONSENT),
            ("DocumentReference", ADVANCE_DIRECTIVE),
            ("Observation", PREGNANCY_STATUS),
        ],
        organization_for={GP_PRACTICE: HOSPITAL},
    ),
    Source(
        "gp",
        "NorthCare Pukete Road-Thomas Road (GP)",
        "https://gp.example.org/fhir",
        {"system": "https://gp.example.org/fhir/sid/patient-number", "value": "GP-2231"},
        [
            ("Condition", HYPERTENSION),
            ("MedicationStatement", LISINOPRIL),
            ("Immunization", INFLUENZA_2024),
            ("Condition", GOUT),
            ("MedicationStatement", ULTRAPROCT),
            *(("Observation", rid) for rid in VITAL_SIGNS),
            *(("Observation", rid) for rid in SOCIAL_HISTORY),
            ("Flag", DIET_FLAG),
            ("CarePlan", WEIGHT_PLAN),
        ],
    ),
    Source(
        "register",
        "Vaccination register and laboratory",
        "https://register.example.org/fhir",
        {"system": "https://register.example.org/fhir/sid/person", "value": "VR-559310"},
        [
            *(("Immunization", rid) for rid in IMMUNIZATIONS),
            *(("Observation", rid) for rid in LIPIDS),
            ("DiagnosticReport", LIPID_PANEL),
        ],
    ),
)


# ---------------------------------------------------------------------------- changes to the example's copies


def register_identifier(example_id: str) -> dict[str, str]:
    return {"system": REGISTER_IMMUNIZATION_SYSTEM, "value": str(uuid.uuid5(NAMESPACE, f"imm:{example_id}"))}


def with_register_identifier(resource: Resource) -> None:
    resource["identifier"] = [register_identifier(resource["id"])]


def recorded_later_at_gp(resource: Resource) -> None:
    resource["recordedDate"] = "2016-06-01"


def stopped_at_hospital(resource: Resource) -> None:
    resource["status"] = "stopped"
    resource.pop("effectiveDateTime", None)
    resource["effectivePeriod"] = {"start": "2024-08-13", "end": "2024-11-04"}
    resource["dateAsserted"] = "2024-11-04"
    resource["statusReason"] = [{"text": "Stopped on admission: low blood pressure"}]


CHANGES: dict[tuple[str, str, str], Callable[[Resource], None]] = {
    ("register", "Immunization", rid): with_register_identifier for rid in IMMUNIZATIONS
}
CHANGES[("gp", "Immunization", INFLUENZA_2024)] = with_register_identifier
CHANGES[("gp", "Condition", HYPERTENSION)] = recorded_later_at_gp
CHANGES[("hospital", "MedicationStatement", LISINOPRIL)] = stopped_at_hospital


def lipid_panel() -> Resource:
    """The lab's report over the example's six lipid results (same day, same pathologist)."""
    return {
        "resourceType": "DiagnosticReport",
        "id": LIPID_PANEL,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                        "code": "LAB",
                        "display": "Laboratory",
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": LOINC, "code": "24331-1", "display": "Lipid 1996 panel - Serum or Plasma"}]
        },
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": "2023-10-31T15:06:00+00:00",
        "issued": "2023-10-31T15:06:00+00:00",
        "performer": [{"reference": f"Organization/{LAB}"}],
        "resultsInterpreter": [{"reference": f"PractitionerRole/{PATHOLOGIST}"}],
        "result": [{"reference": f"Observation/{rid}"} for rid in LIPIDS],
        "conclusion": "Incr chol 5.7, LDL 3.6, HDL 1.39",
    }


# ---------------------------------------------------------------------------- building


def references(value: Any) -> list[dict[str, Any]]:
    """Every Reference object (a dict with a string `reference`) inside a resource."""
    found: list[dict[str, Any]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("reference"), str):
                found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def label(resource: Resource) -> str:
    rtype = resource["resourceType"]
    if rtype == "Patient" or rtype == "Practitioner":
        name = (resource.get("name") or [{}])[0]
        return " ".join([*name.get("given", [])[:1], name.get("family", "")]).strip()
    if rtype == "Organization":
        return str(resource.get("name", ""))
    for field in ("code", "vaccineCode", "medicationCodeableConcept", "type", "category", "scope"):
        concept = resource.get(field)
        if isinstance(concept, list):
            concept = concept[0] if concept else None
        if isinstance(concept, dict):
            if concept.get("text"):
                return str(concept["text"])
            for coding in concept.get("coding", []):
                if coding.get("display"):
                    return str(coding["display"])
    if rtype == "DeviceUseStatement":
        return str(resource.get("device", {}).get("display", "Device use"))
    return str(resource.get("description", ""))


def narrative(resource: Resource) -> dict[str, str]:
    """A short generated narrative: the example's own narratives name its ids and pages."""
    parts = [label(resource)]
    status = resource.get("status") or (resource.get("clinicalStatus", {}).get("coding") or [{}])[0].get(
        "code"
    )
    if status:
        parts.append(str(status))
    for field in (
        "onsetDateTime",
        "effectiveDateTime",
        "occurrenceDateTime",
        "performedDateTime",
        "birthDate",
    ):
        if resource.get(field):
            parts.append(str(resource[field]))
    period = resource.get("effectivePeriod")
    if period:
        parts.append(f"{period.get('start', '')} to {period.get('end', '')}")
    text = html.escape(f"{resource['resourceType']}: " + ", ".join(part for part in parts if part))
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{text}</p></div>'}


def build_source(source: Source, index: dict[Key, Resource]) -> list[Resource]:
    """The source's resources: its items, changed as CHANGES says, and everything they reference."""
    chosen: dict[Key, Resource] = {}
    queue = list(source.items)
    while queue:
        key = queue.pop(0)
        if key in chosen:
            continue
        if key not in index:
            raise SystemExit(f"make_sources: {key[0]}/{key[1]} is not in the examples")
        resource = copy.deepcopy(index[key])
        change = CHANGES.get((source.key, *key))
        if change:
            change(resource)
        for ref in references(resource):
            rtype, _, rid = ref["reference"].partition("/")
            if rtype == "Organization" and rid in source.organization_for:
                rid = source.organization_for[rid]
                ref["reference"] = f"Organization/{rid}"
            queue.append((rtype, rid))
        chosen[key] = resource
    out = []
    for (rtype, rid), resource in chosen.items():
        resource["id"] = source.prefix + rid
        for ref in references(resource):
            ref_type, _, ref_id = ref["reference"].partition("/")
            ref["reference"] = f"{ref_type}/{source.prefix}{ref_id}"
        if rtype == "Patient":
            resource["identifier"] = [{"system": NHI_SYSTEM, "value": NHI_VALUE}, source.local_identifier]
        resource["text"] = narrative(resource)
        out.append(resource)
    out.sort(key=lambda r: (ENTRY_ORDER.index(r["resourceType"]), r["id"]))
    ids = {(r["resourceType"], r["id"]) for r in out}
    for resource in out:
        for ref in references(resource):
            ref_type, _, ref_id = ref["reference"].partition("/")
            if (ref_type, ref_id) not in ids:
                raise SystemExit(f"make_sources: {source.key}: {ref['reference']} does not resolve")
    return out


def transaction(source: Source, resources: list[Resource]) -> Resource:
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(NAMESPACE, f"bundle:{source.key}")),
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"{source.base_url}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in resources
        ],
    }


def sections_of(composition: Resource) -> dict[Key, list[str]]:
    """(resourceType, example id) → the IPS section codes (LOINC) whose entries name it, in section order."""
    found: dict[Key, list[str]] = {}
    for section in composition.get("section", []):
        code = section["code"]["coding"][0]["code"]
        for entry in section.get("entry", []):
            rtype, _, rid = entry["reference"].partition("/")
            found.setdefault((rtype, rid), []).append(code)
    found[("DiagnosticReport", LIPID_PANEL)] = ["30954-2"]
    return found


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"make_sources: the test world is not as planned: {what}")


def item(source: str, resource: Resource) -> dict[str, str]:
    return {"source": source, "resourceType": resource["resourceType"], "id": resource["id"]}


def manifest(built: dict[str, list[Resource]], sections: dict[Key, list[str]]) -> Resource:
    by_key = {key: {(r["resourceType"], r["id"]): r for r in rs} for key, rs in built.items()}
    sources = {source.key: source for source in SOURCES}

    def at(source: str, rtype: str, example_id: str) -> Resource:
        return by_key[source][(rtype, sources[source].prefix + example_id)]

    flu_register, flu_gp = (
        at("register", "Immunization", INFLUENZA_2024),
        at("gp", "Immunization", INFLUENZA_2024),
    )
    htn_hospital, htn_gp = at("hospital", "Condition", HYPERTENSION), at("gp", "Condition", HYPERTENSION)
    lis_gp, lis_hospital = (
        at("gp", "MedicationStatement", LISINOPRIL),
        at("hospital", "MedicationStatement", LISINOPRIL),
    )
    # The overlaps and the conflict are what they claim to be.
    check(flu_register["identifier"] == flu_gp["identifier"] == [register_identifier(INFLUENZA_2024)], "(a)")
    check("identifier" not in htn_hospital and "identifier" not in htn_gp, "(b) has identifiers")
    check(htn_hospital["code"] == htn_gp["code"], "(b) codes differ")
    check(htn_hospital["onsetDateTime"] == htn_gp["onsetDateTime"], "(b) onsets differ")
    check(lis_gp["medicationCodeableConcept"] == lis_hospital["medicationCodeableConcept"], "(c) medications")
    check((lis_gp["status"], lis_hospital["status"]) == ("active", "stopped"), "(c) statuses")

    overlaps: list[dict[str, Any]] = [
        {
            "kind": "shared-identifier",
            "resourceType": "Immunization",
            "example_id": INFLUENZA_2024,
            "sections": sections[("Immunization", INFLUENZA_2024)],
            "match": {"identifier": register_identifier(INFLUENZA_2024)},
            "items": [item("register", flu_register), item("gp", flu_gp)],
        },
        {
            "kind": "same-code-and-onset",
            "resourceType": "Condition",
            "example_id": HYPERTENSION,
            "sections": sections[("Condition", HYPERTENSION)],
            "match": {"code": {"system": SNOMED, "code": "59621000"}, "onset": "2016-05-25"},
            "items": [item("hospital", htn_hospital), item("gp", htn_gp)],
        },
    ]
    conflicts: list[dict[str, Any]] = [
        {
            "kind": "status",
            "resourceType": "MedicationStatement",
            "example_id": LISINOPRIL,
            "sections": sections[("MedicationStatement", LISINOPRIL)],
            "match": {"medication": {"system": SNOMED, "code": "108575001"}},
            "items": [
                {**item("gp", lis_gp), "status": "active", "effectiveDateTime": lis_gp["effectiveDateTime"]},
                {
                    **item("hospital", lis_hospital),
                    "status": "stopped",
                    "effectivePeriod": lis_hospital["effectivePeriod"],
                },
            ],
            "latest": {"source": "hospital", "date": lis_hospital["effectivePeriod"]["end"]},
        }
    ]
    paired = {
        (entry["source"], entry["resourceType"], entry["id"])
        for group in (*overlaps, *conflicts)
        for entry in group["items"]
    }
    single_source = []
    merged: dict[str, int] = {}
    for group in (*overlaps, *conflicts):
        merged[group["resourceType"]] = merged.get(group["resourceType"], 0) + 1
    for source in SOURCES:
        for resource in built[source.key]:
            rtype = resource["resourceType"]
            if rtype not in CLINICAL_TYPES or (source.key, rtype, resource["id"]) in paired:
                continue
            example_id = resource["id"][len(source.prefix) :]
            single_source.append(
                {
                    **item(source.key, resource),
                    "example_id": example_id,
                    "sections": sections.get((rtype, example_id), []),
                }
            )
            merged[rtype] = merged.get(rtype, 0) + 1
    # Nothing else is at two sources: no example id among the single-source items twice, none of them paired.
    singles = [(entry["resourceType"], entry["example_id"]) for entry in single_source]
    check(len(singles) == len(set(singles)), "an unplanned overlap")
    check(
        not set(singles) & {(g["resourceType"], g["example_id"]) for g in (*overlaps, *conflicts)}, "paired"
    )

    described = {}
    for source in SOURCES:
        counts: dict[str, int] = {}
        for resource in built[source.key]:
            counts[resource["resourceType"]] = counts.get(resource["resourceType"], 0) + 1
        described[source.key] = {
            "file": source.file,
            "name": source.name,
            "prefix": source.prefix,
            "patient_id": source.prefix + PATIENT,
            "local_identifier": source.local_identifier,
            "counts": counts,
            "total": len(built[source.key]),
        }
    return {
        "example": EXAMPLE,
        "person": {
            "name": "Patricia Jordana",
            "identifier": {"system": NHI_SYSTEM, "value": NHI_VALUE},
            "example_patient_id": PATIENT,
        },
        "sources": described,
        "overlaps": overlaps,
        "conflicts": conflicts,
        "single_source": single_source,
        "clinical_types": list(CLINICAL_TYPES),
        "merged_counts": merged,
    }


# ---------------------------------------------------------------------------- the MHD source (--mhd)

MHD_KEY = "mhd"
MHD_PREFIX = "mhd-"
MHD_BASE_URL = "https://mhd.example.org/fhir"
MHD_LOCAL_IDENTIFIER = {"system": "https://mhd.example.org/fhir/sid/patient", "value": "MHD-30417"}
MHD_ITEMS = (("Condition", HYPERTENSION), ("Condition", GOUT), ("AllergyIntolerance", PENICILLIN))
MHD_DOCUMENT = MHD_PREFIX + "ips-document"  # the DocumentReference's and the Binary's id
MHD_TIMESTAMP = "2025-01-15T09:00:00+13:00"
SECTION_CODES = {"Condition": ("11450-4", "Problem list - Reported"), "AllergyIntolerance": (
    "48765-2", "Allergies and adverse reactions Document")}  # fmt: skip


def urn(name: str) -> str:
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'mhd:{name}')}"


def mhd_document(index: dict[Key, Resource]) -> Resource:
    """Patricia's patient summary as the MHD source publishes it: an IPS document Bundle whose entries refer
    to each other by urn:uuid fullUrls, as real IPS documents do (the entries keep the example's ids)."""
    patient = copy.deepcopy(index[("Patient", PATIENT)])
    patient["identifier"] = [{"system": NHI_SYSTEM, "value": NHI_VALUE}, MHD_LOCAL_IDENTIFIER]
    patient["text"] = narrative(patient)
    patient_urn = urn(f"Patient/{PATIENT}")
    items = []
    for rtype, rid in MHD_ITEMS:
        resource = copy.deepcopy(index[(rtype, rid)])
        for field in ("asserter", "recorder"):  # who said so is not in this document
            resource.pop(field, None)
        resource["subject" if rtype == "Condition" else "patient"] = {"reference": patient_urn}
        resource["text"] = narrative(resource)
        items.append(resource)
    sections = []
    for rtype in ("AllergyIntolerance", "Condition"):
        code, display = SECTION_CODES[rtype]
        in_section = [r for r in items if r["resourceType"] == rtype]
        listed = "".join(f"<li>{html.escape(label(r))}</li>" for r in in_section)
        sections.append({
            "title": display, "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
            "text": {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><ul>{listed}</ul></div>'},
            "entry": [{"reference": urn(f"{r['resourceType']}/{r['id']}")} for r in in_section],
        })  # fmt: skip
    sections.append({
        "title": "Medication Summary",
        "code": {"coding": [{"system": LOINC, "code": "10160-0",
                             "display": "History of Medication use Narrative"}]},
        "text": {"status": "generated",
                 "div": '<div xmlns="http://www.w3.org/1999/xhtml">No information</div>'},
        "emptyReason": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                                    "code": "unavailable"}]},
    })  # fmt: skip
    composition_id = str(uuid.uuid5(NAMESPACE, "mhd:composition"))
    composition: Resource = {
        "resourceType": "Composition", "id": composition_id, "status": "final",
        "type": {"coding": [{"system": LOINC, "code": "60591-5", "display": "Patient summary Document"}]},
        "subject": {"reference": patient_urn}, "date": MHD_TIMESTAMP,
        "author": [{"reference": patient_urn}], "title": "Patient Summary as of 15 January 2025",
        "section": sections,
    }  # fmt: skip
    composition["text"] = narrative(composition)
    entries: list[Resource] = [{"fullUrl": urn(f"Composition/{composition_id}"), "resource": composition},
               {"fullUrl": patient_urn, "resource": patient}]  # fmt: skip
    entries += [{"fullUrl": urn(f"{r['resourceType']}/{r['id']}"), "resource": r} for r in items]
    return {
        "resourceType": "Bundle", "id": str(uuid.uuid5(NAMESPACE, "mhd:document")), "type": "document",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": urn("document-identifier")},
        "timestamp": MHD_TIMESTAMP, "entry": entries,
    }  # fmt: skip


def mhd_transaction(index: dict[Key, Resource]) -> tuple[Resource, Resource]:
    """The MHD source's transaction: Patricia's Patient, one DocumentReference and the document it points to,
    stored as a Binary (the sandbox refuses a document Bundle inside a transaction: it resolves every urn:uuid
    reference, nested ones too, against the transaction's own entries). And its manifest entry."""
    patient = copy.deepcopy(index[("Patient", PATIENT)])
    patient["id"] = MHD_PREFIX + PATIENT
    patient["identifier"] = [{"system": NHI_SYSTEM, "value": NHI_VALUE}, MHD_LOCAL_IDENTIFIER]
    patient["text"] = narrative(patient)
    document = mhd_document(index)
    document_reference = {
        "resourceType": "DocumentReference", "id": MHD_DOCUMENT, "status": "current",
        "type": {"coding": [{"system": LOINC, "code": "60591-5", "display": "Patient summary Document"}]},
        "subject": {"reference": f"Patient/{patient['id']}"}, "date": MHD_TIMESTAMP,
        "description": "Patient summary",
        "content": [{"attachment": {"contentType": "application/fhir+json", "url": f"Binary/{MHD_DOCUMENT}",
                                    "title": "Patient summary"},
                     "format": {"system": "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode",
                                "code": "urn:ihe:pcc:ips:2020"}}],
    }  # fmt: skip
    document_reference["text"] = narrative(document_reference)
    data = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    binary = {
        "resourceType": "Binary", "id": MHD_DOCUMENT, "contentType": "application/fhir+json",
        "data": base64.b64encode(data).decode("ascii"),
    }  # fmt: skip
    resources = [patient, document_reference, binary]
    bundle = {
        "resourceType": "Bundle", "id": str(uuid.uuid5(NAMESPACE, "bundle:mhd")), "type": "transaction",
        "entry": [
            {"fullUrl": f"{MHD_BASE_URL}/{r['resourceType']}/{r['id']}", "resource": r,
             "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources
        ],
    }  # fmt: skip
    described = {
        "file": f"{MHD_KEY}.json", "name": "Patient summary publisher (MHD)", "prefix": MHD_PREFIX,
        "patient_id": patient["id"], "local_identifier": MHD_LOCAL_IDENTIFIER,
        "document_reference": MHD_DOCUMENT, "attachment_url": f"Binary/{MHD_DOCUMENT}",
        "document_id": document["id"],
        "document_items": [{"resourceType": rtype, "example_id": rid} for rtype, rid in MHD_ITEMS],
    }  # fmt: skip
    return bundle, described


def dumps(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def make(examples: Path, out: Path, *, mhd: bool = False) -> dict[str, Path]:
    """Write the three bundles and expected.json into `out`; returns what was written, by name. With `mhd`,
    also mhd.json and an "mhd" entry in expected.json (the three sources stay exactly as they are)."""
    example = json.loads((examples / EXAMPLE).read_text(encoding="utf-8"))
    index: dict[Key, Resource] = {}
    for entry in example["entry"]:
        resource = entry["resource"]
        index[(resource["resourceType"], resource["id"])] = resource
    for name in EXTRA_EXAMPLES:
        resource = json.loads((examples / name).read_text(encoding="utf-8"))
        index[(resource["resourceType"], resource["id"])] = resource
    index[("DiagnosticReport", LIPID_PANEL)] = lipid_panel()
    composition = index[("Composition", example["entry"][0]["resource"]["id"])]

    built = {source.key: build_source(source, index) for source in SOURCES}
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for source in SOURCES:
        path = out / source.file
        path.write_bytes(dumps(transaction(source, built[source.key])))
        written[source.key] = path
    described = manifest(built, sections_of(composition))
    if mhd:
        bundle, described["mhd"] = mhd_transaction(index)
        path = out / described["mhd"]["file"]
        path.write_bytes(dumps(bundle))
        written[MHD_KEY] = path
    path = out / "expected.json"
    path.write_bytes(dumps(described))
    written["expected"] = path
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--examples",
        type=Path,
        default=REPO / "var" / "ips-2.0.0" / "package" / "example",
        help="the IPS 2.0.0 package's example directory (make sandbox unpacks it)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "var" / "sources", help="where the files go")
    parser.add_argument(
        "--mhd", action="store_true", help="also mhd.json: a fourth source that publishes a document only"
    )
    args = parser.parse_args(argv)
    if not (args.examples / EXAMPLE).exists():
        parser.error(f"no {EXAMPLE} in {args.examples} (run `make sandbox`)")
    for name, path in make(args.examples, args.out, mhd=args.mhd).items():
        sys.stdout.write(f"{name}: {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
