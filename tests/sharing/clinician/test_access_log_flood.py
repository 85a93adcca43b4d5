"""The access log keeps its meaning under a flood: like refusals are one row with a count, nothing is
written while answering 429, and each link's log is bounded."""

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from portal.accounts.models import User
from portal.audit.models import AuditEntry, Outcome
from sharing.models import Share
from tests.sharing.links.test_shares import link_of, make_share, open_files, patricia, post_manifest

pytestmark = pytest.mark.django_db
__all__ = ["patricia"]  # the fixture, used by name


def access_rows(share: Share) -> Any:
    return AuditEntry.objects.filter(target_type="sharing.share", target_id=str(share.id)).exclude(
        recipient="", outcome=Outcome.OK
    )


def revoked_link(client: Client) -> tuple[Share, Any]:
    share = make_share(client)
    payload = link_of(client, share)
    client.post(f"/shares/{share.id}/revoke/")
    return share, payload


def test_600_requests_to_a_revoked_link_leave_one_counted_row(citizen_client: Client, patricia: User) -> None:
    share, payload = revoked_link(citizen_client)
    # The clock stands still: a rate-limit window ending halfway would give a fresh budget.
    with time_machine.travel(timezone.now(), tick=False):
        statuses = [
            post_manifest(citizen_client, payload, recipient="Mallory").status_code for _ in range(600)
        ]
    assert statuses == [404] * 60 + [429] * 540  # SHL_RATE_LIMIT 60/m
    (row,) = access_rows(share).filter(outcome=Outcome.REVOKED)
    assert row.repeats == 60  # the 429s wrote nothing
    assert row.recipient == "Mallory"
    assert row.last_at is not None
    assert row.last_at >= row.created_at
    assert not access_rows(share).filter(outcome=Outcome.TOO_MANY).exists()


def test_a_flood_naming_new_recipients_is_bounded_per_link(
    citizen_client: Client, patricia: User, settings: Any
) -> None:
    settings.SHL_RATE_LIMIT = "100000/m"
    settings.SHL_ACCESS_LOG_MAX_ROWS = 20
    share, payload = revoked_link(citizen_client)
    for number in range(200):
        assert post_manifest(citizen_client, payload, recipient=f"Dr. Fake {number}").status_code == 404
    rows = AuditEntry.objects.filter(target_type="sharing.share", target_id=str(share.id))
    assert rows.count() <= 21  # the cap, and one overflow row for this kind of refusal
    revoked = rows.filter(outcome=Outcome.REVOKED)
    assert revoked.aggregate(total=Sum("repeats"))["total"] == 200  # every one still counted
    assert revoked.filter(recipient="").get().repeats > 150  # the overflow row names no one


def test_each_opening_is_a_row_of_its_own_and_refusals_of_each_kind_apart(
    citizen_client: Client, patricia: User
) -> None:
    share = make_share(citizen_client, passcode="right-code")
    payload = link_of(citizen_client, share)
    for _ in range(3):
        post_manifest(citizen_client, payload, recipient="Dr. Hansen", passcode="wrong")
    for _ in range(2):
        post_manifest(citizen_client, payload, recipient="Dr. Hansen")  # no passcode: a bad request
    for _ in range(2):
        open_files(citizen_client, payload, passcode="right-code")
    rows = access_rows(share)
    assert rows.get(outcome=Outcome.WRONG_PASSCODE).repeats == 3
    assert rows.get(outcome=Outcome.BAD_REQUEST).repeats == 2
    assert rows.filter(outcome=Outcome.OPENED).count() == 2
    assert all(row.repeats == 1 for row in rows.filter(outcome__in=[Outcome.OPENED, Outcome.FILE_SENT]))
    share.refresh_from_db()
    assert share.passcode_attempts_left == 7  # counting rows spends nothing twice nor saves any


def test_after_a_quiet_window_a_refusal_is_a_new_row(
    citizen_client: Client, patricia: User, settings: Any
) -> None:
    share, payload = revoked_link(citizen_client)
    post_manifest(citizen_client, payload, recipient="Mallory")
    post_manifest(citizen_client, payload, recipient="Mallory")
    later = timezone.now() + timedelta(seconds=settings.SHL_ACCESS_LOG_WINDOW_SECONDS + 1)
    with time_machine.travel(later):
        post_manifest(citizen_client, payload, recipient="Mallory")
    assert sorted(access_rows(share).filter(outcome=Outcome.REVOKED).values_list("repeats", flat=True)) == [
        1,
        2,
    ]


@pytest.mark.parametrize(("language", "text"), [("en", "3 times, the last at"), ("da", "3 gange, sidst")])
def test_the_citizen_reads_how_often(
    citizen_client: Client, patricia: User, language: str, text: str
) -> None:
    share, payload = revoked_link(citizen_client)
    for _ in range(3):
        post_manifest(citizen_client, payload, recipient="Mallory")
    citizen_client.post("/language/", {"language": language})
    for page in (f"/shares/{share.id}/", "/access-log/", "/activity/"):
        body = citizen_client.get(page).content.decode()
        assert text in body, page
