"""The admin as operators see it: every list and every change page, after a citizen pulled, downloaded and
shared, shows no clinical content, national identifier, share key, manifest id, passcode or file."""

import json
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from portal.accounts.models import User
from portal.accounts.services import identity_record_on_file
from portal.jobs.services import job_run
from sharing.links.services import share_payload
from sharing.models import Export, Share
from tests.sharing.conftest import store_example

pytestmark = pytest.mark.django_db

CLINICAL_TEXT = ["Jordana", "Penicillin", "Essential hypertension", "Gout", "cilazapril", "lisinopril"]
PASSCODE = "pass-4711-admin"


@pytest.fixture
def busy_citizen(citizen_client: Client, citizen: User, settings: Any, tmp_path: Any) -> dict[str, str]:
    settings.MEDIA_ROOT = tmp_path / "media"
    store_example(citizen)
    identity_record_on_file(
        user=citizen, system="https://standards.digital.health.nz/ns/nhi-id", value="ABC1234"
    )
    citizen_client.post("/exports/", {"format": "json"})
    job_run(job_id=Export.objects.get().job_id)
    citizen_client.post("/shares/", {"expires_in": 86400, "passcode": PASSCODE})
    share = Share.objects.get()
    job_run(job_id=share.job_id)
    payload = share_payload(share)
    path = "/" + payload.url.split("://", 1)[1].split("/", 1)[1]
    body = json.dumps({"recipient": "Dr. Holm", "passcode": PASSCODE})
    assert citizen_client.post(path, body, content_type="application/json").status_code == 200
    return {"key": payload.key, "manifest_id": payload.url.rsplit("/", 1)[1]}


def test_no_admin_page_shows_clinical_content_or_secrets(
    admin_user: User, busy_citizen: dict[str, str]
) -> None:
    staff = Client()
    staff.force_login(admin_user)
    secrets = [
        *CLINICAL_TEXT,
        "ABC1234",
        busy_citizen["key"],
        busy_citizen["manifest_id"],
        PASSCODE,
        "argon2$",
    ]
    pages = 0
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        urls = [reverse("admin:{}_{}_changelist".format(*info))]
        for obj in model_admin.get_queryset(staff.get(urls[0]).wsgi_request)[:5]:
            urls.append(reverse("admin:{}_{}_change".format(*info), args=[obj.pk]))
        for url in urls:
            response = staff.get(url)
            assert response.status_code == 200, url
            html = response.content.decode()
            for secret in secrets:
                assert secret not in html, f"{secret!r} on {url}"
            pages += 1
    assert pages > 15
    # The metadata operators need is there.
    assert "Dr. Holm" in staff.get(reverse("admin:audit_auditentry_changelist")).content.decode()
