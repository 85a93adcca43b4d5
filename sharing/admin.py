from django.contrib import admin
from django.http import HttpRequest

from sharing.models import Activity, Export

# Operators see that exports happened and how they went; the files and their content are not in the admin.


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


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ("created_at", "owner", "kind", "export")
    list_filter = ("kind",)
    readonly_fields = ("owner", "kind", "export", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
