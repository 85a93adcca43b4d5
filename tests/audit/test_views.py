"""GET /activity/: the citizen's own trail, who did what, named targets, escaping and pages."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from portal.accounts.models import User
from portal.audit import registry
from portal.audit.models import Action, ActorKind, FileKind, Outcome
from portal.audit.services import audit_record
from tests.audit.conftest import stored_entry
from tests.conftest import make_citizen

pytestmark = pytest.mark.django_db

SHARE = ("sharing.share", "3f2c6a0e-0000-4000-8000-000000000001")


def rows_of(page: str) -> list[str]:
    return [part.split("</tr>", 1)[0] for part in page.split('data-testid="activity-row"')[1:]]


def test_the_page_shows_who_did_what(citizen_client: Client, citizen: User) -> None:
    audit_record(action=Action.SHARE_CREATED, owner=citizen, actor=citizen, target=SHARE)
    audit_record(
        action=Action.LINK_FILE,
        owner=citizen,
        target=SHARE,
        outcome=Outcome.FILE_SENT,
        recipient="Dr. Hansen",
        detail={"file": FileKind.PDF},
    )
    audit_record(
        action=Action.EXPORT_FAILED, owner=citizen, target=("sharing.export", "e1"), outcome="failed"
    )
    staff = make_citizen("staff@example.org", is_staff=True)
    audit_record(action=Action.ADMIN_CHANGED, owner=citizen, actor=staff, target=citizen)

    response = citizen_client.get("/activity/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "<h1>Activity</h1>" in page
    assert 'data-testid="activity-log"' in page
    rows = rows_of(page)
    assert len(rows) == 4
    staff_row, failed_row, access_row, own_row = rows  # newest first
    assert 'data-action="share.created" data-outcome="ok"' in own_row
    assert 'data-testid="activity-who">You</td>' in own_row
    assert "Link made" in own_row
    assert 'data-action="link.file" data-outcome="file-sent"' in access_row
    assert 'data-testid="activity-who">Dr. Hansen</td>' in access_row
    assert "Fetched a file (Patient summary (PDF))" in access_row
    assert "File sent" in access_row
    assert 'data-testid="activity-who">The portal</td>' in failed_row
    assert "Summary could not be prepared" in failed_row
    assert 'data-testid="activity-who">Portal staff</td>' in staff_row
    assert "staff@example.org" not in page
    assert 'href="/access-log/"' in page
    assert "Only the accesses to your links: the access log" in page
    assert "no-store" in response["Cache-Control"]


def test_another_citizens_rows_are_not_shown(
    citizen_client: Client, citizen: User, other_citizen: User
) -> None:
    audit_record(action=Action.SIGNED_IN, owner=citizen, actor=citizen)
    audit_record(action=Action.LINK_MANIFEST, owner=other_citizen, target=SHARE, recipient="Dr. Elsewhere")
    audit_record(action=Action.SHARE_REVOKED, owner=other_citizen, actor=other_citizen, target=SHARE)

    page = citizen_client.get("/activity/").content.decode()

    assert len(rows_of(page)) == 1
    assert 'data-action="account.signed-in"' in page
    assert "Dr. Elsewhere" not in page
    assert 'data-action="share.revoked"' not in page


def test_a_citizen_without_rows_sees_the_empty_state(citizen_client: Client, other_citizen: User) -> None:
    audit_record(action=Action.SIGNED_IN, owner=other_citizen, actor=other_citizen)

    page = citizen_client.get("/activity/").content.decode()

    assert '<p class="muted" data-testid="activity-empty">Nothing has happened here yet.</p>' in page
    assert 'data-testid="activity-log"' not in page


def test_the_page_needs_signing_in(client: Client, citizen: User) -> None:
    audit_record(action=Action.SIGNED_IN, owner=citizen, actor=citizen)

    response = client.get("/activity/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/activity/")


def test_the_page_answers_get_only(citizen_client: Client) -> None:
    assert citizen_client.post("/activity/").status_code == 405


def test_a_hostile_recipient_name_is_only_text(citizen_client: Client, citizen: User) -> None:
    audit_record(
        action=Action.LINK_MANIFEST,
        owner=citizen,
        target=SHARE,
        recipient='<script>alert("x")</script><img src=x onerror=alert(1)>',
    )

    page = citizen_client.get("/activity/").content.decode()

    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script>alert" not in page
    assert "<img src=x" not in page


def test_an_access_without_a_name_shows_a_dash(citizen_client: Client, citizen: User) -> None:
    audit_record(action=Action.LINK_DIRECT, owner=citizen, target=SHARE)
    page = citizen_client.get("/activity/").content.decode()
    assert 'data-testid="activity-who">\N{EN DASH}</td>' in page


@pytest.fixture
def widget_describer(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """A describer for a made-up target type; monkeypatch gives the registry back as the apps left it."""
    monkeypatch.setattr(registry, "_describers", dict(registry._describers))
    asked: list[list[str]] = []

    @registry.target_describer("test.widget")
    def describe_widgets(owner: User, ids: list[str]) -> dict[str, str]:
        asked.append(ids)
        return {target_id: f"Blue widget <{target_id}>" for target_id in ids}

    return asked


def test_the_describers_text_names_the_target(
    citizen_client: Client, citizen: User, widget_describer: list[list[str]]
) -> None:
    audit_record(action=Action.ADMIN_CHANGED, owner=citizen, target=("test.widget", "w1"))
    audit_record(action=Action.SIGNED_IN, owner=citizen, actor=citizen)

    page = citizen_client.get("/activity/").content.decode()

    signed_in, changed = rows_of(page)  # newest first
    assert 'data-testid="activity-about">Blue widget &lt;w1&gt;</td>' in changed
    assert 'data-testid="activity-about">\N{EN DASH}</td>' in signed_in
    assert widget_describer == [["w1"]]


def test_the_trail_comes_in_pages_of_50(citizen_client: Client, citizen: User) -> None:
    now = timezone.now()
    for minutes in range(51):
        stored_entry(
            citizen,
            action=Action.SIGNED_IN,
            actor=citizen,
            actor_kind=ActorKind.CITIZEN,
            created_at=now - timedelta(minutes=minutes),
        )
    oldest = stored_entry(citizen, action=Action.SIGNED_OUT, created_at=now - timedelta(days=1))

    first = citizen_client.get("/activity/").content.decode()
    second = citizen_client.get("/activity/?page=2").content.decode()

    assert len(rows_of(first)) == 50
    assert 'data-action="account.signed-out"' not in first
    assert "Page 1 of 2" in first
    assert 'href="?page=2"' in first
    assert len(rows_of(second)) == 2
    assert f'data-action="{oldest.action}"' in second
    assert 'href="?page=1"' in second


def test_the_page_has_no_inline_script_or_style(citizen_client: Client, citizen: User) -> None:
    audit_record(action=Action.SIGNED_IN, owner=citizen, actor=citizen)
    page = citizen_client.get("/activity/").content.decode()
    assert "<script>" not in page
    assert "<style" not in page
    assert " style=" not in page
    assert " onclick=" not in page
