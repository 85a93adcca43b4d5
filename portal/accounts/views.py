from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from portal.accounts.auth import request_citizen
from portal.accounts.models import Language
from portal.accounts.services import profile_ensure, profile_set_language


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
    return render(
        request, "accounts/overview.html", {"profile": profile_ensure(user=request_citizen(request))}
    )
