import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.jobs.models import Job


class ExportFormat(models.TextChoices):
    JSON = "json", _("FHIR document (JSON)")
    PDF = "pdf", _("PDF to read and print")


class Export(models.Model):
    """One press of the Yellow Button's download: what was asked for, and the file the job made.

    The file lives in Django's storage under an unguessable name, is downloadable only by its owner, and is
    deleted after ``expires_at`` by a periodic task (the row stays, for the citizen's history).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exports")
    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="export")
    format = models.CharField(_("format"), max_length=4, choices=ExportFormat.choices)
    # Section keys (sharing.ips.sections); empty: every section.
    sections = models.JSONField(_("sections"), default=list, blank=True)
    # Stored resource ids the citizen left out.
    excluded_items = models.JSONField(_("left-out items"), default=list, blank=True)
    language = models.CharField(_("language"), max_length=8, default="en")
    storage_name = models.CharField(max_length=200, blank=True, editable=False)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    size = models.PositiveBigIntegerField(_("size (bytes)"), default=0)
    entry_count = models.PositiveIntegerField(_("entries"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    expires_at = models.DateTimeField(_("download expires"), null=True, blank=True)
    file_deleted_at = models.DateTimeField(_("file deleted"), null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        indexes = (models.Index(fields=("expires_at", "file_deleted_at")),)

    def __str__(self) -> str:
        return f"Export {self.id}"

    @property
    def has_file(self) -> bool:
        # The name is fixed at creation; the checksum is written only once the file is.
        return bool(self.sha256) and self.file_deleted_at is None


class ActivityKind(models.TextChoices):
    EXPORT_CREATED = "export-created", _("Summary prepared for download")
    EXPORT_DOWNLOADED = "export-downloaded", _("Summary downloaded")
    EXPORT_FAILED = "export-failed", _("Summary could not be prepared")


class Activity(models.Model):
    """The citizen's own history of what happened to their data: never clinical content, never secrets."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="activities")
    kind = models.CharField(_("what"), max_length=32, choices=ActivityKind.choices)
    export = models.ForeignKey(
        Export, on_delete=models.SET_NULL, null=True, blank=True, related_name="activities"
    )
    created_at = models.DateTimeField(_("when"), auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name = _("activity")
        verbose_name_plural = _("activity history")
        indexes = (models.Index(fields=("owner", "created_at")),)
        constraints = (
            # One "prepared" row per export, however often its job is delivered.
            models.UniqueConstraint(
                fields=("export", "kind"),
                condition=models.Q(kind="export-created"),
                name="one_created_activity_per_export",
            ),
        )

    def __str__(self) -> str:
        return f"{self.kind} at {self.created_at:%Y-%m-%d %H:%M}"
