from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from portal.accounts.models import CitizenProfile, User


class CitizenProfileInline(admin.StackedInline):
    model = CitizenProfile
    can_delete = False
    # Staff can see that an identifier is on file, never the identifier itself.
    fields = ("preferred_language", "national_identifier_system", "identifier_on_file")
    readonly_fields = ("national_identifier_system", "identifier_on_file")

    @admin.display(boolean=True, description=_("national identifier on file"))
    def identifier_on_file(self, profile: CitizenProfile) -> bool:
        return profile.has_national_identifier


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
