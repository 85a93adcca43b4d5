"""The portal's conformance statement (xShare Yellow Button IG): one table, shown as a page and as JSON."""

from django.utils.translation import gettext_noop as _

STATEMENT = {
    "roles": [
        {"name": "Yellow Button Provider", "description": _(
            "Citizens download their patient summary or share it as a SMART Health Link.")},
        {"name": "Yellow Button Consumer", "description": _(
            "The clinician viewer at /viewer/ opens SMART Health Links, from this portal and from others.")},
    ],
    "options": [
        {"code": "download", "name": _("Download"), "description": _(
            "The International Patient Summary as a FHIR document (JSON) or PDF, from /exports/.")},
        {"code": "share", "name": _("One-time share"), "description": _(
            "A static copy of the summary behind a SMART Health Link that expires (15 minutes to 30 days) "
            "and can be paused or revoked.")},
        {"code": "passcode", "name": _("Passcode"), "description": _(
            "Optional; a lifetime budget of wrong attempts, then the link locks.")},
        {"code": "qr", "name": _("QR code"), "description": _(
            "The link as a QR code (SVG, error correction M).")},
        {"code": "pdf", "name": _("PDF"), "description": _(
            "A readable PDF of the summary, for download and inside every shared link.")},
        {"code": "translation", "name": _("Translation of titles"), "description": _(
            "Section titles and the PDF in Danish or English, the citizen's choice.")},
    ],
    "specifications": [
        {"name": "HL7 FHIR", "version": "R4 (4.0.1)", "reference": "hl7.fhir.r4.core#4.0.1"},
        {"name": "International Patient Summary (IPS)", "version": "2.0.0",
         "reference": "hl7.fhir.uv.ips#2.0.0"},
        {"name": "SMART Health Links (SMART Health Cards and Links IG)", "version": "1.0 (STU1)",
         "reference": "hl7.fhir.uv.smart-health-cards-and-links#1.0.0"},
    ],
    "formats": [
        {"name": _("FHIR JSON"), "media_type": "application/fhir+json"},
        {"name": _("PDF"), "media_type": "application/pdf"},
    ],
}  # fmt: skip
