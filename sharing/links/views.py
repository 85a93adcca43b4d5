"""The citizen's side of sharing: create a link, see it (link, QR code, its access log), pause, revoke."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from portal.accounts.auth import request_citizen
from portal.accounts.reauth import WITHHELD_FIELD
from portal.accounts.services import profile_ensure
from portal.security import letting_data_out
from sharing.links import selectors, services
from sharing.links.forms import PasscodeForm
from sharing.links.services import ShareStatus
from sharing.models import Share
from sharing.selection import SelectionForm, kept_selection, section_choices

EXPIRY_LABELS = {
    15 * 60: gettext_noop("15 minutes"),
    24 * 60 * 60: gettext_noop("24 hours"),
    7 * 24 * 60 * 60: gettext_noop("7 days"),
    30 * 24 * 60 * 60: gettext_noop("30 days"),
}


def _expiry_choices() -> list[tuple[int, str]]:
    return [
        (seconds, gettext(EXPIRY_LABELS[seconds]) if seconds in EXPIRY_LABELS else f"{seconds} s")
        for seconds in settings.SHARE_EXPIRY_CHOICES
    ]


# Never kept in a session, not even while a POST waits for the password (see portal.accounts.reauth).
SECRET_FIELDS = ("passcode", "passcode_again")


def _kept_choices(request: HttpRequest) -> dict[str, Any] | None:
    """What the citizen chose in the form just posted, to show it again (never the passcode)."""
    if request.method != "POST":
        return None
    expires_in = request.POST.get("expires_in", "")
    return {
        # Only one of the offered choices is ticked again; anything else leaves the default.
        "expires_in": int(expires_in)
        if expires_in.isdigit() and int(expires_in) in settings.SHARE_EXPIRY_CHOICES
        else None,
        "label": request.POST.get("label", ""),
        "direct": request.POST.get("direct") == "on",
        **kept_selection(request.POST),
    }


def _shares_page(
    request: HttpRequest, *, error: str = "", passcode_error: str = "", status: int = 200
) -> HttpResponse:
    owner = request_citizen(request)
    owned = list(selectors.shares_of_owner(owner=owner)[:20])
    counts = selectors.access_counts(share_ids=[share.id for share in owned])
    return render(
        request,
        "sharing/shares.html",
        {
            "sections": section_choices(owner=owner),
            "expiry_choices": _expiry_choices(),
            "shares": [(share, services.share_status(share), counts.get(share.id, 0)) for share in owned],
            "error": error,
            "passcode_error": passcode_error,
            "kept": _kept_choices(request),
        },
        status=status,
    )


def _origin(request: HttpRequest) -> str:
    return settings.PORTAL_ORIGIN or f"{request.scheme}://{request.get_host()}"


@letting_data_out("SHARE_CREATE_RATE", secret_fields=SECRET_FIELDS)
def shares_view(request: HttpRequest) -> HttpResponse:
    """GET: the share form and the citizen's links. POST: create a link (after a recent sign-in only)."""
    if request.method == "GET":
        return _shares_page(request)
    if request.POST.get(WITHHELD_FIELD):
        # Resumed after the password: the passcode was not kept meanwhile. No link without it.
        return _shares_page(
            request,
            error=gettext(
                "For your safety, the link's passcode was not kept while you confirmed your password. "
                "Please type the passcode again, then make the link."
            ),
        )
    owner = request_citizen(request)
    selection = SelectionForm(request.POST)
    if not selection.is_valid():
        return _shares_page(request, error=gettext(selection.first_error()), status=400)
    passcode = PasscodeForm(request.POST)
    if not passcode.is_valid():
        # Said next to the passcode fields; nothing is made, and neither entry is shown again.
        return _shares_page(request, passcode_error=gettext(passcode.first_error()), status=400)
    try:
        share = services.share_create(
            owner=owner,
            expires_in=int(request.POST.get("expires_in", "")),
            origin=_origin(request),
            passcode=passcode.passcode_value,
            label=request.POST.get("label", ""),
            sections=selection.document_sections,
            excluded_items=selection.excluded_items,
            direct=request.POST.get("direct") == "on",
            language=profile_ensure(user=owner).preferred_language,
        )
    except services.ShareRequestError as error:
        return _shares_page(request, error=gettext(str(error)), status=400)
    except ValueError:
        return _shares_page(
            request, error=gettext("That request could not be read. Please try again."), status=400
        )
    return redirect("share_detail", share_id=share.id)


def _own_share(request: HttpRequest, share_id: uuid.UUID) -> Share:
    return get_object_or_404(selectors.shares_of_owner(owner=request_citizen(request)), id=share_id)


@require_GET
@never_cache
@login_required
def share_detail(request: HttpRequest, share_id: uuid.UUID) -> HttpResponse:
    share = _own_share(request, share_id)
    status = services.share_status(share)
    link = qr = ""
    if status in (ShareStatus.ACTIVE, ShareStatus.PAUSED):
        link = services.share_link(share)
        qr = services.share_qr_svg(link)
    response = render(
        request,
        "sharing/share_detail.html",
        {
            "share": share,
            "status": status,
            "statuses": ShareStatus,
            "link": link,
            "qr_svg": qr,
            "accesses": selectors.with_shares(
                owner=share.owner, events=selectors.accesses_of_share(share=share)[:200]
            ),
        },
    )
    # The page holds the link (and with it the key): keep it out of every cache.
    response["Cache-Control"] = "no-store, private"
    return response


SHARE_ACTIONS = {
    "revoke": services.share_revoke,
    "pause": services.share_pause,
    "resume": services.share_resume,
}


# What the page says once an action is done.
SHARE_ACTION_DONE = {
    "revoke": gettext_noop("The link is revoked: nobody can open it any more, and its files are deleted."),
    "pause": gettext_noop("The link is paused: nobody can open it until you resume it."),
    "resume": gettext_noop("The link works again until it expires."),
}


@require_http_methods(["GET", "POST"])
@never_cache
@login_required
def share_action(request: HttpRequest, share_id: uuid.UUID, action: str) -> HttpResponse:
    """Revoke (for good), pause or resume one of the citizen's own links. Revoking cannot be undone, so its
    button leads here by GET first: a page that says what it will do and asks to confirm."""
    if action not in SHARE_ACTIONS or (request.method == "GET" and action != "revoke"):
        raise Http404
    share = _own_share(request, share_id)
    if request.method == "GET":
        return render(
            request, "sharing/share_revoke.html", {"share": share, "status": services.share_status(share)}
        )
    SHARE_ACTIONS[action](share=share)
    messages.success(request, gettext(SHARE_ACTION_DONE[action]))
    return redirect("share_detail", share_id=share.id)


@require_GET
@never_cache
@login_required
def access_log(request: HttpRequest) -> HttpResponse:
    """Every request that reached one of the citizen's links: when, who (as given), which link, outcome."""
    owner = request_citizen(request)
    page = Paginator(selectors.link_accesses_of_owner(owner=owner), 50).get_page(request.GET.get("page"))
    accesses = selectors.with_shares(owner=owner, events=page.object_list)
    return render(request, "sharing/access_log.html", {"page": page, "accesses": accesses})
