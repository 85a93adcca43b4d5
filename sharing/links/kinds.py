from django.conf import settings
from django.utils.translation import gettext_lazy as _

from portal.jobs.models import Job
from portal.jobs.registry import JobOutcome, ProgressReporter, job_kind
from sharing.links.services import SHARE_KIND, share_prepare


@job_kind(
    SHARE_KIND,
    title=_("Preparing your link for a clinician"),
    done_title=_("Your link is ready"),
    failed_title=_("Your link could not be prepared"),
    queue="export",
    result_label=_("Show the link"),
    home_url_name="shares",
    home_label=_("Back to sharing"),
    soft_time_limit=settings.EXPORT_SOFT_TIME_LIMIT,
    time_limit=settings.EXPORT_TIME_LIMIT,
    # "Try again" counts against the same rate (and counter) as the page that creates these.
    rate_setting="SHARE_CREATE_RATE",
    needs_record=True,
)
def sharing_share(job: Job, report: ProgressReporter) -> JobOutcome:
    return share_prepare(job=job, report=report)
