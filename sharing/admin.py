from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from sharing.links.selectors import access_counts
from sharing.links.services import share_status
from sharing.models import Export, Share

# Operators see that exports happened and how they went; the files and their content are not in the admin.
# What happened to them, and every access to a link, is in the audit trail's admin.


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "owner",
        "format",
        "job_status",
        "created_at",
        "expires_at",
        "file_deleted_at",
        "size",
    )
    list_filter = ("format",)
    readonly_fields = (
        "id", "owner", "job", "format", "sections", "language", "sha256", "size", "entry_count",
        "created_at", "finished_at", "expires_at", "file_deleted_at",
    )  # fmt: skip
    # Left-out item ids and the storage name stay out: they point at a citizen's data.
    exclude = ("excluded_items", "storage_name")

    @admin.display(description="job status")
    def job_status(self, export: Export) -> str:
        return export.job.status

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Share)
class ShareAdmin(ReadOnlyAdmin):
    """Status, expiry and use of each link; never its key, manifest id, passcode or files."""

    list_display = ("id", "owner", "status", "has_passcode", "created_at", "expires_at", "access_count")
    readonly_fields = (
        "id", "owner", "job", "label", "sections", "language", "direct", "created_at", "expires_at",
        "ready_at", "paused_at", "revoked_at", "files_deleted_at", "passcode_attempts_left",
    )  # fmt: skip
    exclude = ("link_secret", "manifest_digest", "passcode_hash", "excluded_items", "origin")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Share]:
        return super().get_queryset(request).select_related("job", "owner")

    @admin.display(description="status")
    def status(self, share: Share) -> str:
        return str(share_status(share))

    @admin.display(description="passcode", boolean=True)
    def has_passcode(self, share: Share) -> bool:
        return share.has_passcode

    @admin.display(description="accesses")
    def access_count(self, share: Share) -> int:
        # The accesses are rows of the audit trail (searchable there by the share's id).
        return access_counts(share_ids=[share.id]).get(share.id, 0)
