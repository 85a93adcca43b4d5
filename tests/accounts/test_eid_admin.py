"""Staff and the binding: they see that it exists (never the identifier), cannot write one, and removing one
is a row of the audit trail."""

import pytest
from django.test import Client

from portal.accounts.models import NationalIdentity, User
from portal.accounts.services import identity_record_on_file
from portal.audit.models import Action, AuditEntry

pytestmark = pytest.mark.django_db


def test_staff_see_no_identifier_and_cannot_write_one(admin_user: User, citizen: User) -> None:
    identity = identity_record_on_file(user=citizen, system="urn:example:nid", value="0101901234")
    staff = Client()
    staff.force_login(admin_user)
    page = staff.get(f"/admin/accounts/nationalidentity/{identity.pk}/change/")
    assert page.status_code == 200
    assert "0101901234" not in page.content.decode()
    assert "•••••••234" in page.content.decode()
    assert staff.get("/admin/accounts/nationalidentity/add/").status_code == 403
    staff.post(f"/admin/accounts/nationalidentity/{identity.pk}/change/", {"value": "9999999999"})
    assert NationalIdentity.objects.get().value == "0101901234"


def test_removing_a_binding_is_audited(admin_user: User, citizen: User) -> None:
    identity = identity_record_on_file(user=citizen, system="urn:example:nid", value="0101901234")
    staff = Client()
    staff.force_login(admin_user)
    response = staff.post(f"/admin/accounts/nationalidentity/{identity.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not NationalIdentity.objects.exists()
    entry = AuditEntry.objects.get(action=Action.ADMIN_DELETED)
    assert entry.owner == citizen
    assert entry.actor == admin_user
    assert (entry.target_type, entry.target_id) == ("accounts.nationalidentity", str(identity.pk))
