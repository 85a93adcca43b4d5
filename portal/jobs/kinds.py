from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from portal.jobs.models import Job
from portal.jobs.registry import JobOutcome, ProgressReporter, job_kind

WORKER_CHECK = "worker_check"


@job_kind(WORKER_CHECK, title=_("Background worker check"))
def worker_check(job: Job, report: ProgressReporter) -> JobOutcome:
    """An operator's end-to-end probe: the broker delivered the job and a worker wrote to the database."""
    report(50, gettext_noop("A worker picked up the job."))
    return JobOutcome(detail=gettext_noop("The background worker ran this job."))
