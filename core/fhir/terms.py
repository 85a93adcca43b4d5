"""Code systems and resource type groups the core reads and writes, named once."""

from typing import Final

LOINC: Final = "http://loinc.org"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
CONSENT_SCOPE: Final = "http://terminology.hl7.org/CodeSystem/consentscope"
LIST_EMPTY_REASON: Final = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
ACT_CLASS: Final = "http://terminology.hl7.org/CodeSystem/v3-ActClass"
XHTML_NS: Final = "http://www.w3.org/1999/xhtml"

MEDICATION_TYPES: Final = frozenset(
    {"MedicationStatement", "MedicationRequest", "MedicationAdministration", "MedicationDispense"}
)
