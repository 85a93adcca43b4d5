from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from portal.jobs.models import Job
from portal.jobs.registry import JobOutcome, ProgressReporter, job_kind
from portal.records.services import MERGE_KIND, PULL_KIND, pull_run, record_merge


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


MERGED = gettext_noop("Each fact your sources hold is shown once, with every source that holds it.")


@job_kind(
    MERGE_KIND,
    title=_("Combining what your sources hold"),
    done_title=_("Your record is combined"),
    failed_title=_("Your record could not be combined"),
    queue="default",
    result_label=_("See your records"),
    home_url_name="records",
    home_label=_("Back to your records"),
)
def records_merge(job: Job, report: ProgressReporter) -> JobOutcome:
    if job.owner is not None:
        record_merge(owner=job.owner)
    return JobOutcome(detail=MERGED, result_url=reverse("records"))
