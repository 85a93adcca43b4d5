"""allauth's OpenID Connect URLs (same names and paths: /accounts/oidc/<provider id>/login/[callback/]),
served by the hardened views."""

from allauth.socialaccount import app_settings
from django.urls import include, path

from portal.accounts.eid import views

_patterns = [
    path(
        "<str:provider_id>/",
        include(
            [
                path("login/", views.login, name="openid_connect_login"),
                path("login/callback/", views.callback, name="openid_connect_callback"),
            ]
        ),
    )
]
prefix = app_settings.OPENID_CONNECT_URL_PREFIX
urlpatterns = [path(f"{prefix}/", include(_patterns))] if prefix else _patterns
