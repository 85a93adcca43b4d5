"""The IPS 2.0.0 profiles and codes the portal's documents declare and its validation requires."""

from typing import Final

IPS_PROFILE_BASE: Final = "http://hl7.org/fhir/uv/ips/StructureDefinition"
BUNDLE_PROFILE: Final = f"{IPS_PROFILE_BASE}/Bundle-uv-ips"
COMPOSITION_PROFILE: Final = f"{IPS_PROFILE_BASE}/Composition-uv-ips"
# LOINC "Patient summary Document": the Composition's type, and the type of the PDF's DocumentReference.
PATIENT_SUMMARY_CODE: Final = "60591-5"
PATIENT_SUMMARY_DISPLAY: Final = "Patient summary Document"
DOCUMENT_IDENTIFIER_SYSTEM: Final = "urn:ietf:rfc:3986"
