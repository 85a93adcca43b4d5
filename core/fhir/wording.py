"""How the portal words values it reads from FHIR: coded values of FHIR's fixed value sets, dates and numbers.

Pure: no Django. ``summarize`` takes a ``Wording``; the default, ``AS_GIVEN``, keeps values as the resource
gives them (codes such as "active", ISO dates, "91.5"). The pages build a ``Wording`` from Django's
translations and formats for the active language (``portal.records.selectors.page_wording``), so the record
page, the Important panel, the Yellow Button's item lists, the PDF and the IPS document's generated
narratives (which the viewer shows) all word a value the same way: "Aktiv", "31. oktober 2023 16:06",
"91,5 kg".

``FIXED_CODES`` is the one table of coded values the portal words itself: the codes of the value sets FHIR R4
binds as *required* (a status, a clinical or verification status, an allergy's criticality or type), so a
source cannot send a code outside it. Each code maps to an English msgid with the context ``STATUS_CONTEXT``
(Danish adjectives agree with the noun: a status of a condition or a medicine reads "Aktiv", not the
"Aktivt" of a link). A code outside the table is shown as the source words it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Final

STATUS_CONTEXT: Final = "record value"
EN_DASH: Final = "\N{EN DASH}"


def pgettext(context: str, message: str) -> str:
    """Mark a message with a context for translation, without translating it (``makemessages`` collects
    calls of this name as ``pgettext:1c,2``); ``Wording.term`` translates it where it is shown."""
    del context
    return message


def _words(value_set: str, codes: Mapping[str, str]) -> Mapping[str, str]:
    """The codes of one value set (named by its id in FHIR R4, for the reader) and their msgids."""
    del value_set
    return MappingProxyType(dict(codes))


# The msgids, one per code, shared by every value set that uses the code.
_ACTIVE = pgettext("record value", "Active")
_INACTIVE = pgettext("record value", "Inactive")
_RESOLVED = pgettext("record value", "Resolved")
_COMPLETED = pgettext("record value", "Completed")
_STOPPED = pgettext("record value", "Stopped")
_ON_HOLD = pgettext("record value", "On hold")
_INTENDED = pgettext("record value", "Intended")
_NOT_TAKEN = pgettext("record value", "Not taken")
_NOT_DONE = pgettext("record value", "Not done")
_IN_PROGRESS = pgettext("record value", "In progress")
_PREPARATION = pgettext("record value", "In preparation")
_CANCELLED = pgettext("record value", "Cancelled")
_DECLINED = pgettext("record value", "Declined")
_DRAFT = pgettext("record value", "Draft")
_PROPOSED = pgettext("record value", "Proposed")
_REJECTED = pgettext("record value", "Rejected")
_REVOKED = pgettext("record value", "Revoked")
_ERROR = pgettext("record value", "Entered in error")
_UNKNOWN = pgettext("record value", "Unknown")
_REGISTERED = pgettext("record value", "Registered")
_PARTIAL = pgettext("record value", "Partial")
_PRELIMINARY = pgettext("record value", "Preliminary")
_FINAL = pgettext("record value", "Final")
_AMENDED = pgettext("record value", "Amended")
_CORRECTED = pgettext("record value", "Corrected")
_APPENDED = pgettext("record value", "Appended")
_CURRENT = pgettext("record value", "Current")
_SUPERSEDED = pgettext("record value", "Superseded")
_RECURRENCE = pgettext("record value", "Recurrence")
_RELAPSE = pgettext("record value", "Relapse")
_REMISSION = pgettext("record value", "Remission")
_UNCONFIRMED = pgettext("record value", "Unconfirmed")
_PROVISIONAL = pgettext("record value", "Provisional")
_DIFFERENTIAL = pgettext("record value", "Differential")
_CONFIRMED = pgettext("record value", "Confirmed")
_REFUTED = pgettext("record value", "Refuted")
_LOW = pgettext("record value", "Low")
_HIGH = pgettext("record value", "High")
_UNABLE = pgettext("record value", "Unable to assess")
_ALLERGY = pgettext("record value", "Allergy")
_INTOLERANCE = pgettext("record value", "Intolerance")

_MEDICATION_STATEMENT = {
    "active": _ACTIVE,
    "completed": _COMPLETED,
    "entered-in-error": _ERROR,
    "intended": _INTENDED,
    "stopped": _STOPPED,
    "on-hold": _ON_HOLD,
    "unknown": _UNKNOWN,
    "not-taken": _NOT_TAKEN,
}
_OBSERVATION = {
    "registered": _REGISTERED,
    "preliminary": _PRELIMINARY,
    "final": _FINAL,
    "amended": _AMENDED,
    "corrected": _CORRECTED,
    "cancelled": _CANCELLED,
    "entered-in-error": _ERROR,
    "unknown": _UNKNOWN,
}
_EVENT = {
    "preparation": _PREPARATION,
    "in-progress": _IN_PROGRESS,
    "not-done": _NOT_DONE,
    "on-hold": _ON_HOLD,
    "stopped": _STOPPED,
    "completed": _COMPLETED,
    "entered-in-error": _ERROR,
    "unknown": _UNKNOWN,
}

# "<ResourceType>.<element>" → code → msgid. Only required bindings of FHIR R4 (4.0.1).
FIXED_CODES: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        "AllergyIntolerance.clinicalStatus": _words(
            "allergyintolerance-clinical", {"active": _ACTIVE, "inactive": _INACTIVE, "resolved": _RESOLVED}
        ),
        "AllergyIntolerance.verificationStatus": _words(
            "allergyintolerance-verification",
            {
                "unconfirmed": _UNCONFIRMED,
                "confirmed": _CONFIRMED,
                "refuted": _REFUTED,
                "entered-in-error": _ERROR,
            },
        ),
        "AllergyIntolerance.criticality": _words(
            "allergy-intolerance-criticality", {"low": _LOW, "high": _HIGH, "unable-to-assess": _UNABLE}
        ),
        "AllergyIntolerance.type": _words(
            "allergy-intolerance-type", {"allergy": _ALLERGY, "intolerance": _INTOLERANCE}
        ),
        "Condition.clinicalStatus": _words(
            "condition-clinical",
            {
                "active": _ACTIVE,
                "recurrence": _RECURRENCE,
                "relapse": _RELAPSE,
                "inactive": _INACTIVE,
                "remission": _REMISSION,
                "resolved": _RESOLVED,
            },
        ),
        "Condition.verificationStatus": _words(
            "condition-ver-status",
            {
                "unconfirmed": _UNCONFIRMED,
                "provisional": _PROVISIONAL,
                "differential": _DIFFERENTIAL,
                "confirmed": _CONFIRMED,
                "refuted": _REFUTED,
                "entered-in-error": _ERROR,
            },
        ),
        "MedicationStatement.status": _words("medication-statement-status", _MEDICATION_STATEMENT),
        "MedicationRequest.status": _words(
            "medicationrequest-status",
            {
                "active": _ACTIVE,
                "on-hold": _ON_HOLD,
                "cancelled": _CANCELLED,
                "completed": _COMPLETED,
                "entered-in-error": _ERROR,
                "stopped": _STOPPED,
                "draft": _DRAFT,
                "unknown": _UNKNOWN,
            },
        ),
        "MedicationAdministration.status": _words(
            "medication-admin-status",
            {
                "in-progress": _IN_PROGRESS,
                "not-done": _NOT_DONE,
                "on-hold": _ON_HOLD,
                "completed": _COMPLETED,
                "entered-in-error": _ERROR,
                "stopped": _STOPPED,
                "unknown": _UNKNOWN,
            },
        ),
        "MedicationDispense.status": _words(
            "medicationdispense-status",
            {
                "preparation": _PREPARATION,
                "in-progress": _IN_PROGRESS,
                "cancelled": _CANCELLED,
                "on-hold": _ON_HOLD,
                "completed": _COMPLETED,
                "entered-in-error": _ERROR,
                "stopped": _STOPPED,
                "declined": _DECLINED,
                "unknown": _UNKNOWN,
            },
        ),
        "Observation.status": _words("observation-status", _OBSERVATION),
        "DiagnosticReport.status": _words(
            "diagnostic-report-status",
            {**_OBSERVATION, "partial": _PARTIAL, "appended": _APPENDED},
        ),
        "Immunization.status": _words(
            "immunization-status",
            {"completed": _COMPLETED, "entered-in-error": _ERROR, "not-done": _NOT_DONE},
        ),
        "Procedure.status": _words("event-status", _EVENT),
        "CarePlan.status": _words(
            "request-status",
            {
                "draft": _DRAFT,
                "active": _ACTIVE,
                "on-hold": _ON_HOLD,
                "revoked": _REVOKED,
                "completed": _COMPLETED,
                "entered-in-error": _ERROR,
                "unknown": _UNKNOWN,
            },
        ),
        "Flag.status": _words(
            "flag-status", {"active": _ACTIVE, "inactive": _INACTIVE, "entered-in-error": _ERROR}
        ),
        "Consent.status": _words(
            "consent-state-codes",
            {
                "draft": _DRAFT,
                "proposed": _PROPOSED,
                "active": _ACTIVE,
                "rejected": _REJECTED,
                "inactive": _INACTIVE,
                "entered-in-error": _ERROR,
            },
        ),
        "DeviceUseStatement.status": _words(
            "device-statement-status",
            {
                "active": _ACTIVE,
                "completed": _COMPLETED,
                "entered-in-error": _ERROR,
                "intended": _INTENDED,
                "stopped": _STOPPED,
                "on-hold": _ON_HOLD,
            },
        ),
        "Device.status": _words(
            "device-status",
            {"active": _ACTIVE, "inactive": _INACTIVE, "entered-in-error": _ERROR, "unknown": _UNKNOWN},
        ),
        "DocumentReference.status": _words(
            "document-reference-status",
            {"current": _CURRENT, "superseded": _SUPERSEDED, "entered-in-error": _ERROR},
        ),
        "ClinicalImpression.status": _words(
            "clinicalimpression-status",
            {"in-progress": _IN_PROGRESS, "completed": _COMPLETED, "entered-in-error": _ERROR},
        ),
        "Composition.status": _words(
            "composition-status",
            {"preliminary": _PRELIMINARY, "final": _FINAL, "amended": _AMENDED, "entered-in-error": _ERROR},
        ),
    }
)


def fixed_term(element: str, code: str) -> str | None:
    """The msgid for ``code`` of a fixed value set ("Condition.clinicalStatus", "active" → "Active")."""
    codes = FIXED_CODES.get(element)
    return codes.get(code) if codes is not None else None


# ---------------------------------------------------------------------------- FHIR dates

# FHIR date, dateTime and instant: a year, a year and month, a date, or a date with a time and (required
# with a time, tolerated without) a zone.
_FHIR_DATE: Final = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d+)?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?"
)


@dataclass(frozen=True)
class FhirDate:
    """A FHIR date read to the precision it was given: ``precision`` is "year", "month", "day" or "time"."""

    precision: str
    year: int
    month: int = 1
    day: int = 1
    moment: datetime | None = None  # with "time": aware when the source gave a zone

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, self.day)

    @property
    def last_day(self) -> date:
        """The last day the value can mean: 2016 → 2016-12-31, 2016-02 → 2016-02-29."""
        if self.precision == "year":
            return date(self.year, 12, 31)
        if self.precision == "month":
            following = date(self.year + self.month // 12, self.month % 12 + 1, 1)
            return following - timedelta(days=1)
        return self.first_day


def parse_fhir_date(text: str) -> FhirDate | None:
    """A FHIR date/dateTime/instant string read, or None when it is not one (then it is shown as given)."""
    match = _FHIR_DATE.fullmatch(text.strip())
    if match is None:
        return None
    try:
        year = int(match["year"])
        if match["month"] is None:
            date(year, 1, 1)
            return FhirDate("year", year)
        month = int(match["month"])
        if match["day"] is None:
            date(year, month, 1)
            return FhirDate("month", year, month)
        day = int(match["day"])
        if match["hour"] is None:
            date(year, month, day)
            return FhirDate("day", year, month, day)
        zone = match["zone"]
        tzinfo: timezone | None = None
        if zone == "Z":
            tzinfo = UTC
        elif zone:
            sign = -1 if zone[0] == "-" else 1
            tzinfo = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
        moment = datetime(
            year,
            month,
            day,
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"] or 0),
            tzinfo=tzinfo,
        )
        return FhirDate("time", year, month, day, moment)
    except ValueError:  # month 13, February 30th, hour 25
        return None


# ---------------------------------------------------------------------------- the wording


def _as_given(text: str) -> str:
    return text


@dataclass(frozen=True)
class Wording:
    """The words and formats of one language.

    - ``term(context, msgid)`` translates a msgid of ``FIXED_CODES``; ``None`` keeps the code itself;
    - ``number(text)`` formats a decimal given as text ("91.5" → "91,5");
    - ``day``, ``month``, ``year`` and ``moment`` format a date, a month of a year, a year and a date-time
      (an aware datetime is shown in the portal's time zone by the formatter).

    With ``dates=False`` dates stay as the source gave them.
    """

    term: Callable[[str, str], str] | None = None
    number: Callable[[str], str] = _as_given
    day: Callable[[date], str] = date.isoformat
    month: Callable[[date], str] = lambda value: f"{value.year:04d}-{value.month:02d}"
    year: Callable[[int], str] = lambda value: f"{value:04d}"
    moment: Callable[[datetime], str] = datetime.isoformat
    dates: bool = False
    range_separator: str = EN_DASH

    def code(self, element: str, code: str | None, as_given: str | None) -> str | None:
        """A coded value of a fixed value set in this language: the table's word for ``code`` in
        ``element``, else ``as_given`` (what the source wrote). Without ``term``, ``as_given``."""
        if self.term is not None and code:
            msgid = fixed_term(element, code)
            if msgid is not None:
                return self.term(STATUS_CONTEXT, msgid)
        return as_given

    def date_text(self, text: str) -> str:
        """A FHIR date, month, year or date-time in this language's format; other text as it is."""
        if not self.dates:
            return text
        value = parse_fhir_date(text)
        if value is None:
            return text
        if value.precision == "year":
            return self.year(value.year)
        if value.precision == "month":
            return self.month(value.first_day)
        if value.precision == "day" or value.moment is None:
            return self.day(value.first_day)
        return self.moment(value.moment)


AS_GIVEN: Final = Wording()
