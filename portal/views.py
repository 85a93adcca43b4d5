from datetime import date

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.conformance import STATEMENT
from portal.health import broker_check, database_check


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: the portal's own page for a refused form, in the person's language.

    Django's ``reason`` names the check that failed; it is for the logs Django writes anyway, never the page.
    """
    return render(request, "403_csrf.html", status=403)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {
        "db": "ok" if database_check() else "unavailable",
        "broker": "ok" if broker_check() else "unavailable",
    }
    healthy = all(state == "ok" for state in checks.values())
    return JsonResponse(checks, status=200 if healthy else 503)


@require_GET
def conformance(request: HttpRequest) -> HttpResponse:
    """Public: what the portal implements, for people (HTML) and for programs (JSON)."""
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse(STATEMENT)
    return render(request, "conformance.html", {"statement": STATEMENT})


# ---------------------------------------------------------------------------- trust pages (public)

HOUR = 60 * 60
DAY = 24 * HOUR


def _duration(seconds: int) -> str:
    """A lifetime in the largest whole unit it fills, in the active language ("24 hours", "7 days")."""
    if seconds % DAY == 0 and seconds >= 2 * DAY:
        return ngettext("%(count)d day", "%(count)d days", seconds // DAY) % {"count": seconds // DAY}
    if seconds % HOUR == 0:
        return ngettext("%(count)d hour", "%(count)d hours", seconds // HOUR) % {"count": seconds // HOUR}
    minutes = max(seconds // 60, 1)
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


@require_GET
def help_page(request: HttpRequest) -> HttpResponse:
    return render(
        request, "trust/help.html", {"export_lifetime": _duration(settings.EXPORT_FILE_LIFETIME_SECONDS)}
    )


@require_GET
def contact(request: HttpRequest) -> HttpResponse:
    return render(request, "trust/contact.html")


@require_GET
def privacy(request: HttpRequest) -> HttpResponse:
    """The privacy notice, with the retention periods this installation really uses (settings)."""
    context = {
        "data_controller": settings.SERVICE_OPERATOR or gettext("the operator of this portal"),
        "export_lifetime": _duration(settings.EXPORT_FILE_LIFETIME_SECONDS),
        "share_lifetimes": [_duration(seconds) for seconds in settings.SHARE_EXPIRY_CHOICES],
        "longest_share_lifetime": _duration(max(settings.SHARE_EXPIRY_CHOICES)),
        "audit_retention_days": settings.ACCESS_LOG_RETENTION_DAYS,
        "audit_retention_years": settings.ACCESS_LOG_RETENTION_DAYS // 365,
        "session_idle": _duration(settings.SESSION_COOKIE_AGE),
        "session_absolute": _duration(settings.SESSION_ABSOLUTE_LIFETIME_SECONDS),
    }
    return render(request, "trust/privacy.html", context)


# The day this accessibility statement was prepared; change it whenever the statement is reviewed.
ACCESSIBILITY_STATEMENT_DATE = date(2026, 12, 2)


@require_GET
def accessibility(request: HttpRequest) -> HttpResponse:
    return render(request, "trust/accessibility.html", {"statement_date": ACCESSIBILITY_STATEMENT_DATE})
