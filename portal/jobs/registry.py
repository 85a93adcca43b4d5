"""Job kinds: each app registers the work its jobs do, and the queue they run on."""

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from portal.jobs.models import Job, JobStatus

# report(progress 0-100, detail shown to the citizen)
ProgressReporter = Callable[[int, str], None]


@dataclass(frozen=True)
class JobOutcome:
    detail: str
    result_url: str = ""


class JobError(Exception):
    """A failure the citizen may read: the message is shown on the job page as it is."""


DOWNLOAD = _("Download")
DONE = _("Done")
FAILED = _("This did not work")


@dataclass(frozen=True)
class JobKind:
    name: str
    title: str | Promise
    queue: str
    run: Callable[[Job, ProgressReporter], JobOutcome]
    # The job page's button to the result: a download, or the page the work updated.
    result_label: str | Promise
    # Where the citizen goes on from the job page, whatever the outcome (e.g. to try again): a URL name.
    home_url_name: str
    home_label: str | Promise
    # Seconds; None: the worker's defaults (CELERY_TASK_SOFT_TIME_LIMIT / CELERY_TASK_TIME_LIMIT).
    soft_time_limit: int | None = None
    time_limit: int | None = None
    # The work reads the citizen's record (a summary, a link's files): "Try again" is offered only with one.
    needs_record: bool = False
    # The setting (e.g. "EXPORT_CREATE_RATE") whose rate bounds how many of these a citizen may start: the
    # page that creates them counts under that name, and so does the job page's "Try again".
    rate_setting: str | None = None
    # The job page's heading once the job has finished, so nobody reads "Preparing…" after the work succeeded
    # or failed: what the kind made, or that it could not.
    done_title: str | Promise = DONE
    failed_title: str | Promise = FAILED


_KINDS: dict[str, JobKind] = {}
QUEUES = ("default", "pull", "export")


def job_kind(
    name: str,
    *,
    title: str | Promise,
    queue: str = "default",
    result_label: str | Promise = DOWNLOAD,
    home_url_name: str = "",
    home_label: str | Promise = "",
    soft_time_limit: int | None = None,
    time_limit: int | None = None,
    rate_setting: str | None = None,
    needs_record: bool = False,
    done_title: str | Promise = DONE,
    failed_title: str | Promise = FAILED,
) -> Callable[[Callable[[Job, ProgressReporter], JobOutcome]], Callable[[Job, ProgressReporter], JobOutcome]]:
    if queue not in QUEUES:
        raise ValueError(f"Unknown queue {queue!r}")

    def register(
        run: Callable[[Job, ProgressReporter], JobOutcome],
    ) -> Callable[[Job, ProgressReporter], JobOutcome]:
        if name in _KINDS and _KINDS[name].run is not run:
            raise ValueError(f"Job kind {name!r} is registered twice")
        _KINDS[name] = JobKind(
            name=name,
            title=title,
            queue=queue,
            run=run,
            result_label=result_label,
            home_url_name=home_url_name,
            home_label=home_label,
            soft_time_limit=soft_time_limit,
            time_limit=time_limit,
            rate_setting=rate_setting,
            needs_record=needs_record,
            done_title=done_title,
            failed_title=failed_title,
        )
        return run

    return register


def kind_title(name: str) -> str | Promise:
    """What the job page calls a job; a kind retired since the job ran still gets a page."""
    return _KINDS[name].title if name in _KINDS else _("Background job")


def kind_headings(name: str) -> dict[str, str | Promise]:
    """The job page's heading for each state: the kind's title while it works, then what happened."""
    kind = _KINDS.get(name)
    working = kind_title(name)
    return {
        JobStatus.QUEUED.value: working,
        JobStatus.RUNNING.value: working,
        JobStatus.SUCCEEDED.value: kind.done_title if kind else DONE,
        JobStatus.FAILED.value: kind.failed_title if kind else FAILED,
    }


def kind_result_label(name: str) -> str | Promise:
    return _KINDS[name].result_label if name in _KINDS else _("Open the result")


def kind_home(name: str) -> tuple[str, str | Promise] | None:
    """(URL name, label) of the page the job page links back to, if the kind has one."""
    kind = _KINDS.get(name)
    return (kind.home_url_name, kind.home_label) if kind and kind.home_url_name else None


def kind_needs_record(name: str) -> bool:
    kind = _KINDS.get(name)
    return bool(kind and kind.needs_record)


def kind_rate_setting(name: str) -> str | None:
    """The rate setting a kind's jobs count against (None: unlimited, or a kind retired since)."""
    kind = _KINDS.get(name)
    return kind.rate_setting if kind else None


def kind_get(name: str) -> JobKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise LookupError(f"Unknown job kind {name!r}") from None
