"""The admin is for staff who sign in with a second factor: without an authenticator app (or security key)
a staff account is sent to set one up, and the admin answers as if it were not signed in."""

from collections.abc import Callable
from typing import Any

from allauth.account.decorators import secure_admin_login
from allauth.mfa.models import Authenticator
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

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


def configure(site: admin.AdminSite) -> None:
    # Staff sign in through allauth (its rate limits and MFA step apply), and need a second factor.
    site.login = _login_requiring_second_factor(secure_admin_login(site.login))  # type: ignore[method-assign]
    site.has_permission = staff_with_second_factor  # type: ignore[method-assign]
    site.site_header = "Yellow Button administration"
