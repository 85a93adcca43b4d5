from django.conf import settings
from django.utils.translation import gettext_lazy as _

from portal.jobs.models import Job
from portal.jobs.registry import JobOutcome, ProgressReporter, job_kind
from sharing.exports.services import EXPORT_KIND, export_run


@job_kind(
    EXPORT_KIND,
    title=_("Preparing your patient summary"),
    done_title=_("Your patient summary is ready"),
    failed_title=_("Your patient summary could not be made"),
    queue="export",
    result_label=_("Download your summary"),
    home_url_name="exports",
    home_label=_("Back to the Yellow Button (you can make another summary there)"),
    soft_time_limit=settings.EXPORT_SOFT_TIME_LIMIT,
    time_limit=settings.EXPORT_TIME_LIMIT,
    # "Try again" counts against the same rate (and counter) as the page that creates these.
    rate_setting="EXPORT_CREATE_RATE",
    needs_record=True,
)
def sharing_export(job: Job, report: ProgressReporter) -> JobOutcome:
    return export_run(job=job, report=report)
