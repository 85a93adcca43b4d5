"""The clinician's side: the public SMART Health Link endpoints under ``/shl/`` (manifest POST, direct file
GET for the U flag, files) and the viewer page.

No cookies, no CSRF (clients are other origins), any origin may read the answers (CORS ``*`` without
credentials), and nothing is cached on the way. Every refusal is the same 404.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from django_ratelimit.core import get_usage

from portal.audit.models import Action, Outcome
from sharing.clinician import services
from sharing.models import Share

NOT_FOUND_BODY = {"error": "not found"}


def _public(response: HttpResponse) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Expose-Headers"] = "Retry-After"
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _json(data: Any, *, status: int = 200) -> HttpResponse:
    return _public(JsonResponse(data, status=status))


def _not_found() -> HttpResponse:
    return _json(NOT_FOUND_BODY, status=404)


def _preflight() -> HttpResponse:
    response = HttpResponse(status=204)
    response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Access-Control-Max-Age"] = "600"
    return _public(response)


def _too_many(request: HttpRequest, *, group: str) -> int:
    """Seconds to wait when this client has asked too often for this link (or unknown links), else 0."""
    usage = get_usage(request, group=group, key="ip", rate=settings.SHL_RATE_LIMIT, increment=True)
    if usage and usage["should_limit"]:
        return max(int(usage["time_left"]), 1)
    return 0


def _rate_limited(wait: int) -> HttpResponse:
    response = _json({"error": "too many requests"}, status=429)
    response["Retry-After"] = str(wait)
    return response


def _jose(body: str) -> HttpResponse:
    return _public(HttpResponse(body, content_type="application/jose"))


@csrf_exempt
def shl_manifest(request: HttpRequest, manifest_id: str) -> HttpResponse:
    """POST: the manifest. GET ``?recipient=``: a U-flag link's one file. OPTIONS: CORS preflight."""
    if request.method == "OPTIONS":
        return _preflight()
    if request.method not in ("GET", "POST"):
        response = _json({"error": "method not allowed"}, status=405)
        response["Allow"] = "GET, POST, OPTIONS"
        return response
    # One bucket per link id asked for, known or not: a 429 must not tell which ids exist. Nothing is
    # written while answering 429, so a flood cannot grow the citizen's log.
    wait = _too_many(request, group=services.rate_limit_group(manifest_id))
    if wait:
        return _rate_limited(wait)
    share = services.share_by_manifest_id(manifest_id)
    if share is None:
        return _not_found()
    try:
        if request.method == "GET":
            return _jose(services.direct_fetch(share=share, recipient=request.GET.get("recipient")))
        return _json(_manifest(request, share))
    except services.NotAvailable:
        return _not_found()
    except services.WrongPasscode as wrong:
        return _json({"remainingAttempts": wrong.remaining_attempts}, status=401)
    except services.BadRequest as error:
        return _json({"error": str(error)}, status=400)


def _manifest(request: HttpRequest, share: Share) -> dict[str, Any]:
    try:
        if len(request.body) > settings.SHL_MANIFEST_BODY_MAX_BYTES:
            raise services.BadRequest("the request body is too large")
        parsed = services.parse_manifest_request(json.loads(request.body or b"null"))
    except (ValueError, RecursionError, services.BadRequest) as error:  # however deep the body, a 400
        services.access_record(
            share=share, recipient="", action=Action.LINK_MANIFEST, outcome=Outcome.BAD_REQUEST
        )
        if isinstance(error, services.BadRequest):
            raise
        raise services.BadRequest("the body must be JSON") from error
    return services.manifest_open(
        share=share,
        request=parsed,
        # The link's own origin, as the manifest URL has it (right behind a TLS-terminating proxy too).
        file_url=lambda token: f"{share.origin}{reverse('shl_file', args=[token])}",
    )


@csrf_exempt
def shl_file(request: HttpRequest, token: str) -> HttpResponse:
    """A manifest's ``location``: the file's JWE as ``application/jose``."""
    if request.method == "OPTIONS":
        return _preflight()
    if request.method != "GET":
        response = _json({"error": "method not allowed"}, status=405)
        response["Allow"] = "GET, OPTIONS"
        return response
    wait = _too_many(request, group="shl:files")
    if wait:
        return _rate_limited(wait)
    try:
        return _jose(services.file_fetch(token=token))
    except services.NotAvailable:
        return _not_found()


# ---------------------------------------------------------------------------- the viewer page

# Nothing on this page may run or load except our own script and stylesheets: a second wall behind the
# narrative sanitiser. connect-src lets the script reach any https SHL server (and loopback http, for tests
# and the demo); images come only from us, so narrative cannot ping a third party even if it slipped through.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self' https: http://127.0.0.1:* http://localhost:*",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)


@require_GET
def viewer(request: HttpRequest) -> HttpResponse:
    """A static page: the link (with its key) stays in the URL fragment, which browsers never send; the
    script (static/viewer/viewer.js, built from frontend/viewer/) reads it and talks only to the SHL server
    the link names."""
    response = render(request, "sharing/viewer.html")
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response
