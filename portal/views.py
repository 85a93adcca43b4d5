from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.conformance import STATEMENT
from portal.health import broker_check, database_check


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
