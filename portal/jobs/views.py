import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from portal.accounts.auth import request_citizen
from portal.jobs import services
from portal.jobs.models import JobStatus
from portal.jobs.registry import (
    kind_get,
    kind_headings,
    kind_home,
    kind_needs_record,
    kind_rate_setting,
    kind_result_label,
    kind_title,
)
from portal.jobs.selectors import jobs_of_owner
from portal.security import data_out_rate_exceeded, rate_limited


def _kind_exists(name: str) -> bool:
    try:
        kind_get(name)
    except LookupError:
        return False
    return True


@require_GET
@never_cache
@login_required
def job_detail(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    job = get_object_or_404(jobs_of_owner(owner=request_citizen(request)), id=job_id)
    if request.get_preferred_type(["text/html", "application/json"]) == "application/json":
        return JsonResponse(
            {
                "status": job.status,
                "progress": job.progress,
                "detail": gettext(job.detail) if job.detail else "",
                "result_url": job.result_url or None,
            }
        )
    headings = kind_headings(job.kind)
    return render(
        request,
        "jobs/detail.html",
        {
            "job": job,
            "headings": headings,
            "title": headings.get(job.status, kind_title(job.kind)),
            "result_label": kind_result_label(job.kind),
            "home": kind_home(job.kind),
            # "Try again": on the page (hidden until the job fails) for every kind that still exists.
            "can_retry": _kind_exists(job.kind),
            "needs_record": kind_needs_record(job.kind),
        },
    )


@require_POST
@login_required
def job_retry(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    """The job page's "Try again": queue the citizen's failed job again and follow it on the same page."""
    job = get_object_or_404(jobs_of_owner(owner=request_citizen(request)), id=job_id)
    # A retry is one more creation: it spends the budget of the page that creates this kind of job.
    rate_setting = kind_rate_setting(job.kind)
    if job.status == JobStatus.FAILED and rate_setting and data_out_rate_exceeded(request, rate_setting):
        return rate_limited(request)
    if not services.job_retry(job=job):
        messages.info(request, gettext("Only a job that failed can be tried again."))
    return redirect("job_detail", job_id=job.id)
