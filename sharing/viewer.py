"""The clinician viewer: a static page; everything it shows is fetched and decrypted in the browser.

The page is the SMART Health Links "Receiving Application". The link (with its key) lives in the URL fragment,
which browsers never send to a server; the script (static/viewer/viewer.js, built from frontend/viewer/) reads
it, removes it from the address bar and talks only to the SHL server the link names.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

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
    response = render(request, "sharing/viewer.html")
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response
