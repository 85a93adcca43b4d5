import time
from typing import Any

from allauth.account.signals import user_logged_in as allauth_logged_in
from allauth.socialaccount.signals import social_account_added
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import HttpRequest

from portal.accounts.adapter import refuse_eid
from portal.accounts.eid.views import SIGNED_IN_WITH_SESSION_KEY, verified_identity
from portal.accounts.reauth import SIGNED_IN_AT_SESSION_KEY
from portal.accounts.services import IdentityConflict, identity_bind, profile_ensure


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _create_profile(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if created:
        profile_ensure(user=instance)


@receiver(user_logged_in)
def _remember_language(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    # The session carries the citizen's language from login on, whatever the browser asks for.
    request.session["preferred_language"] = profile_ensure(user=user).preferred_language


@receiver(user_logged_in)
def _remember_sign_in_time(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    # Sensitive actions ask for the password again unless this session signed in only minutes ago.
    if request is not None and hasattr(request, "session"):
        request.session[SIGNED_IN_AT_SESSION_KEY] = time.time()


@receiver(allauth_logged_in)
def _remember_eid_sign_in(
    sender: Any, request: HttpRequest, user: Any, sociallogin: Any = None, **kwargs: Any
) -> None:
    # Which eID this session signed in with (only a verified identity gets this far): logging out ends that
    # session too.
    if request is None or not hasattr(request, "session"):
        return
    if sociallogin is not None and sociallogin.account.provider:
        request.session[SIGNED_IN_WITH_SESSION_KEY] = sociallogin.account.provider
    else:
        request.session.pop(SIGNED_IN_WITH_SESSION_KEY, None)


@receiver(social_account_added)
def _bind_on_connect(sender: Any, request: HttpRequest, sociallogin: Any, **kwargs: Any) -> None:
    # A signed-in citizen connected the national eID (allauth asked for the password first if the sign-in
    # was old): the identity the callback verified is bound now, or the connection is undone.
    identity = verified_identity(sociallogin)
    if identity is None:
        return
    try:
        identity_bind(user=sociallogin.user, identity=identity)
    except IdentityConflict as conflict:
        sociallogin.account.delete()
        refuse_eid(request, conflict.code, user=sociallogin.user)
