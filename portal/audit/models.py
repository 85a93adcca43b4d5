from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ActorKind(models.TextChoices):
    CITIZEN = "citizen", _("Citizen")
    RECIPIENT = "recipient", _("Recipient of a link")
    OPERATOR = "operator", _("Portal staff")
    SYSTEM = "system", _("The portal")


class Action(models.TextChoices):
    SIGNED_IN = "account.signed-in", _("Signed in")
    SIGNED_OUT = "account.signed-out", _("Signed out")
    EID_LINKED = "account.eid-linked", _("National eID linked")
    EID_REFUSED = "account.eid-refused", _("Sign-in with national eID refused")
    MFA_ADDED = "mfa.added", _("Two-factor authentication added")
    MFA_REMOVED = "mfa.removed", _("Two-factor authentication removed")
    MFA_RESET = "mfa.reset", _("Recovery codes made anew")
    PULL_STARTED = "records.pull-started", _("Fetching records started")
    PULL_FINISHED = "records.pull-finished", _("Fetching records finished")
    SOURCE_CONNECTED = "records.source-connected", _("Data source connected")
    EXPORT_MADE = "export.made", _("Summary prepared for download")
    EXPORT_DOWNLOADED = "export.downloaded", _("Summary downloaded")
    EXPORT_FAILED = "export.failed", _("Summary could not be prepared")
    SHARE_CREATED = "share.created", _("Link made")
    SHARE_PAUSED = "share.paused", _("Link paused")
    SHARE_RESUMED = "share.resumed", _("Link resumed")
    SHARE_REVOKED = "share.revoked", _("Link revoked")
    LINK_MANIFEST = "link.manifest", _("Opened the link")
    LINK_FILE = "link.file", _("Fetched a file")
    LINK_DIRECT = "link.direct", _("Fetched the document directly")
    ADMIN_ADDED = "admin.added", _("Added by portal staff")
    ADMIN_CHANGED = "admin.changed", _("Changed by portal staff")
    ADMIN_DELETED = "admin.deleted", _("Deleted by portal staff")


# Requests to a citizen's links, made by whoever holds the link: the access log is these rows.
RECIPIENT_ACTIONS = frozenset({Action.LINK_MANIFEST, Action.LINK_FILE, Action.LINK_DIRECT})
EXPORT_ACTIONS = frozenset({Action.EXPORT_MADE, Action.EXPORT_DOWNLOADED, Action.EXPORT_FAILED})
# Written by jobs that may be delivered more than once: the database keeps one row per target.
ONCE_PER_TARGET_ACTIONS = frozenset({Action.EXPORT_MADE})


class Outcome(models.TextChoices):
    OK = "ok", _("Done")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    # What became of a request to a link.
    OPENED = "opened", _("Opened")
    FILE_SENT = "file-sent", _("File sent")
    WRONG_PASSCODE = "wrong-passcode", _("Wrong passcode")
    LOCKED = "locked", _("Refused: locked after too many wrong passcodes")
    EXPIRED = "expired", _("Refused: the link had expired")
    REVOKED = "revoked", _("Refused: you had revoked the link")
    PAUSED = "paused", _("Refused: you had paused the link")
    NOT_READY = "not-ready", _("Refused: the link was not ready yet")
    FILE_LINK_GONE = "file-link-gone", _("Refused: the file address had expired or was used")
    TOO_MANY = "too-many-requests", _("Refused: too many requests")
    BAD_REQUEST = "bad-request", _("Refused: the request could not be read")


class FileKind(models.TextChoices):
    DOCUMENT = "document", _("Patient summary (FHIR document)")
    PDF = "pdf", _("Patient summary (PDF)")


class AuditEntry(models.Model):
    """One thing that happened to a citizen's account or data, or to the portal's configuration.

    Ids, codes and outcomes only: never clinical content, links, keys, passcodes or national identifiers. The
    one free text is the name a link's recipient gave, kept because the citizen must see who used their link.
    """

    # A default rather than auto_now_add: copied history keeps its own timestamps.
    created_at = models.DateTimeField(_("when"), default=timezone.now, editable=False, db_index=True)
    # Whose trail this is; empty for staff changes to the portal's own configuration.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="audit_entries",
    )
    actor_kind = models.CharField(_("actor kind"), max_length=16, choices=ActorKind.choices)
    # The citizen or the staff member who acted; the row outlives a deleted staff account.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    recipient = models.CharField(_("recipient (as given)"), max_length=200, blank=True)
    action = models.CharField(_("action"), max_length=40, choices=Action.choices)
    target_type = models.CharField(_("target type"), max_length=40, blank=True)
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    outcome = models.CharField(_("outcome"), max_length=32, choices=Outcome.choices, default=Outcome.OK)
    # Allow-listed small values only (portal.audit.services.audit_record checks them).
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    # A flood of like refusals is one row that counts them (first time above, last time here).
    repeats = models.PositiveIntegerField(_("times"), default=1)
    last_at = models.DateTimeField(_("last time"), null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit trail")
        indexes = (
            models.Index(fields=("owner", "created_at")),
            models.Index(fields=("target_type", "target_id", "created_at")),
            models.Index(fields=("action", "created_at")),
        )
        constraints = (
            # A job delivered twice writes its row once. Rows without a target (copied history of a deleted
            # export) are not "the same target" and stay apart.
            models.UniqueConstraint(
                fields=("action", "target_type", "target_id"),
                condition=models.Q(action__in=sorted(ONCE_PER_TARGET_ACTIONS)) & ~models.Q(target_id=""),
                name="audit_once_per_target",
            ),
        )

    def __str__(self) -> str:
        return f"{self.action} {self.outcome} at {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def file_kind(self) -> str:
        value = self.detail.get("file", "") if isinstance(self.detail, dict) else ""
        return value if isinstance(value, str) else ""

    def get_file_kind_display(self) -> str:
        kind = self.file_kind
        return str(FileKind(kind).label) if kind in FileKind.values else ""
