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
    # Section keys (core.ips.sections); empty: every section.
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


class Share(models.Model):
    """One SMART Health Link: a static, encrypted copy of the citizen's summary for a clinician.

    Only ciphertext is kept (``ShareFile``). The link's key and manifest id live only in ``link_secret``, a
    Fernet token (portal.crypto), so the share page can show the link again; requests find the share by a
    keyed hash of the manifest id. The passcode is kept only as an argon2 hash. Every request to the link is
    a row of the audit trail (``portal.audit``), kept when the share is gone.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shares")
    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="share")
    label = models.CharField(_("label"), max_length=80, blank=True)
    sections = models.JSONField(_("sections"), default=list, blank=True)
    excluded_items = models.JSONField(_("left-out items"), default=list, blank=True)
    language = models.CharField(_("language"), max_length=8, default="en")
    # The U flag: the link's URL answers GET with the document itself (never with a passcode).
    direct = models.BooleanField(_("single-file link"), default=False)
    origin = models.CharField(max_length=100, editable=False)
    manifest_digest = models.CharField(max_length=64, unique=True, editable=False)
    link_secret = models.TextField(editable=False)
    passcode_hash = models.CharField(max_length=200, blank=True, editable=False)
    passcode_attempts_left = models.PositiveIntegerField(_("passcode attempts left"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    ready_at = models.DateTimeField(_("ready"), null=True, blank=True)
    paused_at = models.DateTimeField(_("paused"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    files_deleted_at = models.DateTimeField(_("files deleted"), null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        verbose_name = _("share")
        verbose_name_plural = _("shares")
        indexes = (models.Index(fields=("expires_at", "files_deleted_at")),)

    def __str__(self) -> str:
        return f"Share {self.id}"

    @property
    def has_passcode(self) -> bool:
        return bool(self.passcode_hash)


class ShareFileKind(models.TextChoices):
    DOCUMENT = "document", _("Patient summary (FHIR document)")
    PDF = "pdf", _("Patient summary (PDF)")


class ShareFile(models.Model):
    """One file of a share, as its compact JWE only: the portal keeps no plaintext copy."""

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="files")
    kind = models.CharField(max_length=16, choices=ShareFileKind.choices)
    content_type = models.CharField(max_length=64, default="application/fhir+json")
    jwe = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("share", "kind")
        constraints = (models.UniqueConstraint(fields=("share", "kind"), name="one_file_per_kind_per_share"),)

    def __str__(self) -> str:
        return f"{self.kind} of {self.share_id}"


class SpentFileUrl(models.Model):
    """A manifest's file URL that has been used once. Its digest is unique, so the one INSERT that spends it
    succeeds for exactly one request, in whichever process; rows go once the URL could no longer work."""

    digest = models.CharField(max_length=64, unique=True)
    spent_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"file URL spent at {self.spent_at:%Y-%m-%d %H:%M}"
