"""The download form's choices, read as a browser sends them: a ticked box means "include", for sections and
items alike; required sections are always in; an outside client posting only ``sections`` keeps every item."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from portal.accounts.models import User
from portal.jobs.models import Job, JobStatus
from portal.jobs.services import job_run
from portal.records.models import StoredResource
from sharing.models import Export
from tests.sharing.conftest import store_example
from tests.sharing.exports.form_fields import form_on

pytestmark = pytest.mark.django_db

IMMUNIZATIONS, MEDICATIONS, PROBLEMS, ALLERGIES = "11369-6", "10160-0", "11450-4", "48765-2"


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def patricia(citizen: User) -> User:
    store_example(citizen)
    return citizen


def document_of(client: Client, fields: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """POST /exports/ (JSON), run the job as a worker would; the document's sections by LOINC code."""
    response = client.post("/exports/", {**fields, "format": "json"})
    assert response.status_code == 302, response.content[:600]
    export = Export.objects.latest("created_at")
    job_run(job_id=export.job_id)
    job = Job.objects.get(id=export.job_id)
    assert job.status == JobStatus.SUCCEEDED, job.detail
    export.refresh_from_db()
    with default_storage.open(export.storage_name) as handle:
        bundle = json.load(handle)
    return {s["code"]["coding"][0]["code"]: s for s in bundle["entry"][0]["resource"]["section"]}


def entries(section: dict[str, Any]) -> set[str]:
    return {entry["reference"] for entry in section.get("entry", [])}


def test_everything_is_the_default_and_the_choices_are_include_boxes(
    citizen_client: Client, patricia: User
) -> None:
    page = citizen_client.get("/exports/").content.decode()
    form = form_on(page, "export-form")

    assert form.sent()["scope"] == ["all"]
    items = [box for box in form.boxes if box["name"] == "include"]
    assert items
    assert all(box["checked"] for box in items)
    assert "Leave out" not in page
    # Every expander names its section for a screen reader: no two read alike.
    summaries = re.findall(r"<summary>(.*?)</summary>", page, flags=re.S)
    assert len(summaries) >= 5
    assert len(set(summaries)) == len(summaries)
    immunizations = StoredResource.objects.filter(owner=patricia, section="immunizations").count()
    assert any(
        f"Choose items ({immunizations})" in summary and "Immunizations" in summary for summary in summaries
    )


def test_unticking_an_item_leaves_it_out_and_only_it(citizen_client: Client, patricia: User) -> None:
    left_out = StoredResource.objects.filter(owner=patricia, section="immunizations").first()
    assert left_out is not None
    form = form_on(citizen_client.get("/exports/").content.decode(), "export-form")
    form.set("scope", "choose", checked=True)
    form.set("include", str(left_out.pk), checked=False)

    sections = document_of(citizen_client, form.sent())

    kept = StoredResource.objects.filter(owner=patricia, section="immunizations").count()
    assert len(sections[IMMUNIZATIONS]["entry"]) == kept - 1
    assert not any(left_out.resource_id in reference for reference in entries(sections[IMMUNIZATIONS]))


def test_everything_ignores_choices_made_before_switching_back(
    citizen_client: Client, patricia: User
) -> None:
    left_out = StoredResource.objects.filter(owner=patricia, section="immunizations").first()
    assert left_out is not None
    form = form_on(citizen_client.get("/exports/").content.decode(), "export-form")
    form.set("include", str(left_out.pk), checked=False)
    form.set("sections", IMMUNIZATIONS, checked=False)
    assert form.sent()["scope"] == ["all"]

    sections = document_of(citizen_client, form.sent())

    kept = StoredResource.objects.filter(owner=patricia, section="immunizations").count()
    assert len(sections[IMMUNIZATIONS]["entry"]) == kept


def test_an_outside_post_of_sections_alone_keeps_every_item(citizen_client: Client, patricia: User) -> None:
    sections = document_of(citizen_client, {"sections": [IMMUNIZATIONS]})

    kept = StoredResource.objects.filter(owner=patricia, section="immunizations").count()
    assert len(sections[IMMUNIZATIONS]["entry"]) == kept


def test_required_sections_are_in_even_when_not_posted(citizen_client: Client, patricia: User) -> None:
    sections = document_of(citizen_client, {"sections": [IMMUNIZATIONS]})

    for code in (PROBLEMS, ALLERGIES, MEDICATIONS):
        assert "emptyReason" not in sections[code], code
        assert sections[code]["entry"], code


def test_required_sections_are_shown_ticked_disabled_and_explained(
    citizen_client: Client, patricia: User
) -> None:
    page = citizen_client.get("/exports/").content.decode()
    for code, key in ((PROBLEMS, "problems"), (ALLERGIES, "allergies"), (MEDICATIONS, "medications")):
        tag = re.search(rf'<input[^>]*name="sections" value="{code}"[^>]*>', page)
        assert tag, code
        assert " checked" in tag.group(0)
        assert " disabled" in tag.group(0)
        assert f'aria-describedby="always-{key}"' in tag.group(0)
        assert re.search(
            rf'id="always-{key}"[^>]*>Always included: the summary requires this section.<', page
        )
    optional = re.search(rf'<input[^>]*name="sections" value="{IMMUNIZATIONS}"[^>]*>', page)
    assert optional
    assert " disabled" not in optional.group(0)


def test_the_page_speaks_plainly_with_the_technical_names_in_small_print(
    citizen_client: Client, patricia: User
) -> None:
    page = citizen_client.get("/exports/").content.decode()
    main = re.sub(r'<(p|span) class="fine-print">.*?</\1>', "", page, flags=re.S)

    assert "Readable PDF" in main
    assert "Data file for other health systems" in main
    for jargon in ("FHIR document (JSON)", "IPS 2.0.0", "SMART Health Link"):
        assert jargon not in main
    assert "IPS 2.0.0" in page  # still there, in small print
