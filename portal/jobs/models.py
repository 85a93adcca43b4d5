import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class Job(models.Model):
    """One piece of background work. The database row is the truth; the broker only carries its id."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Empty for operator jobs (e.g. the worker check); a citizen's job belongs to that citizen alone.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="jobs"
    )
    kind = models.CharField(_("kind"), max_length=40)
    status = models.CharField(_("status"), max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(_("progress"), default=0)
    # Shown to the citizen: plain words, never tokens, identifiers or clinical content.
    detail = models.CharField(_("detail"), max_length=500, blank=True)
    result_url = models.CharField(_("result URL"), max_length=500, blank=True)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # Moves on every state change and progress report: the sweeper's measure of a stuck job.
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ("-created_at",)
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        indexes = (models.Index(fields=("status", "updated_at")),)
        constraints = (
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="job_progress_at_most_100"),
        )

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)
