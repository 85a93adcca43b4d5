"""The PDF of a patient summary as FHIR: a DocumentReference carrying the file inline.

An SHL manifest may list only FHIR and SMART content types, so a link carries its PDF wrapped like this.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any, Final

from core.fhir.terms import LOINC
from core.ips.profiles import PATIENT_SUMMARY_CODE, PATIENT_SUMMARY_DISPLAY

IHE_FORMAT_CODES: Final = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"
MIME_TYPE_SUFFICIENT: Final = "urn:ihe:iti:xds:2017:mimeTypeSufficient"


def pdf_document_reference(
    pdf: bytes, *, document_id: uuid.UUID, language: str, created: datetime
) -> dict[str, Any]:
    """The PDF as FHIR: a DocumentReference with the file inline (base64), typed as a patient summary."""
    when = created.isoformat(timespec="seconds")
    return {
        "resourceType": "DocumentReference",
        "id": str(document_id),
        "status": "current",
        "docStatus": "final",
        "type": {
            "coding": [{"system": LOINC, "code": PATIENT_SUMMARY_CODE, "display": PATIENT_SUMMARY_DISPLAY}]
        },
        "date": when,
        "description": "Patient summary (PDF)",
        "content": [
            {
                "attachment": {
                    "contentType": "application/pdf",
                    "language": language,
                    "data": base64.b64encode(pdf).decode("ascii"),
                    "title": "patient-summary.pdf",
                    "creation": when,
                },
                "format": {"system": IHE_FORMAT_CODES, "code": MIME_TYPE_SUFFICIENT},
            }
        ],
    }
