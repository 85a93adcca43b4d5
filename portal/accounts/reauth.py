"""Re-authentication before sensitive actions (sharing health data): allauth's, unless the login is recent.

allauth counts only an explicit re-authentication as recent; a citizen who signed in a minute ago should not
type the password twice. Older sessions go through allauth's reauthenticate page, which then resumes the
suspended POST.
"""

import time
from collections.abc import Callable
from typing import Any

from allauth.account.decorators import reauthentication_required
from django.conf import settings
from django.http import HttpRequest

SIGNED_IN_AT_SESSION_KEY = "portal_signed_in_at"


def signed_in_recently(request: HttpRequest) -> bool:
    signed_in_at = request.session.get(SIGNED_IN_AT_SESSION_KEY)
    if not isinstance(signed_in_at, int | float):
        return False
    return 0 <= time.time() - signed_in_at < settings.ACCOUNT_REAUTHENTICATION_TIMEOUT


def recent_login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    # GET only shows a form: the re-authentication comes with the POST that acts, and allauth replays it.
    return reauthentication_required(
        view, allow_get=True, enabled=lambda request: not signed_in_recently(request)
    )
