"""What the citizen chooses to let out, on the download page and the share page alike: which IPS sections,
and which single items to leave out. One form reads the choice; one selector offers it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.db.models import Count
from django.utils.translation import gettext, gettext_noop

from core.ips.sections import SECTION_BY_KEY, SECTION_BY_LOINC, SECTIONS, Section
from portal.accounts.models import User
from portal.records.selectors import RecordSection, record_sections

UNKNOWN_SECTION = gettext_noop("One of the chosen sections is not an IPS section.")
UNREADABLE = gettext_noop("That request could not be read. Please try again.")


class ItemIds(forms.Field):
    """Repeated whole numbers: the ids of stored items. One that is not the citizen's is simply not in their
    document, so only the form of each value is checked here."""

    widget = forms.SelectMultiple

    def to_python(self, value: Any) -> list[int]:
        values = value if isinstance(value, list | tuple) else ([] if value in (None, "") else [value])
        try:
            return [int(item) for item in values]
        except (TypeError, ValueError):
            raise forms.ValidationError(UNREADABLE) from None


# A section is named by its LOINC code (what the pages post) or by its key.
_SECTION_NAMES = [(section.loinc, section.loinc) for section in SECTIONS] + [
    (section.key, section.key) for section in SECTIONS
]


class SelectionForm(forms.Form):
    """``sections``: IPS sections (none: every section); ``exclude``: ids of stored items left out.

    Its errors are msgids (``UNKNOWN_SECTION``, ``UNREADABLE``) for the page to translate.
    """

    sections = forms.MultipleChoiceField(
        required=False,
        choices=_SECTION_NAMES,
        error_messages={"invalid_choice": UNKNOWN_SECTION, "invalid_list": UNREADABLE},
    )
    exclude = ItemIds(required=False)

    @property
    def section_keys(self) -> list[str]:
        """The chosen sections as section keys (``core.ips.sections``)."""
        return [
            SECTION_BY_LOINC[name].key if name in SECTION_BY_LOINC else SECTION_BY_KEY[name].key
            for name in self.cleaned_data["sections"]
        ]

    @property
    def excluded_items(self) -> list[int]:
        return list(self.cleaned_data["exclude"])

    def first_error(self) -> str:
        """The msgid of the first problem: an unknown section says so, anything else is unreadable."""
        for field in ("sections", "exclude"):
            for message in self.errors.get(field, []):
                return str(message)
        return UNREADABLE


@dataclass(frozen=True)
class SectionChoice:
    section: Section
    title: str
    count: int
    record: RecordSection | None


def section_choices(*, owner: User) -> list[SectionChoice]:
    """Every IPS section the citizen can include: the required ones always, the others when there is data."""
    counts = {
        row["section"]: row["total"]
        for row in owner.resources.filter(missing_since__isnull=True)
        .exclude(section="")
        .values("section")
        .annotate(total=Count("id"))
    }
    records = {record.section.key: record for record in record_sections(owner=owner)}
    return [
        SectionChoice(
            section=section,
            title=gettext(section.title),
            count=counts.get(section.key, 0),
            record=records.get(section.key),
        )
        for section in SECTIONS
        if section.required or counts.get(section.key)
    ]
