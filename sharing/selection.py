"""What the citizen chooses to let out, on the download page and the share page alike: everything, or which
IPS sections and which of their items. One form reads the choice; one selector offers it.

One logic everywhere: a ticked box means "include". The pages post

- ``scope`` = ``all`` (the default on the page: everything, the choices below are not read) or ``choose``;
- ``sections``: the ticked sections (LOINC codes; keys are understood too);
- ``offered``: every item the page offered, and ``include``: the items left ticked. An offered item that is
  not included is left out.

An outside client that posts only ``sections`` (no ``scope``, no ``offered``) keeps every item of those
sections, and ``exclude`` (ids left out, the earlier form's field) still works. Required sections are in every
document whether or not they were posted: the IPS cannot do without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.db.models import Count
from django.utils.translation import gettext, gettext_noop

from core.ips.sections import SECTION_BY_KEY, SECTION_BY_LOINC, SECTIONS, Section
from portal.accounts.models import User
from portal.records.selectors import RecordItem, RecordSection, record_sections

UNKNOWN_SECTION = gettext_noop("One of the chosen sections is not an IPS section.")
UNREADABLE = gettext_noop("That request could not be read. Please try again.")

SCOPE_ALL = "all"
SCOPE_CHOOSE = "choose"
REQUIRED_KEYS = tuple(section.key for section in SECTIONS if section.required)


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
    """The citizen's choice (see the module's docstring for the fields).

    Its errors are msgids (``UNKNOWN_SECTION``, ``UNREADABLE``) for the page to translate.
    """

    scope = forms.ChoiceField(
        required=False,
        choices=[("", ""), (SCOPE_ALL, SCOPE_ALL), (SCOPE_CHOOSE, SCOPE_CHOOSE)],
        error_messages={"invalid_choice": UNREADABLE},
    )
    sections = forms.MultipleChoiceField(
        required=False,
        choices=_SECTION_NAMES,
        error_messages={"invalid_choice": UNKNOWN_SECTION, "invalid_list": UNREADABLE},
    )
    exclude = ItemIds(required=False)
    offered = ItemIds(required=False)
    include = ItemIds(required=False)

    @property
    def everything(self) -> bool:
        return bool(self.cleaned_data["scope"] == SCOPE_ALL)

    @property
    def section_keys(self) -> list[str]:
        """The posted sections as section keys (``core.ips.sections``), as posted."""
        return [
            SECTION_BY_LOINC[name].key if name in SECTION_BY_LOINC else SECTION_BY_KEY[name].key
            for name in self.cleaned_data["sections"]
        ]

    @property
    def document_sections(self) -> list[str]:
        """The sections of the document, in the IG's order (none: every section). The required ones are
        always among them, whether or not they were posted."""
        if self.everything or not self.cleaned_data["sections"]:
            return []
        chosen = set(self.section_keys) | set(REQUIRED_KEYS)
        return [section.key for section in SECTIONS if section.key in chosen]

    @property
    def excluded_items(self) -> list[int]:
        """The items left out: offered but not ticked, or named by ``exclude``."""
        if self.everything:
            return []
        included = set(self.cleaned_data["include"])
        unticked = [item for item in self.cleaned_data["offered"] if item not in included]
        return list(dict.fromkeys([*self.cleaned_data["exclude"], *unticked]))

    def first_error(self) -> str:
        """The msgid of the first problem: an unknown section says so, anything else is unreadable."""
        for field in ("sections", "exclude", "offered", "include", "scope"):
            for message in self.errors.get(field, []):
                return str(message)
        return UNREADABLE


def kept_selection(post: Any) -> dict[str, Any]:
    """The choice just posted, to show it again on the form (ticked what was ticked)."""
    form = SelectionForm(post)
    if not form.is_valid():
        return {"scope": "", "sections": set(), "excluded": set()}
    return {
        "scope": SCOPE_CHOOSE
        if form.cleaned_data["sections"] and not form.everything
        else form.cleaned_data["scope"],
        # The page shows LOINC codes; a section named by its key is shown ticked all the same.
        "sections": {SECTION_BY_KEY[key].loinc for key in form.section_keys},
        "excluded": set(form.excluded_items),
    }


@dataclass(frozen=True)
class SectionChoice:
    section: Section
    title: str
    count: int
    record: RecordSection | None

    @property
    def items(self) -> list[RecordItem]:
        """The items the page offers to include or leave out: those still at their source."""
        return [item for item in self.record.items if not item.missing_since] if self.record else []


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
