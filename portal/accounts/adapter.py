"""allauth's account adapter for the portal: every link in a mail points at PORTAL_ORIGIN.

allauth builds a mail's links from the request, so a request naming another Host (or port) would send a
citizen's password-reset key to that address. With PORTAL_ORIGIN set (a deployment must set it: the check
``portal.E001``), the request's Host plays no part in any mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.http import HttpRequest

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
    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        if settings.PORTAL_ORIGIN:
            context = {
                **context,
                "current_site": PortalSite(SITE_NAME, urlsplit(settings.PORTAL_ORIGIN).netloc),
            }
        super().send_mail(template_prefix, email, context)

    def get_reset_password_from_key_url(self, key: str) -> str:
        return on_portal_origin(super().get_reset_password_from_key_url(key))

    def get_email_confirmation_url(self, request: HttpRequest, emailconfirmation: Any) -> str:
        return on_portal_origin(super().get_email_confirmation_url(request, emailconfirmation))
