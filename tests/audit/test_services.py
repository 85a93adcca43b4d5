"""Writing the trail (audit_record), reading it (selectors) and naming its targets (registry)."""

import logging
from typing import Any

import pytest

from portal.accounts.models import User
from portal.audit import registry
from portal.audit.models import (
    Action,
    ActorKind,
    AuditEntry,
    FileKind,
    Outcome,
)
from portal.audit.selectors import (
    accesses_of_owner,
    accesses_of_target,
    entries_of_owner,
    exports_activity_of_owner,
)
from portal.audit.services import audit_record
from tests.audit.conftest import stored_entry
from tests.conftest import make_citizen

pytestmark = pytest.mark.django_db

SHARE = ("sharing.share", "3f2c6a0e-0000-4000-8000-000000000001")
EXPORT = ("sharing.export", "3f2c6a0e-0000-4000-8000-000000000002")


@pytest.fixture
def staff(db: None) -> User:
    return make_citizen("staff@example.org", is_staff=True)


def test_a_citizen_action_is_one_row_naming_owner_actor_action_target_and_outcome(citizen: User) -> None:
    entry = audit_record(
        action=Action.SHARE_CREATED, owner=citizen, actor=citizen, target=SHARE, outcome=Outcome.SUCCEEDED
    )

    stored = AuditEntry.objects.get()
    assert entry is not None
    assert stored.pk == entry.pk
    assert stored.owner == citizen
    assert stored.actor == citizen
    assert stored.actor_kind == ActorKind.CITIZEN
    assert stored.action == "share.created"
    assert (stored.target_type, stored.target_id) == SHARE
    assert stored.outcome == "succeeded"
    assert stored.recipient == ""
    assert stored.detail == {}


def test_a_saved_instance_names_itself_as_the_target(citizen: User, staff: User) -> None:
    audit_record(action=Action.ADMIN_CHANGED, owner=citizen, actor=staff, target=citizen)

    stored = AuditEntry.objects.get()
    assert (stored.target_type, stored.target_id) == ("accounts.user", str(citizen.pk))


def test_an_unsaved_instance_is_refused(citizen: User) -> None:
    with pytest.raises(ValueError, match="saved"):
        audit_record(action=Action.ADMIN_ADDED, owner=citizen, target=User(email="new@example.org"))
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("target", [("x" * 41, "1"), ("sharing.share", "1" * 65)])
def test_a_target_too_long_to_store_is_refused(citizen: User, target: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="too long"):
        audit_record(action=Action.ADMIN_ADDED, owner=citizen, target=target)
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    ("action", "actor_role", "expected"),
    [
        (Action.LINK_MANIFEST, None, ActorKind.RECIPIENT),
        (Action.EXPORT_MADE, None, ActorKind.SYSTEM),
        (Action.SIGNED_IN, "owner", ActorKind.CITIZEN),
        (Action.ADMIN_CHANGED, "staff", ActorKind.OPERATOR),
    ],
)
def test_the_actor_kind_is_inferred(
    citizen: User, staff: User, action: str, actor_role: str | None, expected: str
) -> None:
    actor = {"owner": citizen, "staff": staff, None: None}[actor_role]
    audit_record(action=action, owner=citizen, actor=actor, target=SHARE)

    stored = AuditEntry.objects.get()
    assert stored.actor_kind == expected
    assert stored.actor == actor


def test_staff_changing_the_portal_itself_has_no_owner(staff: User) -> None:
    audit_record(action=Action.ADMIN_CHANGED, actor=staff, target=("records.datasource", "7"))

    stored = AuditEntry.objects.get()
    assert stored.owner is None
    assert stored.actor_kind == ActorKind.OPERATOR


def test_an_explicit_actor_kind_wins(citizen: User) -> None:
    audit_record(action=Action.EXPORT_DOWNLOADED, owner=citizen, actor_kind=ActorKind.SYSTEM, target=EXPORT)
    assert AuditEntry.objects.get().actor_kind == ActorKind.SYSTEM


