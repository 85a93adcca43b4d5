import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from portal.accounts.auth import request_citizen
from portal.records import selectors, services
from portal.records.fhir_client import UpstreamError
from portal.records.models import AuthMode, DataSource

logger = logging.getLogger(__name__)


@require_GET
@never_cache
@login_required
def records_overview(request: HttpRequest) -> HttpResponse:
    owner = request_citizen(request)
    wanted = selectors.record_filter(
        text=request.GET.get("q", ""), since=request.GET.get("from", ""), until=request.GET.get("to", "")
    )
    sections = selectors.record_sections(owner=owner, wanted=wanted)
    sources = selectors.source_statuses(owner=owner)
    activity = selectors.record_activity(owner=owner, statuses=sources)
    # The Important panel always shows everything: a filter must never hide an allergy.
    important = selectors.important_items(
        selectors.record_sections(owner=owner, only=selectors.IMPORTANT_SECTIONS)
        if wanted.active
        else sections
    )
    return render(
        request,
        "records/overview.html",
        {
            "sections": sections,
            "important": important,
            "sources": sources,
            "activity": activity,
            "filter": wanted,
            "contents": selectors.record_contents(sections),
            # A card names its source only when the record comes from more than one.
            "several_sources": sum(1 for status in sources if status.held) > 1,
        },
    )


@require_GET
@never_cache
@login_required
def records_status(request: HttpRequest) -> JsonResponse:
    """What the record page follows while sources are pulled: each source's state and when to reload."""
    owner = request_citizen(request)
    activity = selectors.record_activity(owner=owner, statuses=selectors.source_statuses(owner=owner))
    return JsonResponse(
        {
            "busy": activity.busy,
            "version": activity.version,
            "sources": [
                {
                    "id": source.source_id,
                    "status": source.status,
                    "progress": source.progress,
                    "detail": source.detail,
                }
                for source in activity.sources
            ],
        }
    )


@require_POST
@login_required
def records_pull(request: HttpRequest) -> HttpResponse:
    jobs = services.pull_start(owner=request_citizen(request))
    if not jobs:
        messages.info(
            request,
            gettext(
                "No data source is connected to your account yet, so there is nothing to fetch. "
                "The steps below say how to connect one."
            ),
        )
        return redirect("records")
    if len(jobs) > 1:
        messages.info(
            request,
            gettext(
                "Fetching from %(count)d sources; this page follows the first. Your records page shows "
                "what each source delivers as it arrives."
            )
            % {"count": len(jobs)},
        )
    return redirect("job_detail", job_id=jobs[0].id)


def _redirect_uri(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("records_connect_callback"))


@require_POST
@login_required
def records_connect(request: HttpRequest, source_id: int) -> HttpResponse:
    """SMART standalone launch: send the citizen to the source to sign in and authorise the portal."""
    request_citizen(request)
    source = get_object_or_404(DataSource, pk=source_id, enabled=True, auth_mode=AuthMode.SMART_LAUNCH)
    try:
        url = services.smart_launch_begin(
            session=request.session, source=source, redirect_uri=_redirect_uri(request)
        )
    except UpstreamError as error:
        logger.warning("smart launch of source %s could not start: %s", source.pk, error.detail)
        messages.error(request, gettext(error.message))
        return redirect("records")
    return redirect(url)


@require_GET
@never_cache
@login_required
def records_connect_callback(request: HttpRequest) -> HttpResponse:
    owner = request_citizen(request)
    if request.GET.get("error"):
        messages.error(request, gettext("The data source did not grant access. Nothing was connected."))
        return redirect("records")
    try:
        services.smart_launch_complete(
            session=request.session,
            owner=owner,
            state=request.GET.get("state", ""),
            code=request.GET.get("code", ""),
            redirect_uri=_redirect_uri(request),
            issuer=request.GET.get("iss", ""),
        )
    except (UpstreamError, DataSource.DoesNotExist) as error:
        detail = error.detail if isinstance(error, UpstreamError) else "source gone"
        logger.warning("smart launch callback refused: %s", detail)
        message = error.message if isinstance(error, UpstreamError) else services.LAUNCH_INVALID
        return render(request, "records/connect_failed.html", {"message": gettext(message)}, status=400)
    messages.success(request, gettext("The data source is connected. You can now fetch your records."))
    return redirect("records")
