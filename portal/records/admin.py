from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from portal.records.fhir_client import UpstreamError
from portal.records.models import Connection, DataSource, Pull
from portal.records.services import source_check

# Stored resources are deliberately not in the admin: operators run the portal, they do not read records.


def _https_urls(field: Any, **kwargs: Any) -> Any:
    # A FHIR base URL typed without a scheme means https.
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return field.formfield(**kwargs)


class DataSourceForm(forms.ModelForm):
    """Secrets are write-only: typed in once, stored encrypted, never shown again."""

    client_secret = forms.CharField(
        label=_("client secret"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Leave empty to keep the stored secret."),
    )
    private_key_pem = forms.CharField(
        label=_("private key (PEM) for private_key_jwt"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off"}),
        help_text=_("Leave empty to keep the stored key."),
    )
    clear_credentials = forms.BooleanField(label=_("remove the stored secret and key"), required=False)

    class Meta:
        model = DataSource
        formfield_callback = _https_urls
        fields = (
            "name", "base_url", "enabled", "auth_mode", "patient_identifier_system",
            "connect_timeout", "read_timeout", "page_size", "client_id", "signing_algorithm", "key_id",
            "scope",
        )  # fmt: skip

    def clean_private_key_pem(self) -> str:
        pem: str = self.cleaned_data.get("private_key_pem", "").strip()
        if pem:
            try:
                load_pem_private_key(pem.encode(), password=None)
            except (ValueError, TypeError):
                raise forms.ValidationError(_("This is not an unencrypted PEM private key.")) from None
        return pem

    def save(self, commit: bool = True) -> DataSource:
        source = super().save(commit=False)
        if self.cleaned_data.get("clear_credentials"):
            source.set_client_secret("")
            source.set_private_key("")
        if self.cleaned_data.get("client_secret"):
            source.set_client_secret(self.cleaned_data["client_secret"])
        if self.cleaned_data.get("private_key_pem"):
            source.set_private_key(self.cleaned_data["private_key_pem"])
        if commit:
            source.save()
        return source


@admin.register(DataSource)
class DataSourceAdmin(admin.ModelAdmin):
    form = DataSourceForm

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if isinstance(db_field, models.URLField):
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    list_display = ("name", "base_url", "auth_mode", "enabled", "has_secret", "has_key", "updated_at")
    list_filter = ("enabled", "auth_mode")
    actions = ("check_sources",)

    @admin.action(
        description=_("Check that the selected sources answer (and accept the portal's credentials)")
    )
    def check_sources(self, request: HttpRequest, sources: QuerySet[DataSource]) -> None:
        for source in sources:
            try:
                source_check(source=source)
            except UpstreamError as error:
                self.message_user(request, f"{source.name}: {gettext(error.message)}", messages.ERROR)
            else:
                answered = gettext("the source answered.")
                self.message_user(request, f"{source.name}: {answered}", messages.SUCCESS)

    @admin.display(boolean=True, description=_("secret stored"))
    def has_secret(self, source: DataSource) -> bool:
        return source.has_client_secret

    @admin.display(boolean=True, description=_("key stored"))
    def has_key(self, source: DataSource) -> bool:
        return source.has_private_key


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    # No tokens and no patient id: state only.
    list_display = (
        "id",
        "owner",
        "source",
        "status",
        "created_at",
        "last_pull_at",
        "failed_pulls",
        "retry_at",
    )
    list_filter = ("status", "source")
    fields = ("id", "owner", "source", "status", "created_at", "last_pull_at", "failed_pulls", "retry_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Pull)
class PullAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "source",
        "owner",
        "strategy",
        "complete",
        "added",
        "updated",
        "missing",
        "created_at",
    )
    list_filter = ("complete", "strategy", "source")
    fields = (
        "id", "job", "owner", "source", "strategy", "complete", "added", "updated", "unchanged", "missing",
        "dropped_other_patient", "skipped_invalid", "warnings", "created_at", "finished_at",
    )  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
