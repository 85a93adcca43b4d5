"""The share form's passcode: typed twice on the page, so a typo cannot lock the clinician out."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_noop

PASSCODES_DIFFER = gettext_noop("The two passcodes are not the same. Type the passcode in both fields again.")

UNREADABLE_PASSCODE = gettext_noop("That passcode could not be read. Please choose another one.")


class PasscodeForm(forms.Form):
    """``passcode`` and ``passcode_again``. A client that sends no ``passcode_again`` (a script, the earlier
    form) is not asked for it; when both are sent they must match. Its error is a msgid."""

    passcode = forms.CharField(required=False, strip=False)
    passcode_again = forms.CharField(required=False, strip=False)

    def clean(self) -> dict[str, str]:
        cleaned = super().clean() or {}
        if "passcode_again" in self.data and cleaned.get("passcode_again") != cleaned.get("passcode"):
            self.add_error("passcode_again", PASSCODES_DIFFER)
        return cleaned

    def first_error(self) -> str:
        """The msgid to show next to the fields: a mismatch says so, anything else cannot be read."""
        if "passcode_again" in self.errors:
            return PASSCODES_DIFFER
        return UNREADABLE_PASSCODE

    @property
    def passcode_value(self) -> str:
        return str(self.cleaned_data.get("passcode", ""))