def test_the_recipient_is_kept_on_one_printable_line_of_at_most_200(citizen: User) -> None:
    audit_record(
        action=Action.LINK_MANIFEST,
        owner=citizen,
        target=SHARE,
        outcome=Outcome.OPENED,
        recipient="  Dr.\x00 Hansen\r\n\tRigshospitalet\u202e\x1b[31m  ",
    )
    audit_record(action=Action.LINK_FILE, owner=citizen, target=SHARE, recipient="x" * 500)

    short, long = AuditEntry.objects.order_by("id")
    assert short.recipient == "Dr. Hansen Rigshospitalet[31m"
    assert long.recipient == "x" * 200


def test_only_a_link_access_names_a_recipient(citizen: User) -> None:
    with pytest.raises(ValueError, match="recipient"):
        audit_record(action=Action.SIGNED_IN, owner=citizen, actor=citizen, recipient="Dr. Hansen")
    assert not AuditEntry.objects.exists()


def test_allowed_detail_is_kept(citizen: User) -> None:
    detail = {"file": FileKind.PDF, "fields": ["label", "expires_at"], "format": "pdf", "model": "share"}
    audit_record(action=Action.LINK_FILE, owner=citizen, target=SHARE, detail=detail)

    stored = AuditEntry.objects.get()
    assert stored.detail == {
        "file": "pdf",
        "fields": ["label", "expires_at"],
        "format": "pdf",
        "model": "share",
    }
    assert stored.file_kind == "pdf"
    assert stored.get_file_kind_display() == "Patient summary (PDF)"


@pytest.mark.parametrize(
    "detail",
    [
        {"recipient": "Dr. Hansen"},
        {"passcode": "1234"},
        {"file": "x-ray"},
        {"fields": ["x" * 81]},
        {"fields": [f"field{number}" for number in range(31)]},
        {"fields": "label"},
        {"fields": [7]},
        {"format": "x" * 17},
        {"model": "x" * 81},
        {"model": 12},
    ],
)
def test_any_other_detail_is_refused_and_nothing_is_written(citizen: User, detail: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="detail"):
        audit_record(action=Action.LINK_FILE, owner=citizen, target=SHARE, detail=detail)
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    "fields", [{"action": "share.exploded"}, {"outcome": "maybe"}, {"actor_kind": "ghost"}]
)
def test_unknown_codes_are_refused(citizen: User, fields: dict[str, str]) -> None:
    arguments: dict[str, Any] = {"action": Action.SIGNED_IN, "owner": citizen, **fields}
    with pytest.raises(ValueError, match="unknown"):
        audit_record(**arguments)
    assert not AuditEntry.objects.exists()


def test_once_writes_one_row_however_often_the_job_is_delivered(citizen: User) -> None:
    first = audit_record(action=Action.EXPORT_MADE, owner=citizen, target=EXPORT, once=True)
    second = audit_record(action=Action.EXPORT_MADE, owner=citizen, target=EXPORT, once=True)
    other = audit_record(
        action=Action.EXPORT_MADE, owner=citizen, target=("sharing.export", "other"), once=True
    )

    assert first is not None
    assert second is None
    assert other is not None
    assert AuditEntry.objects.filter(target_id=EXPORT[1]).count() == 1
    assert AuditEntry.objects.count() == 2


def test_without_once_a_repeated_action_is_a_second_row(citizen: User) -> None:
    for _ in range(2):
        audit_record(action=Action.EXPORT_DOWNLOADED, owner=citizen, actor=citizen, target=EXPORT)
    assert AuditEntry.objects.count() == 2


@pytest.mark.parametrize(
    "fields", [{"action": Action.EXPORT_DOWNLOADED, "target": EXPORT}, {"action": Action.EXPORT_MADE}]
)
def test_once_needs_the_constraint_behind_it(citizen: User, fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="once"):
        audit_record(owner=citizen, once=True, **fields)
    assert not AuditEntry.objects.exists()


def test_the_log_line_names_action_target_and_outcome_but_not_the_recipient(
    citizen: User, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="portal.audit"):
        audit_record(
            action=Action.LINK_MANIFEST,
            owner=citizen,
            target=SHARE,
            outcome=Outcome.WRONG_PASSCODE,
            recipient="Dr. Hansen",
        )

    lines = [record.getMessage() for record in caplog.records if record.name == "portal.audit"]
    assert len(lines) == 1
    assert all(record.levelno == logging.INFO for record in caplog.records if record.name == "portal.audit")
    assert "link.manifest" in lines[0]
    assert f"sharing.share:{SHARE[1]}" in lines[0]
    assert "wrong-passcode" in lines[0]
    assert "Hansen" not in caplog.text
    assert str(citizen.email) not in caplog.text


