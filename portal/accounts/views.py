from typing import Any

from allauth.account.adapter import get_adapter
from allauth.account.views import EmailView
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from portal.accounts.auth import request_citizen
from portal.accounts.models import Language, NationalIdentity
from portal.accounts.selectors import assurance_suffices, national_identity_for
from portal.accounts.services import profile_ensure, profile_set_language

EIDAS_LOA = "http://eidas.europa.eu/LoA/"


def assurance_in_words(identity: NationalIdentity) -> str:
    """How sure the portal is of the identifier, for the citizen: the eID's assurance level in plain words."""
    if not identity.subject:
        return _("On file, not yet confirmed by a national eID sign-in")
    words = {
        f"{EIDAS_LOA}low": _("Confirmed by national eID at low assurance"),
        f"{EIDAS_LOA}substantial": _("Confirmed by national eID at substantial assurance"),
        f"{EIDAS_LOA}high": _("Confirmed by national eID at high assurance"),
    }
    return str(words.get(identity.acr, _("Confirmed by national eID")))


@require_POST
def language_switch(request: HttpRequest) -> HttpResponse:
    """Django's set_language (cookie + safe redirect), remembered in the profile of a signed-in citizen."""
    response = set_language(request)
    language = request.POST.get("language", "")
    if language in Language.values and request.user.is_authenticated:
        profile_set_language(user=request_citizen(request), language=language)
        request.session["preferred_language"] = language
    return response


@login_required
def account_overview(request: HttpRequest) -> HttpResponse:
    citizen = request_citizen(request)
    identity = national_identity_for(user=citizen)
    return render(
        request,
        "accounts/overview.html",
        {
            "profile": profile_ensure(user=citizen),
            "identity": identity,
            "assurance": assurance_in_words(identity) if identity is not None else "",
            "assurance_suffices": identity is not None and assurance_suffices(identity),
        },
    )


class EmailManageView(EmailView):
    """allauth's email page, with one step more before an address goes: "Remove" first asks, and only the
    confirmation form (its ``confirm`` field) removes. No script needed; allauth does the removal, its checks
    (re-authentication, never the primary address) and its "removed" message as before."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if "action_remove" in request.POST and "confirm" not in request.POST:
            address = self._get_email_address(request)
            # An address allauth would refuse to remove gets its refusal at once, not a question first.
            if address is not None and get_adapter(request).can_delete_email(address):
                return self.render_to_response(self.get_context_data(form=None, remove_address=address))
        return super().post(request, *args, **kwargs)


email_manage = EmailManageView.as_view()
