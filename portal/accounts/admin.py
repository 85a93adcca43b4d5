from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from portal.accounts.models import CitizenProfile, NationalIdentity, User


class CitizenProfileInline(admin.StackedInline):
    model = CitizenProfile
    can_delete = False
    fields = ("preferred_language", "identifier_on_file")
    readonly_fields = ("identifier_on_file",)

    @admin.display(boolean=True, description=_("national identifier on file"))
    def identifier_on_file(self, profile: CitizenProfile) -> bool:
        return NationalIdentity.objects.filter(user_id=profile.user_id).exists()


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "is_active", "is_staff", "date_joined", "last_login")
    search_fields = ("email",)
    inlines = (CitizenProfileInline,)
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Name"), {"fields": ("first_name", "last_name")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(NationalIdentity)
class NationalIdentityAdmin(admin.ModelAdmin):
    """Staff see that a binding exists and how it was verified, never the identifier; they may remove a
    binding (audited, as every admin change is), never write one: only a verified eID sign-in does."""

    list_display = ("id", "user", "system", "masked", "acr", "verified_at")
    list_filter = ("system", "acr")
    fields = ("user", "system", "masked", "issuer", "acr", "verified_at", "created_at")
    readonly_fields = fields

    @admin.display(description=_("national identifier"))
    def masked(self, identity: NationalIdentity) -> str:
        return identity.masked_value

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
