from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.accounts.auth import request_citizen
from portal.audit.models import AuditEntry
from portal.audit.registry import describe_targets
from portal.audit.selectors import entries_of_owner

ENTRIES_PER_PAGE = 50


@dataclass(frozen=True)
class ActivityRow:
    entry: AuditEntry
    about: str


@require_GET
@never_cache
@login_required
def activity(request: HttpRequest) -> HttpResponse:
    """The citizen's own trail: what they did, what the portal did for them, every use of their links."""
    owner = request_citizen(request)
    page = Paginator(entries_of_owner(owner=owner), ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    entries = list(page.object_list)
    about = describe_targets(owner=owner, entries=entries)
    rows = [
        ActivityRow(entry=entry, about=about.get((entry.target_type, entry.target_id), ""))
        for entry in entries
    ]
    return render(request, "audit/activity.html", {"page": page, "rows": rows})