def test_str_names_action_outcome_and_time(citizen: User) -> None:
    from datetime import UTC, datetime

    entry = stored_entry(
        citizen, action=Action.EXPORT_MADE, created_at=datetime(2026, 12, 1, 21, 0, tzinfo=UTC)
    )
    assert str(entry) == "export.made ok at 2026-12-01 21:00"


def test_a_row_without_a_file_has_no_file_label(citizen: User) -> None:
    entry = stored_entry(citizen, action=Action.LINK_FILE, detail={})
    assert entry.file_kind == ""
    assert entry.get_file_kind_display() == ""


# ---------------------------------------------------------------------------- selectors


def test_the_selectors_read_only_the_owners_rows(citizen: User, other_citizen: User) -> None:
    mine = [
        stored_entry(citizen, action=Action.SIGNED_IN, actor_kind=ActorKind.CITIZEN),
        stored_entry(citizen, action=Action.LINK_MANIFEST, target_type=SHARE[0], target_id=SHARE[1]),
        stored_entry(citizen, action=Action.LINK_FILE, target_type=SHARE[0], target_id="another-share"),
        stored_entry(citizen, action=Action.EXPORT_MADE, target_type=EXPORT[0], target_id=EXPORT[1]),
        stored_entry(citizen, action=Action.EXPORT_FAILED, target_type=EXPORT[0], target_id="x"),
    ]
    stored_entry(other_citizen, action=Action.LINK_MANIFEST, target_type=SHARE[0], target_id=SHARE[1])
    stored_entry(other_citizen, action=Action.EXPORT_DOWNLOADED, target_type=EXPORT[0], target_id=EXPORT[1])

    assert set(entries_of_owner(owner=citizen)) == set(mine)
    assert set(accesses_of_owner(owner=citizen)) == {mine[1], mine[2]}
    assert list(accesses_of_target(owner=citizen, target_type=SHARE[0], target_id=SHARE[1])) == [mine[1]]
    assert exports_activity_of_owner(owner=citizen) == [mine[4], mine[3]]  # newest first
    assert exports_activity_of_owner(owner=citizen, limit=1) == [mine[4]]


# ---------------------------------------------------------------------------- registry


@pytest.fixture
def empty_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever the apps registered comes back after the test.
    monkeypatch.setattr(registry, "_describers", {})


def test_each_type_is_described_once_for_all_its_ids(citizen: User, empty_registry: None) -> None:
    calls: list[tuple[User, list[str]]] = []

    @registry.target_describer("test.widget")
    def describe_widgets(owner: User, ids: list[str]) -> dict[str, str]:
        calls.append((owner, ids))
        return {target_id: f"Widget {target_id}" for target_id in ids if target_id != "3"}

    entries = [
        stored_entry(citizen, action=Action.ADMIN_CHANGED, target_type="test.widget", target_id="1"),
        stored_entry(citizen, action=Action.ADMIN_CHANGED, target_type="test.widget", target_id="2"),
        stored_entry(citizen, action=Action.ADMIN_CHANGED, target_type="test.widget", target_id="1"),
        stored_entry(citizen, action=Action.ADMIN_CHANGED, target_type="test.widget", target_id="3"),
        stored_entry(citizen, action=Action.ADMIN_CHANGED, target_type="test.undescribed", target_id="9"),
        stored_entry(citizen, action=Action.SIGNED_IN),
    ]

    texts = registry.describe_targets(owner=citizen, entries=entries)

    assert texts == {("test.widget", "1"): "Widget 1", ("test.widget", "2"): "Widget 2"}
    assert calls == [(citizen, ["1", "2", "3"])]


def test_a_second_describer_for_a_type_is_refused(empty_registry: None) -> None:
    def describe(owner: User, ids: list[str]) -> dict[str, str]:
        return {}

    def describe_again(owner: User, ids: list[str]) -> dict[str, str]:
        return {}

    registry.target_describer("test.widget")(describe)
    registry.target_describer("test.widget")(describe)  # the same one again is harmless
    with pytest.raises(ValueError, match=r"test\.widget"):
        registry.target_describer("test.widget")(describe_again)
