from django.utils.translation import gettext_lazy as _

from portal.jobs.models import Job
from portal.jobs.registry import JobOutcome, ProgressReporter, job_kind
from portal.records.services import PULL_KIND, pull_run


@job_kind(
    PULL_KIND,
    title=_("Fetching your records"),
    done_title=_("Your record has been fetched"),
    failed_title=_("Your record could not be fetched"),
    queue="pull",
    result_label=_("See your records"),
    home_url_name="records",
    home_label=_("Back to your records (you can fetch again from there)"),
)
def records_pull(job: Job, report: ProgressReporter) -> JobOutcome:
    return pull_run(job=job, report=report)
