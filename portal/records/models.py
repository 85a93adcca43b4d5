import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from portal import crypto
from portal.jobs.models import Job


class AuthMode(models.TextChoices):
    OPEN = "open", _("Open (no authorisation; test sandboxes only)")
    BACKEND_SERVICES = "backend-services", _("SMART Backend Services (the portal's own credentials)")
    SMART_LAUNCH = "smart-launch", _("SMART standalone launch (the citizen authorises)")


class SigningAlgorithm(models.TextChoices):
    RS384 = "RS384", "RS384"
    ES384 = "ES384", "ES384"


class DataSource(models.Model):
    """A national FHIR R4 endpoint the portal pulls citizens' records from. Managed in the admin."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    base_url = models.URLField(_("FHIR base URL"), max_length=500)
    enabled = models.BooleanField(_("enabled"), default=True)
    auth_mode = models.CharField(_("authorisation"), max_length=20, choices=AuthMode.choices)
    # Backend services find the patient by the citizen's national identifier in this system.
    patient_identifier_system = models.CharField(_("patient identifier system"), max_length=255, blank=True)
    connect_timeout = models.FloatField(_("connect timeout (seconds)"), default=5.0)
    read_timeout = models.FloatField(_("read timeout (seconds)"), default=30.0)
    page_size = models.PositiveSmallIntegerField(_("page size"), default=100)
    client_id = models.CharField(_("client id"), max_length=255, blank=True)
    # Only ever Fernet tokens (portal.crypto): never shown, never logged.
    client_secret_encrypted = models.TextField(blank=True, editable=False)
    private_key_encrypted = models.TextField(blank=True, editable=False)
    signing_algorithm = models.CharField(
        _("signing algorithm"), max_length=5, choices=SigningAlgorithm.choices, default=SigningAlgorithm.RS384
    )
    key_id = models.CharField(_("key id (kid)"), max_length=120, blank=True)
    scope = models.CharField(_("scopes requested"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ("name",)
        verbose_name = _("data source")
        verbose_name_plural = _("data sources")

    def __str__(self) -> str:
        return self.name

    def set_client_secret(self, secret: str) -> None:
        self.client_secret_encrypted = crypto.encrypt(secret)

    def client_secret(self) -> str:
        return crypto.decrypt(self.client_secret_encrypted)

    def set_private_key(self, pem: str) -> None:
        self.private_key_encrypted = crypto.encrypt(pem)

    def private_key(self) -> str:
        return crypto.decrypt(self.private_key_encrypted)

    @property
    def has_client_secret(self) -> bool:
        return bool(self.client_secret_encrypted)

    @property
    def has_private_key(self) -> bool:
        return bool(self.private_key_encrypted)


class ConnectionStatus(models.TextChoices):
    ACTIVE = "active", _("Connected")
    NEEDS_AUTHORISATION = "needs-authorisation", _("Needs you to sign in at the source again")


class Connection(models.Model):
    """A citizen's link to one data source: who they are there, and (for SMART launch) the tokens."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="connections")
    source = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="connections")
    status = models.CharField(
        _("status"), max_length=20, choices=ConnectionStatus.choices, default=ConnectionStatus.ACTIVE
    )
    # The patient's logical id at the source: from the launch context, or found by national identifier.
    patient_id = models.CharField(_("patient id at the source"), max_length=64, blank=True)
    access_token_encrypted = models.TextField(blank=True, editable=False)
    refresh_token_encrypted = models.TextField(blank=True, editable=False)
    token_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_pull_at = models.DateTimeField(_("last pull"), null=True, blank=True)
    # Pulls that failed in a row for a reason that may pass (the source down or slow), and when the portal
    # asks again by itself; empty once a pull succeeds, or when the automatic tries are used up.
    failed_pulls = models.PositiveSmallIntegerField(_("failed pulls in a row"), default=0)
    retry_at = models.DateTimeField(_("asked again at"), null=True, blank=True)

    class Meta:
        verbose_name = _("connection")
        verbose_name_plural = _("connections")
        constraints = (models.UniqueConstraint(fields=("owner", "source"), name="one_connection_per_source"),)
        indexes = (models.Index(fields=("retry_at",), name="connection_retry_due"),)

    def __str__(self) -> str:
        return f"Connection {self.id}"

    def access_token(self) -> str:
        return crypto.decrypt(self.access_token_encrypted)

    def refresh_token(self) -> str:
        return crypto.decrypt(self.refresh_token_encrypted)


class PullStrategy(models.TextChoices):
    SUMMARY = "summary", "Patient/$summary"
    EVERYTHING = "everything", "Patient/$everything"
    SEARCH = "search", _("searches per resource type")


class Pull(models.Model):
    """One pull from one source, run by one job: what came back and what the citizen should know about it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="pull")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pulls")
    source = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="pulls")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="pulls")
    strategy = models.CharField(_("strategy"), max_length=12, choices=PullStrategy.choices, blank=True)
    added = models.PositiveIntegerField(_("added"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    missing = models.PositiveIntegerField(_("no longer at the source"), default=0)
    # Resources the source returned for someone else (an upstream ignoring the patient parameter): dropped.
    dropped_other_patient = models.PositiveIntegerField(_("dropped: other patient"), default=0)
    skipped_invalid = models.PositiveIntegerField(_("skipped: unreadable"), default=0)
    # [{"message": English msgid with %(name)s, "params": {...}}]: counts and types only, never content.
    warnings = models.JSONField(_("warnings"), default=list, blank=True)
    complete = models.BooleanField(_("complete"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        verbose_name = _("pull")
        verbose_name_plural = _("pulls")

    def __str__(self) -> str:
        return f"Pull {self.id}"


class StoredResource(models.Model):
    """One FHIR resource of one citizen from one source, as the source last sent it."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="resources")
    source = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="resources")
    resource_type = models.CharField(_("resource type"), max_length=64)
    resource_id = models.CharField(_("resource id"), max_length=64)
    data = models.JSONField(_("resource"))
    content_hash = models.CharField(max_length=64)
    version_id = models.CharField(_("version"), max_length=64, blank=True)
    last_updated = models.DateTimeField(_("last updated at the source"), null=True, blank=True)
    # IPS section key (core.ips.sections), computed when stored so pages query by section.
    section = models.CharField(_("section"), max_length=32, blank=True)
    first_fetched_at = models.DateTimeField(_("first fetched"))
    changed_at = models.DateTimeField(_("last changed"))
    fetched_at = models.DateTimeField(_("last fetched"))
    last_pull = models.ForeignKey(Pull, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # Set when a complete pull no longer found it upstream; kept, never silently deleted.
    missing_since = models.DateTimeField(_("no longer at the source since"), null=True, blank=True)
    # One clinical fact held by several sources (core.fhir.merge): the row shown for it, when that is another
    # row; null for a row that is shown itself. Set by record_merge after every pull.
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="merged_rows"
    )
    # On a shown row: what its fact's sources disagree on, [{"field", "values": [{"value", "source", "key",
    # "date"}]}] with source and key the DataSource and row ids, as text.
    conflicts = models.JSONField(_("conflicts between sources"), default=list, blank=True)

    class Meta:
        verbose_name = _("stored resource")
        verbose_name_plural = _("stored resources")
        constraints = (
            models.UniqueConstraint(
                fields=("owner", "source", "resource_type", "resource_id"), name="one_row_per_resource"
            ),
        )
        indexes = (models.Index(fields=("owner", "section")),)

    def __str__(self) -> str:
        return f"{self.resource_type}/{self.resource_id}"

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.resource_id}"
