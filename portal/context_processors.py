"""Template context every page may use."""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext

from portal.records.selectors import readiness


def citizen_readiness(request: HttpRequest) -> dict[str, Any]:
    """`readiness`: where a signed-in citizen stands on the way to their summary, read only when a page asks
    (portal.records.selectors.Readiness), so that every page can say what to do next."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.is_staff:
        return {}
    return {"readiness": SimpleLazyObject(lambda: readiness(owner=user))}


@dataclass(frozen=True)
class Service:
    """Who runs this portal, as the operator set it (settings ``SERVICE_*``); blanks are ""."""

    name: str
    logo_url: str
    operator: str
    contact_email: str
    contact_phone: str
    contact_address: str
    contact_hours: str

    @property
    def has_contact(self) -> bool:
        return bool(self.contact_email or self.contact_phone or self.contact_address)


def current_service() -> Service:
    """The service as configured, its default name in the active language."""
    return Service(
        name=settings.SERVICE_NAME or gettext("Yellow Button"),
        logo_url=settings.SERVICE_LOGO_URL,
        operator=settings.SERVICE_OPERATOR,
        contact_email=settings.SERVICE_CONTACT_EMAIL,
        contact_phone=settings.SERVICE_CONTACT_PHONE,
        contact_address=settings.SERVICE_CONTACT_ADDRESS,
        contact_hours=settings.SERVICE_CONTACT_HOURS,
    )


def service(request: HttpRequest) -> dict[str, Any]:
    """`service`: the portal's name, logo and contact as the operator set them (see ``Service``)."""
    return {"service": SimpleLazyObject(current_service)}
