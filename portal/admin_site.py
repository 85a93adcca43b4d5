"""The admin is for staff who sign in with a second factor: without an authenticator app (or security key)
a staff account is sent to set one up, and the admin answers as if it were not signed in. Every change made
there (added, changed, deleted) is a row of the audit trail, whichever app's admin made it."""

from collections.abc import Callable
from typing import Any

from allauth.account.decorators import secure_admin_login
from allauth.mfa.models import Authenticator
from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from portal.accounts.admin import replace_library_admins
from portal.accounts.models import User
from portal.audit.models import Action
from portal.audit.services import audit_record

SECOND_FACTORS = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


def has_second_factor(request: HttpRequest) -> bool:
    cached = getattr(request, "_portal_has_second_factor", None)
    if cached is None:
        user = request.user
        cached = (
            user.is_authenticated
            and Authenticator.objects.filter(user_id=user.pk, type__in=SECOND_FACTORS).exists()
        )
        request._portal_has_second_factor = cached  # type: ignore[attr-defined]  # admin asks many times
    return bool(cached)


def staff_with_second_factor(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff) and has_second_factor(request)


def _login_requiring_second_factor(login: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if user.is_authenticated and user.is_staff and not has_second_factor(request):
            return redirect("mfa_activate_totp")
        return login(request, *args, **kwargs)

    return view


def _changed_fields(message: Any) -> list[str]:
    """The labels of the fields an admin change message lists (Django's JSON), nothing of their values."""
    names: list[str] = []
    for part in message if isinstance(message, list) else []:
        changed = part.get("changed") if isinstance(part, dict) else None
        fields = changed.get("fields") if isinstance(changed, dict) else None
        names += [str(name)[:80] for name in fields or [] if isinstance(name, str)]
    return names[:30]


def _audit_change(request: HttpRequest, obj: models.Model, action: Action, message: Any = None) -> None:
    # Whose trail: the citizen the object is (a user) or belongs to; a user being deleted takes their own
    # trail along, so their deletion is kept as the operator's row alone.
    owner = obj if isinstance(obj, User) else getattr(obj, "owner", None)
    if action == Action.ADMIN_DELETED and isinstance(obj, User):
        owner = None
    fields = _changed_fields(message)
    audit_record(
        action=action,
        owner=owner if isinstance(owner, User) else None,
        actor=request.user if isinstance(request.user, User) else None,
        actor_kind="operator",
        target=obj,
        detail={"fields": fields} if fields else None,
    )


class AuditedModelAdmin(admin.ModelAdmin):
    """Writes one audit row for every add, change and delete the admin logs."""

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        logged = super().log_addition(request, obj, message)
        _audit_change(request, obj, Action.ADMIN_ADDED)
        return logged

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        logged = super().log_change(request, obj, message)
        _audit_change(request, obj, Action.ADMIN_CHANGED, message)
        return logged

    def log_deletions(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        logged = super().log_deletions(request, queryset)
        for obj in queryset:  # called before the objects go
            _audit_change(request, obj, Action.ADMIN_DELETED)
        return logged


def audit_every_admin(site: admin.AdminSite) -> None:
    """Every registered admin, ours and the libraries', becomes an audited one (its own class underneath)."""
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, AuditedModelAdmin):
            continue
        audited = type(f"Audited{type(model_admin).__name__}", (AuditedModelAdmin, type(model_admin)), {})
        site.unregister(model)
        site.register(model, audited)


def configure(site: admin.AdminSite) -> None:
    # Staff sign in through allauth (its rate limits and MFA step apply), and need a second factor.
    site.login = _login_requiring_second_factor(secure_admin_login(site.login))  # type: ignore[method-assign]
    site.has_permission = staff_with_second_factor  # type: ignore[method-assign]
    site.site_header = "Yellow Button administration"
    replace_library_admins(site)
    audit_every_admin(site)
