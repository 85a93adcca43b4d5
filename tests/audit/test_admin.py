"""The trail in the admin: staff with a second factor search it; nobody adds, changes or deletes rows."""

import pytest
from django.test import Client

from portal.accounts.models import User
from portal.audit.models import Action, AuditEntry
from portal.audit.services import audit_record

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/audit/auditentry/"


@pytest.fixture
def staff_client(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def entries(citizen: User, other_citizen: User) -> list[AuditEntry]:
    written = [
        audit_record(
            action=Action.SHARE_CREATED, owner=owner, actor=owner, target=("sharing.share", share_id)
        )
        for owner, share_id in ((citizen, "aaaa-1"), (other_citizen, "bbbb-2"))
    ]
    return [entry for entry in written if entry is not None]


def test_staff_search_the_trail_by_target_id(staff_client: Client, entries: list[AuditEntry]) -> None:
    everything = staff_client.get(CHANGELIST)
    found = staff_client.get(CHANGELIST, {"q": "bbbb-2"})

    assert everything.status_code == 200
    assert "aaaa-1" in everything.content.decode()
    assert "bbbb-2" in everything.content.decode()
    assert found.status_code == 200
    assert "bbbb-2" in found.content.decode()
    assert "aaaa-1" not in found.content.decode()


def test_staff_search_by_the_owners_email(staff_client: Client, entries: list[AuditEntry]) -> None:
    page = staff_client.get(CHANGELIST, {"q": "other@example.org"}).content.decode()
    assert "bbbb-2" in page
    assert "aaaa-1" not in page


def test_staff_without_a_second_factor_are_not_let_in(citizen: User, entries: list[AuditEntry]) -> None:
    citizen.is_staff = True
    citizen.is_superuser = True
    citizen.save()
    client = Client()
    client.force_login(citizen)

    response = client.get(CHANGELIST)

    assert response.status_code == 302
    assert "aaaa-1" not in response.content.decode()


def test_nobody_adds_changes_or_deletes_rows(staff_client: Client, entries: list[AuditEntry]) -> None:
    entry = entries[0]
    changelist = staff_client.get(CHANGELIST).content.decode()
    change = staff_client.get(f"{CHANGELIST}{entry.pk}/change/")

    assert f'href="{CHANGELIST}add/"' not in changelist
    assert staff_client.get(f"{CHANGELIST}add/").status_code == 403
    assert change.status_code == 200
    assert 'name="_save"' not in change.content.decode()
    assert f"{CHANGELIST}{entry.pk}/delete/" not in change.content.decode()
    assert staff_client.get(f"{CHANGELIST}{entry.pk}/delete/").status_code == 403
    assert staff_client.post(f"{CHANGELIST}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert staff_client.post(f"{CHANGELIST}{entry.pk}/change/", {"action": "signed-in"}).status_code == 403
    bulk_delete = staff_client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    )
    assert bulk_delete.status_code in (200, 302, 403)
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
    entry.refresh_from_db()
    assert entry.action == Action.SHARE_CREATED
