"""The IPS 2.0.0 sections: the one table behind the record page, IPS assembly, the PDF and translations.

Codes, titles and cardinalities follow the IG's Composition profile (``Composition-uv-ips``, the slices of
``Composition.section`` and their fixed LOINC codes). Titles are the slice names without the leading "IPS"
and trailing "Section" ("IPS Allergies and Intolerances Section" → "Allergies and Intolerances"). The
order is the IG's: the three required sections, the four recommended ones, then the optional ones.

``section_of`` sorts one stored FHIR R4 resource into the section it belongs to. It never raises: whatever
arrives from upstream, the answer is a section or ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from core.fhir.read import codes_of
from core.fhir.terms import CONSENT_SCOPE, LOINC, MEDICATION_TYPES, OBSERVATION_CATEGORY
from core.i18n import gettext_noop


@dataclass(frozen=True)
class Section:
    """One IPS section.

    ``resource_types`` are the entry types the IG's section slices allow in an IPS document;
    ``source_types`` are the stored resource types ``section_of`` files here (a superset where the
    portal shows more than the IPS may carry, e.g. medication dispenses under the medication summary).
    """

    key: str
    loinc: str
    title: str
    required: bool
    resource_types: tuple[str, ...]
    recommended: bool = False
    source_types: tuple[str, ...] = ()
    slice_name: str = ""
    loinc_display: str = ""

    @property
    def optional(self) -> bool:
        return not (self.required or self.recommended)


SECTIONS: Final[tuple[Section, ...]] = (
    # Required (1..1 in the Composition profile).
    Section(
        key="problems",
        loinc="11450-4",
        title=gettext_noop("Problems"),
        required=True,
        resource_types=("Condition",),
        source_types=("Condition",),
        slice_name="sectionProblems",
        loinc_display="Problem list - Reported",
    ),
    Section(
        key="allergies",
        loinc="48765-2",
        title=gettext_noop("Allergies and Intolerances"),
        required=True,
        resource_types=("AllergyIntolerance",),
        source_types=("AllergyIntolerance",),
        slice_name="sectionAllergies",
        loinc_display="Allergies and adverse reactions Document",
    ),
    Section(
        key="medications",
        loinc="10160-0",
        title=gettext_noop("Medication Summary"),
        required=True,
        resource_types=("MedicationStatement", "MedicationRequest"),
        source_types=(
            "MedicationStatement",
            "MedicationRequest",
            "MedicationAdministration",
            "MedicationDispense",
        ),
        slice_name="sectionMedications",
        loinc_display="History of Medication use Narrative",
    ),
    # Recommended.
    Section(
        key="immunizations",
        loinc="11369-6",
        title=gettext_noop("Immunizations"),
        required=False,
        recommended=True,
        resource_types=("Immunization",),
        source_types=("Immunization",),
        slice_name="sectionImmunizations",
        loinc_display="History of Immunization note",
    ),
    Section(
        key="results",
        loinc="30954-2",
        title=gettext_noop("Results"),
        required=False,
        recommended=True,
        resource_types=("Observation", "DiagnosticReport"),
        source_types=("Observation", "DiagnosticReport"),
        slice_name="sectionResults",
        loinc_display="Relevant diagnostic tests/laboratory data note",
    ),
    Section(
        key="procedures",
        loinc="47519-4",
        title=gettext_noop("History of Procedures"),
        required=False,
        recommended=True,
        resource_types=("Procedure",),
        source_types=("Procedure",),
        slice_name="sectionProceduresHx",
        loinc_display="History of Procedures Document",
    ),
    Section(
        key="devices",
        loinc="46264-8",
        title=gettext_noop("Medical Devices"),
        required=False,
        recommended=True,
        resource_types=("DeviceUseStatement",),
        source_types=("DeviceUseStatement",),
        slice_name="sectionMedicalDevices",
        loinc_display="History of medical device use",
    ),
    # Optional.
    Section(
        key="vital_signs",
        loinc="8716-3",
        title=gettext_noop("Vital Signs"),
        required=False,
        resource_types=("Observation",),
        source_types=("Observation",),
        slice_name="sectionVitalSigns",
        loinc_display="Vital signs note",
    ),
    Section(
        key="past_illness",
        loinc="11348-0",
        title=gettext_noop("History of Past Problems"),
        required=False,
        resource_types=("Condition",),
        source_types=("Condition",),
        slice_name="sectionPastProblems",
        loinc_display="History of Past illness note",
    ),
    Section(
        key="functional_status",
        loinc="47420-5",
        title=gettext_noop("Functional Status"),
        required=False,
        resource_types=("Condition", "ClinicalImpression"),
        source_types=("Condition", "ClinicalImpression", "Observation"),
        slice_name="sectionFunctionalStatus",
        loinc_display="Functional status assessment note",
    ),
    Section(
        key="plan_of_care",
        loinc="18776-5",
        title=gettext_noop("Plan of Care"),
        required=False,
        resource_types=("CarePlan", "ImmunizationRecommendation"),
        source_types=("CarePlan", "ImmunizationRecommendation"),
        slice_name="sectionPlanOfCare",
        loinc_display="Plan of care note",
    ),
    Section(
        key="social_history",
        loinc="29762-2",
        title=gettext_noop("Social History"),
        required=False,
        resource_types=("Observation",),
        source_types=("Observation",),
        slice_name="sectionSocialHistory",
        loinc_display="Social history note",
    ),
    Section(
        key="pregnancy",
        loinc="10162-6",
        title=gettext_noop("History of Pregnancy"),
        required=False,
        resource_types=("Observation",),
        source_types=("Observation",),
        slice_name="sectionPregnancyHx",
        loinc_display="History of pregnancies Narrative",
    ),
    Section(
        key="advance_directives",
        loinc="42348-3",
        title=gettext_noop("Advance Directives"),
        required=False,
        resource_types=("Consent",),
        source_types=("Consent", "DocumentReference"),
        slice_name="sectionAdvanceDirectives",
        loinc_display="Advance healthcare directives",
    ),
    Section(
        key="alerts",
        loinc="104605-1",
        title=gettext_noop("Alerts"),
        required=False,
        resource_types=("Flag",),
        source_types=("Flag",),
        slice_name="sectionAlerts",
        loinc_display="Alert",
    ),
    Section(
        key="patient_story",
        loinc="81338-6",
        title=gettext_noop("Patient Story"),
        required=False,
        # The IG defines no entry slice here: the section is narrative written by or for the patient.
        resource_types=(),
        source_types=(),
        slice_name="sectionPatientStory",
        loinc_display="Patient Goals, preferences, and priorities for care experience",
    ),
)

SECTION_BY_KEY: Final[Mapping[str, Section]] = MappingProxyType({s.key: s for s in SECTIONS})
SECTION_BY_LOINC: Final[Mapping[str, Section]] = MappingProxyType({s.loinc: s for s in SECTIONS})

# ---------------------------------------------------------------------------- codes the classifier reads

# Observation-pregnancy-status-uv-ips fixes Observation.code to 82810-3; Observation-pregnancy-outcome-uv-ips
# binds it (required) to ValueSet pregnancies-summary-uv-ips; Observation-pregnancy-edd-uv-ips to
# ValueSet edd-method-uv-ips.
PREGNANCY_STATUS_CODES: Final = frozenset({"82810-3"})
PREGNANCY_OUTCOME_CODES: Final = frozenset(
    {"11636-8", "11637-6", "11638-4", "11639-2", "11640-0", "11612-9", "11613-7", "11614-5", "33065-4"}
)
PREGNANCY_EDD_CODES: Final = frozenset({"11778-8", "11779-6", "11780-4"})
PREGNANCY_CODES: Final = PREGNANCY_STATUS_CODES | PREGNANCY_OUTCOME_CODES | PREGNANCY_EDD_CODES

# The FHIR R4 vital signs profiles' LOINC codes: used only when an Observation carries no category.
VITAL_SIGN_CODES: Final = frozenset(
    {
        "85353-1",  # vital signs panel
        "9279-1",  # respiratory rate
        "8867-4",  # heart rate
        "2708-6",  # oxygen saturation in arterial blood
        "59408-5",  # oxygen saturation by pulse oximetry
        "8310-5",  # body temperature
        "8302-2",  # body height
        "9843-4",  # head circumference
        "29463-7",  # body weight
        "39156-5",  # body mass index
        "85354-9",  # blood pressure panel
        "8480-6",  # systolic blood pressure
        "8462-4",  # diastolic blood pressure
    }
)
# Observation-tobaccouse-uv-ips and Observation-alcoholuse-uv-ips fix these codes.
SOCIAL_HISTORY_CODES: Final = frozenset({"72166-2", "74013-4"})

RESULT_CATEGORIES: Final = frozenset({"laboratory", "imaging", "procedure", "exam", "survey", "therapy"})
# Category codes (any system) by which national profiles mark functional status or disability.
FUNCTIONAL_CATEGORIES: Final = frozenset(
    {"functional-status", "disability-status", "cognitive-status", "47420-5"}
)

CONDITION_PAST: Final = frozenset({"inactive", "remission", "resolved"})

# Consents that are not about care decisions do not belong under advance directives.
CONSENT_NOT_DIRECTIVE_SCOPES: Final = frozenset({"patient-privacy", "research"})

# LOINC document kinds of advance directives (the IPS section code itself, "Advance directive", and the
# HL7 PACIO Advance Directive Interoperability kinds: power of attorney, personal advance care plan,
# living will, both, and the "DNR / MOLST order in place" reports). The IPS all-sections example's
# DocumentReference is typed "Health concerns Document" / "Patient data Document", so it is not one.
ADVANCE_DIRECTIVE_DOCUMENT_CODES: Final = frozenset(
    {"42348-3", "75320-2", "64298-3", "81334-5", "86533-7", "92664-2", "81351-9", "81352-7"}
)

# Resource types whose section follows from the type alone.
_BY_TYPE: Final[Mapping[str, str]] = MappingProxyType(
    {
        "AllergyIntolerance": "allergies",
        **dict.fromkeys(MEDICATION_TYPES, "medications"),
        "Immunization": "immunizations",
        "ImmunizationRecommendation": "plan_of_care",
        "Procedure": "procedures",
        "DeviceUseStatement": "devices",
        "DiagnosticReport": "results",
        "CarePlan": "plan_of_care",
        "ClinicalImpression": "functional_status",
        "Flag": "alerts",
    }
)


# ---------------------------------------------------------------------------- classification


def section_of(resource: Mapping[str, Any]) -> Section | None:
    """The IPS section a stored FHIR R4 resource belongs in, or None (Patient, Medication, Device …).

    Malformed input never raises; it gives a best-effort answer or None.
    """
    try:
        key = _section_key(resource)
    except Exception:  # a last resort: the readers above already tolerate odd shapes
        return None
    return SECTION_BY_KEY[key] if key is not None else None


def _section_key(resource: object) -> str | None:
    if not isinstance(resource, Mapping):
        return None
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return None
    if resource_type in _BY_TYPE:
        return _BY_TYPE[resource_type]
    if resource_type == "Condition":
        return _condition_section(resource)
    if resource_type == "Observation":
        return _observation_section(resource)
    if resource_type == "Consent":
        return _consent_section(resource)
    if resource_type == "DocumentReference":
        return _document_section(resource)
    return None


def _condition_section(condition: Mapping[str, Any]) -> str:
    if codes_of(condition.get("category")) & FUNCTIONAL_CATEGORIES:
        return "functional_status"
    # Any system: the code alone says whether the problem is still current.
    if codes_of(condition.get("clinicalStatus")) & CONDITION_PAST:
        return "past_illness"
    return "problems"


def _observation_section(observation: Mapping[str, Any]) -> str:
    codes = codes_of(observation.get("code"), LOINC)
    if codes & PREGNANCY_CODES:
        return "pregnancy"
    category = observation.get("category")
    if codes_of(category) & FUNCTIONAL_CATEGORIES:
        return "functional_status"
    categories = codes_of(category, OBSERVATION_CATEGORY)
    if "vital-signs" in categories:
        return "vital_signs"
    if "social-history" in categories:
        return "social_history"
    if categories & RESULT_CATEGORIES:
        return "results"
    if not categories:
        # Uncategorised observations: the IPS profiles' fixed codes still tell vital signs and habits apart.
        if codes & VITAL_SIGN_CODES:
            return "vital_signs"
        if codes & SOCIAL_HISTORY_CODES:
            return "social_history"
    return "results"


def _consent_section(consent: Mapping[str, Any]) -> str | None:
    if codes_of(consent.get("scope"), CONSENT_SCOPE) & CONSENT_NOT_DIRECTIVE_SCOPES:
        return None
    return "advance_directives"


def _document_section(document: Mapping[str, Any]) -> str | None:
    kinds = codes_of(document.get("type"), LOINC) | codes_of(document.get("category"), LOINC)
    return "advance_directives" if kinds & ADVANCE_DIRECTIVE_DOCUMENT_CODES else None
