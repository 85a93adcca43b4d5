from django.contrib import admin
from django.http import HttpRequest

from portal.jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "progress", "owner", "attempts", "created_at", "finished_at")
    list_filter = ("status", "kind")
    # Parameters may name what a citizen chose to export: operators see state, never content.
    fields = (
        "id", "kind", "status", "progress", "detail", "owner", "attempts",
        "created_at", "started_at", "finished_at", "updated_at",
    )  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
