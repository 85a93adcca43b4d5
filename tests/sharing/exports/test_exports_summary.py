"""A source that answers Patient/$summary with a ready IPS: its clinical content is kept, the document is
re-issued as the portal's own, and only after the same validation."""

import json
from pathlib import Path
from typing import Any

import pytest

from portal.accounts.models import User
from portal.jobs.models import JobStatus
from portal.records.models import PullStrategy
from tests.conftest import ips_example
from tests.records.conftest import link_identifier, make_source, pull_now
from tests.records.fake_upstream import (
    PATIENT_ID,
    PATIENT_SYSTEM,
    PATIENT_VALUE,
    Answer,
    FakeUpstream,
    capability,
)
from tests.sharing.conftest import export_json_now

pytestmark = pytest.mark.django_db

EXAMPLE_PATIENT_ID = "d174bd1a-b368-41e6-83a2-af77f2b3c60f"


def upstream_summary() -> dict[str, Any]:
    """The all-sections example as the upstream's own $summary of the fake upstream's patient."""
    text = json.dumps(ips_example("Bundle-bundle-ips-all-sections")).replace(EXAMPLE_PATIENT_ID, PATIENT_ID)
    document: dict[str, Any] = json.loads(text)
    for entry in document["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["identifier"] = [{"system": PATIENT_SYSTEM, "value": PATIENT_VALUE}]
    return document


def test_a_ready_upstream_summary_is_reissued_as_ours(
    fake_upstream: FakeUpstream, citizen: User, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    link_identifier(citizen)
    make_source(fake_upstream.base_url)
    upstream = upstream_summary()
    fake_upstream.routes["GET /fhir/metadata"] = Answer(body=capability("summary"))
    fake_upstream.routes[f"GET /fhir/Patient/{PATIENT_ID}/$summary"] = Answer(body=upstream)
    pull_job, pull = pull_now(citizen)
    assert pull_job.status == JobStatus.SUCCEEDED, pull_job.detail
    assert pull.strategy == PullStrategy.SUMMARY

    export, body = export_json_now(citizen)
    bundle = json.loads(body)
    upstream_composition = upstream["entry"][0]["resource"]
    ours = bundle["entry"][0]["resource"]
    # Re-issued: our identifier, our Composition, authored by the portal; no trace of theirs.
    assert bundle["identifier"]["value"] == f"urn:uuid:{export.id}"
    assert upstream["identifier"]["value"] not in body.decode()
    assert upstream_composition["id"] not in body.decode()
    assert [e["resource"]["resourceType"] for e in bundle["entry"]].count("Composition") == 1
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    assert by_url[ours["author"][0]["reference"]]["resourceType"] == "Device"

    # Their clinical content is all there, in the sections they put it in (their patient story section
    # repeats their advance directive, and the portal's table keeps a patient story for narrative only).
    def section_sizes(composition: dict[str, Any]) -> dict[str, int]:
        return {
            section["code"]["coding"][0]["code"]: len(section["entry"])
            for section in composition["section"]
            if section.get("entry") and section["code"]["coding"][0]["code"] != "81338-6"
        }

    assert section_sizes(ours) == section_sizes(upstream_composition)
