"""allauth's adapters for the portal.

Accounts: every link in a mail points at PORTAL_ORIGIN. allauth builds a mail's links from the request, so a
request naming another Host (or port) would send a citizen's password-reset key to that address. With
PORTAL_ORIGIN set (a deployment must set it: the check ``portal.E001``), the request's Host plays no part in
any mail. ACCOUNT_EMAIL_LOGIN off closes email sign-up and password sign-in.

Social accounts (the national eID): the identity the callback verified decides the account. An identifier
already bound signs in to its account; a new one gets a new account (no form, no email); a signed-in citizen
who connects gets it bound, unless it belongs to another account. Every refusal ends on the authentication
error page, with only its reason code logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialLogin
from allauth.socialaccount.providers.base.constants import AuthError, AuthProcess
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.shortcuts import render

from portal.accounts.eid.tokens import EidRejected
from portal.accounts.eid.views import SIGNED_IN_WITH_SESSION_KEY, end_session_url, verified_identity
from portal.accounts.events import eid_sign_in_refused
from portal.accounts.models import User
from portal.accounts.services import (
    IdentityConflict,
    identity_account,
    identity_bind,
    identity_check,
)

logger = logging.getLogger("portal.accounts.eid")
ERROR_TEMPLATE = "socialaccount/authentication_error.html"

SITE_NAME = "Yellow Button"


@dataclass(frozen=True)
class PortalSite:
    """What mail templates read as ``current_site``: the portal's name and its public host."""

    name: str
    domain: str


def on_portal_origin(url: str) -> str:
    """``url``'s path on PORTAL_ORIGIN; unchanged when none is set (only under DEBUG)."""
    origin = settings.PORTAL_ORIGIN
    if not origin:
        return url
    parts = urlsplit(url)
    return origin + urlunsplit(("", "", parts.path, parts.query, parts.fragment))


class PortalAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return bool(settings.ACCOUNT_EMAIL_LOGIN)

    def authenticate(self, request: HttpRequest, **credentials: Any) -> Any:
        if not settings.ACCOUNT_EMAIL_LOGIN:
            return None
        return super().authenticate(request, **credentials)

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        if settings.PORTAL_ORIGIN:
            context = {
                **context,
                "current_site": PortalSite(SITE_NAME, urlsplit(settings.PORTAL_ORIGIN).netloc),
            }
        super().send_mail(template_prefix, email, context)

    def get_logout_redirect_url(self, request: HttpRequest) -> str:
        home = super().get_logout_redirect_url(request)
        provider_id = request.session.get(SIGNED_IN_WITH_SESSION_KEY)
        if not isinstance(provider_id, str) or not provider_id:
            return home
        # Signed in with the national eID: leave through the eID's sign-out, which comes back home.
        return_to = on_portal_origin(request.build_absolute_uri(home))
        return end_session_url(request, provider_id, return_to=return_to) or home

    def get_reset_password_from_key_url(self, key: str) -> str:
        return on_portal_origin(super().get_reset_password_from_key_url(key))

    def get_email_confirmation_url(self, request: HttpRequest, emailconfirmation: Any) -> str:
        return on_portal_origin(super().get_email_confirmation_url(request, emailconfirmation))


def _signed_in_citizen(request: HttpRequest) -> User | None:
    user = getattr(request, "user", None)
    return user if isinstance(user, User) and user.is_authenticated else None


def refuse_eid(request: HttpRequest, reason: str, *, user: User | None = None) -> NoReturn:
    """End an eID sign-in on the error page: the reason code is logged and audited, nothing else."""
    logger.info("eid sign-in refused: %s", reason)
    eid_sign_in_refused.send(sender=None, reason=reason, user=user)
    response = render(request, ERROR_TEMPLATE, {"eid_reason": reason}, status=403)
    raise ImmediateHttpResponse(response)


def _reason_of(request: HttpRequest, error: Any, exception: Any, extra_context: dict[str, Any]) -> str:
    if isinstance(exception, EidRejected):
        return exception.code
    if exception is not None:
        # allauth's own errors may quote the token endpoint's answer: only their kind is kept.
        return "token-endpoint" if type(exception).__name__ == "OAuth2Error" else "unreachable"
    if error == AuthError.CANCELLED:
        return "cancelled"
    if "error" in request.GET:
        return "provider-error"
    if "state_id" in extra_context:
        return "state"
    return "unknown"


class PortalSocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        # A verified eID person may always get an account, whatever ACCOUNT_EMAIL_LOGIN says.
        return True

    def populate_user(self, request: HttpRequest, sociallogin: SocialLogin, data: Any) -> Any:
        user = super().populate_user(request, sociallogin, data)
        if not user.email:
            user.email = None  # NULL: unique, yet any number of eID accounts may have none
        return user

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: Any = None,
        exception: Any = None,
        extra_context: Any = None,
    ) -> None:
        context = extra_context if isinstance(extra_context, dict) else {}
        reason = _reason_of(request, error, exception, context)
        logger.info("eid sign-in refused: %s", reason)
        eid_sign_in_refused.send(sender=None, reason=reason, user=_signed_in_citizen(request))
        # The error page's context: it explains the reason (never the exception's text).
        context["eid_reason"] = reason

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        identity = verified_identity(sociallogin)
        signed_in = _signed_in_citizen(request)
        if identity is None:
            refuse_eid(request, "no-identity", user=signed_in)
        process = sociallogin.state.get("process")
        social_user = (
            sociallogin.user if sociallogin.is_existing and isinstance(sociallogin.user, User) else None
        )
        try:
            if process == AuthProcess.CONNECT:
                if signed_in is None:
                    refuse_eid(request, "not-signed-in")
                if social_user is not None and social_user.pk != signed_in.pk:
                    raise IdentityConflict("bound-elsewhere")
                identity_check(user=signed_in, identity=identity)
                if social_user is not None:
                    identity_bind(user=signed_in, identity=identity)
                # Otherwise bound once allauth connects (after asking for the password if the sign-in is old):
                # portal.accounts.signals.
                return
            if process != AuthProcess.LOGIN:
                refuse_eid(request, "process", user=signed_in)
            holder = identity_account(identity=identity)
            if holder is not None and social_user is not None and holder.pk != social_user.pk:
                raise IdentityConflict("bound-elsewhere")
            target = holder or social_user
            if target is None:
                identity_check(user=None, identity=identity)  # a new account: bound in save_user
                return
            identity_bind(user=target, identity=identity)
            if not sociallogin.is_existing:
                # The identifier's account (a seeded or email account): this eID person signs in to it.
                sociallogin.connect(request, target)
        except IdentityConflict as conflict:
            refuse_eid(request, conflict.code, user=signed_in)

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form: Any = None) -> Any:
        identity = verified_identity(sociallogin)
        if identity is None:
            refuse_eid(request, "no-identity")
        try:
            # The account and its binding are made together, or not at all.
            with transaction.atomic():
                user = super().save_user(request, sociallogin, form)
                identity_bind(user=user, identity=identity)
        except IdentityConflict as conflict:
            refuse_eid(request, conflict.code)
        return user
