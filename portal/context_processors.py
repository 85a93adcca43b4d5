"""Template context every page may use."""

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from portal.records.selectors import readiness


def citizen_readiness(request: HttpRequest) -> dict[str, Any]:
    """`readiness`: where a signed-in citizen stands on the way to their summary, read only when a page asks
    (portal.records.selectors.Readiness), so that every page can say what to do next."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.is_staff:
        return {}
    return {"readiness": SimpleLazyObject(lambda: readiness(owner=user))}
