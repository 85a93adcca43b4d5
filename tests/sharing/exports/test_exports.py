"""The Yellow Button's download: the page, POST /exports/, the export job, the file, its download and expiry.

Jobs run here through ``job_run``, as a worker would (the real worker's own test is in test_exports_worker).
"""

import hashlib
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from core.ips.validate import validate_document
from portal.accounts.models import User
from portal.accounts.services import profile_set_language
from portal.audit.models import EXPORT_ACTIONS, Action, AuditEntry
from portal.celery import app as celery_app
from portal.jobs.models import Job, JobStatus
from portal.jobs.services import job_run
from portal.records.models import StoredResource
from sharing.exports.services import EXPORT_KIND, export_create, exports_purge
from sharing.models import Export
from tests.sharing.conftest import store_example
from tests.trail import export_history

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def patricia(citizen: User) -> User:
    store_example(citizen)
    return citizen


def post_export(client: Client, **fields: Any) -> Any:
    return client.post("/exports/", {"format": "json", **fields})


def run_export(client: Client, **fields: Any) -> tuple[Export, Job]:
    """POST /exports/, run its job as the worker would, and return both rows fresh."""
    response = post_export(client, **fields)
    assert response.status_code == 302, response.content[:500]
    export = Export.objects.get()
    assert response["Location"] == f"/jobs/{export.job_id}/"
    job_run(job_id=export.job_id)
    export.refresh_from_db()
    return export, Job.objects.get(id=export.job_id)


def test_the_page_offers_formats_and_the_required_sections(citizen_client: Client, patricia: User) -> None:
    page = citizen_client.get("/exports/").content.decode()

    assert 'name="format" value="json"' in page
    assert 'name="format" value="pdf"' in page
    for code in ("11450-4", "48765-2", "10160-0", "11369-6"):
        assert f'name="sections" value="{code}"' in page
    # Items are offered to include, ticked by default ("Include" logic, like the sections).
    assert re.search(r'name="include" value="\d+" checked', page)
    assert 'name="offered"' in page
    assert 'name="exclude"' not in page


def test_the_record_page_leads_to_the_yellow_button(citizen_client: Client, patricia: User) -> None:
    page = citizen_client.get("/records/").content.decode()
    assert '<a class="yellow-button" href="/exports/" data-testid="to-yellow-button">' in page


