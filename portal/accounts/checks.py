"""System checks (run by migrate, collectstatic and `manage.py check`): a deployment states its own origin."""

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, register


@register()
def portal_origin_check(app_configs: Any, **kwargs: Any) -> list[Error]:
    origin = settings.PORTAL_ORIGIN
    if not origin:
        if settings.DEBUG:
            return []
        return [
            Error(
                "PORTAL_ORIGIN must be set when DEBUG is off: mails and links name the portal's public "
                "address, never the Host a request gave.",
                hint="e.g. PORTAL_ORIGIN=https://portal.example.dk",
                id="portal.E001",
            )
        ]
    parts = urlsplit(origin)
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.path
        or parts.query
        or parts.fragment
    ):
        return [Error("PORTAL_ORIGIN must be scheme://host[:port] and nothing else.", id="portal.E002")]
    return []
