import time
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import HttpRequest

from portal.accounts.reauth import SIGNED_IN_AT_SESSION_KEY
from portal.accounts.services import profile_ensure


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
