from django.contrib import admin
from django.http import HttpRequest

from portal.audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Operators search the trail; nobody edits it or deletes from it (only the retention purge does)."""

    list_display = (
        "created_at", "owner", "actor_kind", "actor", "recipient", "action", "target_type", "target_id",
        "outcome", "repeats", "last_at",
    )  # fmt: skip
    list_filter = ("action", "actor_kind", "outcome")
    list_select_related = ("owner", "actor")
    search_fields = ("target_id", "owner__email", "actor__email")
    date_hierarchy = "created_at"
    # Counting the whole trail on every search is slow and tells an operator nothing.
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
