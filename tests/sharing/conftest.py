"""Sharing fixtures: a citizen's stored record made straight from an IPS example, as a pull would leave it."""

import json
from datetime import datetime
from typing import Any

from django.core.files.storage import default_storage
from django.utils import timezone

from core.fhir.upstream import content_hash
from core.ips.sections import section_of
from core.ips.validate import validate_document
from portal.accounts.models import User
from portal.jobs.models import Job, JobStatus
from portal.jobs.services import job_run
from portal.records.models import AuthMode, DataSource, StoredResource
from sharing.exports.services import export_create
from sharing.models import Export
from tests.conftest import ips_example

# The scripted upstream of the record tests, for a source that hands over a ready-made IPS document.
from tests.records.fake_upstream import fake_upstream  # noqa: F401


def stored_row(owner: User, source: DataSource, resource: dict[str, Any], *, now: datetime) -> StoredResource:
    """An unsaved StoredResource as a pull would write it, filed in its IPS section."""
    section = section_of(resource)
    return StoredResource(
        owner=owner,
        source=source,
        resource_type=resource["resourceType"],
        resource_id=resource["id"],
        data=resource,
        content_hash=content_hash(resource),
        section=section.key if section else "",
        first_fetched_at=now,
        changed_at=now,
        fetched_at=now,
    )


def store_example(
    owner: User, example: str = "Bundle-bundle-ips-all-sections", *, source: DataSource | None = None
) -> DataSource:
    """Store every resource of the example but its Composition for ``owner``; returns the source."""
    if source is None:
        source, _created = DataSource.objects.get_or_create(
            name="Example source",
            defaults={"base_url": "https://fhir.example.com/fhir", "auth_mode": AuthMode.OPEN},
        )
    now = timezone.now()
    for entry in ips_example(example)["entry"]:
        resource: dict[str, Any] = entry["resource"]
        if resource["resourceType"] != "Composition":
            stored_row(owner, source, resource, now=now).save()
    return source


def export_json_now(owner: User) -> tuple[Export, bytes]:
    """Make the citizen's JSON export, running its job here as the worker would; it must succeed and the
    document must pass the whole validation. Returns the export and the file's bytes."""
    export = export_create(owner=owner, export_format="json")
    job_run(job_id=export.job_id)
    job = Job.objects.get(id=export.job_id)
    assert job.status == JobStatus.SUCCEEDED, job.detail
    export.refresh_from_db()
    with default_storage.open(export.storage_name, "rb") as handle:
        body: bytes = handle.read()
    assert validate_document(json.loads(body), bundle_json=body) == []
    return export, body
