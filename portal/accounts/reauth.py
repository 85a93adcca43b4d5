"""Re-authentication before sensitive actions (sharing health data): allauth's, unless the login is recent.

allauth counts only an explicit re-authentication as recent; a citizen who signed in a minute ago should not
type the password twice. Older sessions go through allauth's reauthenticate page, which then resumes the
suspended POST.

allauth keeps the suspended POST in the session until the password is typed (or the session ends). A form that
carries a secret (a share's passcode) is therefore shown only after a recent sign-in, and a POST suspended
anyway (the form stayed open too long) is kept without the secret: the resumed request names what was withheld
in ``WITHHELD_FIELD``, and the view asks for it again instead of acting without it.
"""

import time
from collections.abc import Callable, Collection
from functools import wraps
from typing import Any

from allauth.account.decorators import reauthentication_required
from allauth.core.exceptions import ReauthenticationRequired
from django.conf import settings
from django.http import HttpRequest

SIGNED_IN_AT_SESSION_KEY = "portal_signed_in_at"

# Set (to the names of the dropped fields) on a resumed POST whose secret fields were not kept.
WITHHELD_FIELD = "portal_withheld"


def signed_in_recently(request: HttpRequest) -> bool:
    signed_in_at = request.session.get(SIGNED_IN_AT_SESSION_KEY)
    if not isinstance(signed_in_at, int | float):
        return False
    return 0 <= time.time() - signed_in_at < settings.ACCOUNT_REAUTHENTICATION_TIMEOUT


def withhold_secrets(request: HttpRequest, secret_fields: Collection[str]) -> None:
    """Drop ``secret_fields`` from the POST about to be suspended; name the non-empty ones in WITHHELD_FIELD.

    An empty secret (no passcode asked for) is no secret: it is dropped without a mark, so the resumed POST
    still acts as the citizen asked.
    """
    post = request.POST.copy()
    withheld = [name for name in secret_fields if any(post.getlist(name))]
    for name in secret_fields:
        post.pop(name, None)
    post.pop(WITHHELD_FIELD, None)
    if withheld:
        post.setlist(WITHHELD_FIELD, withheld)
    post._mutable = False
    request.POST = post  # type: ignore[assignment]  # settable on WSGIRequest and ASGIRequest


def recent_login_required(
    view: Callable[..., Any], *, secret_fields: Collection[str] = ()
) -> Callable[..., Any]:
    """The password again unless the sign-in is recent.

    Without ``secret_fields`` GET only shows a form: the re-authentication comes with the POST that acts, and
    allauth replays it. With them the form itself comes after the password (a GET is not suspended, so allauth
    just sends the citizen back to it), and a suspended POST is kept without them.
    """
    guarded = reauthentication_required(
        view, allow_get=not secret_fields, enabled=lambda request: not signed_in_recently(request)
    )
    if not secret_fields:
        return guarded

    @wraps(view)
    def withholding(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            return guarded(request, *args, **kwargs)
        except ReauthenticationRequired:
            # allauth's middleware suspends the request (into the session) when this propagates.
            if request.method == "POST":
                withhold_secrets(request, secret_fields)
            raise

    return withholding
