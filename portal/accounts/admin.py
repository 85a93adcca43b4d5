from allauth.mfa.models import Authenticator
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
    readonly_fields = ("last_login", "date_joined")  # the portal records them; nobody edits them
    # Plain multiple selects, each with its label: the two-box widget's icons carry ARIA labels on bare spans.
    filter_horizontal = ()


class AuthenticatorAdmin(admin.ModelAdmin):
    """A citizen's second factors: staff see which exist and may remove one (a lost phone), never their
    secrets or recovery codes (the ``data`` field), and never add or change one."""

    list_display = ("user", "type", "created_at", "last_used_at")
    list_filter = ("type",)
    search_fields = ("user__email",)
    fields = ("user", "type", "created_at", "last_used_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def replace_library_admins(site: admin.AdminSite) -> None:
    """allauth's own admin for authenticators shows and edits their secrets; ours does not."""
    if site.is_registered(Authenticator):
        site.unregister(Authenticator)
    site.register(Authenticator, AuthenticatorAdmin)


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