def test_a_json_export_is_a_valid_document_downloadable_by_its_owner(
    citizen_client: Client, patricia: User
) -> None:
    export, job = run_export(citizen_client)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert job.result_url == f"/exports/{export.id}/download/"
    status = citizen_client.get(f"/jobs/{job.id}/", HTTP_ACCEPT="application/json").json()
    assert status["result_url"] == job.result_url
    response = citizen_client.get(job.result_url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json"
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Disposition"].startswith("attachment; filename=")
    body = response.getvalue()
    assert hashlib.sha256(body).hexdigest() == export.sha256
    assert export.size == len(body)
    bundle = json.loads(body)
    assert validate_document(bundle, bundle_json=body) == []
    assert "Patricia" in body.decode()
    kinds = list(
        AuditEntry.objects.filter(owner=patricia, action__in=EXPORT_ACTIONS).values_list("action", flat=True)
    )
    assert sorted(kinds) == sorted([Action.EXPORT_MADE, Action.EXPORT_DOWNLOADED])
    history = citizen_client.get("/exports/").content.decode()
    assert history.count('data-testid="activity"') == 2


def test_sections_are_chosen_by_loinc_code_and_single_items_can_be_left_out(
    citizen_client: Client, patricia: User
) -> None:
    left_out = StoredResource.objects.filter(owner=patricia, section="immunizations").first()
    assert left_out is not None

    export, job = run_export(
        citizen_client, sections=["11450-4", "48765-2", "11369-6"], exclude=[str(left_out.pk)]
    )

    assert job.status == JobStatus.SUCCEEDED, job.detail
    with default_storage.open(export.storage_name) as handle:
        bundle = json.load(handle)
    sections = {s["code"]["coding"][0]["code"]: s for s in bundle["entry"][0]["resource"]["section"]}
    assert set(sections) == {"11450-4", "48765-2", "10160-0", "11369-6"}
    # Medications were not posted, but the IPS requires them: they are in the document with their items.
    assert "emptyReason" not in sections["10160-0"]
    assert sections["10160-0"]["entry"]
    immunizations = StoredResource.objects.filter(owner=patricia, section="immunizations").count()
    assert len(sections["11369-6"]["entry"]) == immunizations - 1


def test_a_pdf_export_is_a_pdf(citizen_client: Client, patricia: User) -> None:
    _export, job = run_export(citizen_client, format="pdf")

    assert job.status == JobStatus.SUCCEEDED, job.detail
    response = citizen_client.get(job.result_url)
    assert response["Content-Type"] == "application/pdf"
    assert response.getvalue().startswith(b"%PDF-")


def test_the_citizens_language_gives_a_danish_document(citizen_client: Client, patricia: User) -> None:
    profile_set_language(user=patricia, language="da")

    export, job = run_export(citizen_client)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert export.language == "da"
    with default_storage.open(export.storage_name) as handle:
        bundle = json.load(handle)
    titles = [s["title"] for s in bundle["entry"][0]["resource"]["section"]]
    assert "Problems" not in titles
    assert bundle["entry"][0]["resource"]["language"] == "da"


def test_an_invalid_document_fails_the_job_with_reasons_and_leaves_no_file(
    citizen_client: Client, patricia: User
) -> None:
    row = StoredResource.objects.filter(owner=patricia, section="problems").first()
    assert row is not None
    row.data = {**row.data, "onsetDateTime": "the day before yesterday"}
    row.save()

    export, job = run_export(citizen_client)

    assert job.status == JobStatus.FAILED
    assert "fhir-structure" in job.detail
    assert "the day before yesterday" not in job.detail
    assert not job.result_url
    assert not export.has_file
    assert not default_storage.exists(export.storage_name)
    assert citizen_client.get(f"/exports/{export.id}/download/").status_code == 410
    assert AuditEntry.objects.filter(owner=patricia, action=Action.EXPORT_FAILED).count() == 1


def test_no_record_yet_offers_no_button_and_a_request_fails_clearly_with_no_try_again(
    citizen_client: Client, citizen: User
) -> None:
    page = citizen_client.get("/exports/").content.decode()
    assert 'data-testid="yellow-button"' not in page
    assert 'data-testid="no-record"' in page
    assert 'data-testid="next-step"' in page

    # A request made anyway (the URL contract: a job page) fails with the reason and the way on.
    _export, job = run_export(citizen_client)
    assert job.status == JobStatus.FAILED
    assert "Fetch your records first" in job.detail
    job_page = citizen_client.get(f"/jobs/{job.id}/").content.decode()
    assert 'data-testid="job-retry"' not in job_page
    assert 'data-testid="next-step"' in job_page


def test_a_record_gone_before_the_job_runs_is_a_clear_failure(citizen_client: Client, patricia: User) -> None:
    response = post_export(citizen_client)
    assert response.status_code == 302
    StoredResource.objects.filter(owner=patricia).delete()
    export = Export.objects.get()
    job_run(job_id=export.job_id)

    job = Job.objects.get(id=export.job_id)
    assert job.status == JobStatus.FAILED
    assert "Fetch your records first" in job.detail
    # With the record back, "Try again" is offered again.
    store_example(patricia)
    assert 'data-testid="job-retry"' in citizen_client.get(f"/jobs/{job.id}/").content.decode()


@pytest.mark.parametrize(
    "fields",
    [{"format": "docx"}, {"format": "json", "sections": ["99999-9"]}, {"format": "json", "exclude": ["abc"]}],
)
def test_bad_requests_get_the_page_again_with_a_message(
    citizen_client: Client, patricia: User, fields: dict[str, Any]
) -> None:
    response = citizen_client.post("/exports/", fields)

    assert response.status_code == 400
    assert 'data-testid="export-error"' in response.content.decode()
    assert not Export.objects.exists()
    assert not Job.objects.exists()


def test_another_citizens_export_job_and_file_are_404(
    citizen_client: Client, patricia: User, other_citizen: User, client: Client
) -> None:
    export, job = run_export(citizen_client)
    other = Client()
    other.force_login(other_citizen)

    assert other.get(f"/exports/{export.id}/download/").status_code == 404
    assert other.get(f"/jobs/{job.id}/").status_code == 404
    assert export.id.hex not in other.get("/exports/").content.decode()
    assert not AuditEntry.objects.filter(action=Action.EXPORT_DOWNLOADED).exists()


def test_an_anonymous_visitor_is_sent_to_sign_in(client: Client, patricia: User) -> None:
    assert client.get("/exports/")["Location"].startswith("/accounts/login/")
    assert client.post("/exports/", {"format": "json"})["Location"].startswith("/accounts/login/")


def test_expired_files_are_deleted_and_no_longer_downloadable(citizen_client: Client, patricia: User) -> None:
    export, _job = run_export(citizen_client)
    path = Path(default_storage.path(export.storage_name))
    assert path.exists()
    assert exports_purge() == 0  # not expired yet

    Export.objects.filter(id=export.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = citizen_client.get(f"/exports/{export.id}/download/")
    assert response.status_code == 410
    assert "no longer available" in response.content.decode()
    assert exports_purge() == 1

    assert not path.exists()
    export.refresh_from_db()
    assert export.file_deleted_at is not None
    assert exports_purge() == 0


def test_the_same_job_delivered_twice_makes_one_file_and_one_history_row(
    citizen_client: Client, patricia: User
) -> None:
    export, job = run_export(citizen_client)
    job_run(job_id=job.id)  # a second delivery: the claim refuses it
    # A worker that died after writing: the job is queued again and run once more.
    Job.objects.filter(id=job.id).update(status=JobStatus.QUEUED)
    job_run(job_id=job.id)

    files = list(Path(default_storage.path("exports")).iterdir())
    assert len(files) == 1
    assert export_history(export, Action.EXPORT_MADE).count() == 1


def test_the_export_job_goes_to_the_export_queue_with_its_time_limits(
    settings: Any, citizen: User, django_capture_on_commit_callbacks: Any
) -> None:
    with (
        mock.patch.object(celery_app, "send_task") as send_task,
        django_capture_on_commit_callbacks(execute=True),
    ):
        export = export_create(owner=citizen, export_format="json")

    send_task.assert_called_once()
    kwargs = send_task.call_args.kwargs
    assert kwargs["args"] == [str(export.job_id)]
    assert kwargs["queue"] == "export"
    assert kwargs["soft_time_limit"] == settings.EXPORT_SOFT_TIME_LIMIT
    assert kwargs["time_limit"] == settings.EXPORT_TIME_LIMIT
    assert export.job.kind == EXPORT_KIND


def test_the_admin_lists_exports_without_their_files_or_contents(
    citizen_client: Client, patricia: User, admin_user: User
) -> None:
    export, _job = run_export(citizen_client)
    admin = Client()
    admin.force_login(admin_user)

    listing = admin.get("/admin/sharing/export/")
    detail = admin.get(f"/admin/sharing/export/{export.id}/change/")
    activities = admin.get("/admin/audit/auditentry/")

    for response in (listing, detail, activities):
        assert response.status_code == 200
        page = response.content.decode()
        assert export.storage_name not in page
        assert "Patricia" not in page
    assert export.sha256 in detail.content.decode()


def test_beat_runs_the_purge_of_expired_files(settings: Any) -> None:
    import sharing.tasks  # noqa: F401  (registers the task, as the worker's autodiscovery does)

    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "sharing.tasks.exports_purge" in names
    assert "sharing.tasks.exports_purge" in celery_app.tasks
