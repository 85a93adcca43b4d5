"""Cross-cutting HTTP security: no caching of anything the portal answers, CSRF under a no-referrer policy,
the session's absolute lifetime, and the answers for rate limits and CSP reports."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.middleware.common import CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited
from django_ratelimit.decorators import ratelimit

from portal.accounts.reauth import SIGNED_IN_AT_SESSION_KEY, recent_login_required

logger = logging.getLogger(__name__)


class NoStoreMiddleware:
    """Every page may carry health data or a share link: no copy in any cache, shared or the browser's.

    Static files never get here (whitenoise answers them first) and keep their long cache lifetime.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        patch_cache_control(response, no_store=True, private=True)
        return response


class NoReferrerCsrfMiddleware(CsrfViewMiddleware):
    """Django's CSRF protection, for pages served with ``Referrer-Policy: no-referrer``.

    Under that policy browsers send ``Origin: null`` with the portal's own form posts. The browser also says
    where the request comes from in ``Sec-Fetch-Site``, which no page script can set: ``same-origin`` there
    vouches for the origin. The CSRF token is checked as always.
    """

    def _origin_verified(self, request: HttpRequest) -> bool:
        if (
            request.META.get("HTTP_ORIGIN") == "null"
            and request.META.get("HTTP_SEC_FETCH_SITE") == "same-origin"
        ):
            return True
        return bool(super()._origin_verified(request))  # type: ignore[misc]  # private in the stubs


class SlashForReadingMiddleware(CommonMiddleware):
    """APPEND_SLASH for reading only. A form posted to an address without its slash cannot be redirected
    (the browser would drop the form; under DEBUG Django raises, a 500): it is the 404 page."""

    def should_redirect_with_slash(self, request: HttpRequest) -> bool:
        return request.method in ("GET", "HEAD") and super().should_redirect_with_slash(request)


class SessionLifetimeMiddleware:
    """Sign-in ends 12 hours after it began, however active the session (the idle limit is the cookie's)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            signed_in_at = request.session.get(SIGNED_IN_AT_SESSION_KEY)
            too_old = not isinstance(signed_in_at, int | float) or (
                time.time() - signed_in_at > settings.SESSION_ABSOLUTE_LIFETIME_SECONDS
            )
            if too_old:
                logout(request)  # flushes the session on the server too
        return self.get_response(request)


def rate_limited(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """django-ratelimit's answer: the portal's 429 page."""
    response = render(request, "429.html", status=429)
    response["Retry-After"] = "60"
    return response


CSP_REPORT_MAX_BYTES = 16 * 1024


@csrf_exempt
@require_POST
def csp_report(request: HttpRequest) -> HttpResponse:
    """Browsers report what the Content-Security-Policy blocked. Logged as directive and origin only: a
    blocked URL's path or query could carry an identifier."""
    if len(request.body) <= CSP_REPORT_MAX_BYTES:
        try:
            report = json.loads(request.body).get("csp-report", {})
            blocked = str(report.get("blocked-uri", ""))
            origin = urlsplit(blocked).netloc or blocked.split(":", 1)[0][:20]
            directive = str(report.get("effective-directive") or report.get("violated-directive", ""))[:60]
            logger.warning("csp violation: directive=%s blocked=%s", directive, origin)
        except (ValueError, AttributeError):
            pass
    return HttpResponse(status=204)


def _rate_of(rate_setting: str) -> Callable[[str, HttpRequest], str]:
    return lambda _group, _request: str(getattr(settings, rate_setting))


def data_out_rate_exceeded(request: HttpRequest, rate_setting: str) -> bool:
    """Count one more creation by this citizen against ``settings.<rate_setting>``, on the very counter
    ``letting_data_out`` keeps for it (same group, key and method); True when that is one too many."""
    return bool(
        is_ratelimited(
            request,
            group=rate_setting,
            key="user",
            rate=_rate_of(rate_setting),
            method="POST",
            increment=True,
        )
    )


def letting_data_out(
    rate_setting: str, *, secret_fields: tuple[str, ...] = ()
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """For a page whose GET shows a form and whose POST lets health data out (a download, a link): signed in,
    never cached, the password again unless the sign-in is recent, and at most ``settings.<rate_setting>``
    creations per citizen (django-ratelimit syntax; more get the 429 page).

    A form with ``secret_fields`` (a passcode) asks for the password before it is shown, and a POST suspended
    for the password is kept in the session without them (see ``portal.accounts.reauth``)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        # The group is the setting's name, so "Try again" on a job page can count on the same counter.
        limited = ratelimit(group=rate_setting, key="user", rate=_rate_of(rate_setting), method="POST")(view)
        guarded = login_required(recent_login_required(limited, secret_fields=secret_fields))
        return require_http_methods(["GET", "POST"])(never_cache(guarded))

    return decorate
