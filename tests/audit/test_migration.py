"""0002_copy_history: the exports' activity and the links' access log become audit rows, timestamps kept.

The test database is taken back to before the audit app, old rows are written through the historical models,
and the migration runs forward for real; the database ends at the latest state again, whatever happens.
"""

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from django.apps.registry import Apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("audit", None), ("sharing", "0002_shares")]
COPY = [("audit", "0002_copy_history")]

MONDAY = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
TUESDAY = datetime(2025, 3, 4, 14, 5, tzinfo=UTC)


def migrate(targets: Sequence[tuple[str, str | None]]) -> MigrationExecutor:
    """Migrate the test database to the targets; (app, None) means before the app's first migration."""
    executor = MigrationExecutor(connection)
    executor.migrate(list(targets))
    return executor


@pytest.fixture
def old_apps(transactional_db: None) -> Iterator[Apps]:
    """The models as they were before the audit trail; afterwards the database is at its leaves again."""
    try:
        executor = migrate(BEFORE)
        yield executor.loader.project_state([("sharing", "0002_shares")]).apps
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def old_history(apps: Apps) -> dict[str, Any]:
    User = apps.get_model("accounts", "User")
    Job = apps.get_model("jobs", "Job")
    Export = apps.get_model("sharing", "Export")
    Activity = apps.get_model("sharing", "Activity")
    Share = apps.get_model("sharing", "Share")
    AccessEvent = apps.get_model("sharing", "AccessEvent")

    owner = User.objects.create(email="karen@example.org")
    export = Export.objects.create(
        owner=owner, job=Job.objects.create(owner=owner, kind="export"), format="pdf"
    )
    share = Share.objects.create(
        owner=owner,
        job=Job.objects.create(owner=owner, kind="share"),
        origin="https://portal.example",
        manifest_digest="d" * 64,
        link_secret="secret",
        expires_at=TUESDAY,
    )
    activities = [
        Activity.objects.create(owner=owner, kind="export-created", export=export),
        Activity.objects.create(owner=owner, kind="export-downloaded", export=export),
        Activity.objects.create(owner=owner, kind="export-failed", export=None),
        # Two exports deleted since: both rows are history, neither "the same target".
        Activity.objects.create(owner=owner, kind="export-created", export=None),
        Activity.objects.create(owner=owner, kind="export-created", export=None),
    ]
    events = [
        AccessEvent.objects.create(
            owner=owner, share=share, recipient="Dr. Holm", action="manifest", outcome="wrong-passcode"
        ),
        AccessEvent.objects.create(
            owner=owner,
            share=share,
            recipient="Dr. Holm",
            action="file",
            outcome="file-sent",
            file_kind="pdf",
        ),
        AccessEvent.objects.create(owner=owner, share=share, action="direct", outcome="revoked"),
    ]
    # auto_now_add set "now"; the history is older than that.
    Activity.objects.update(created_at=MONDAY)
    AccessEvent.objects.update(created_at=TUESDAY)
    return {"owner": owner, "export": export, "share": share, "activities": activities, "events": events}


@pytest.mark.django_db(transaction=True)
def test_the_history_is_copied_with_its_timestamps(old_apps: Apps) -> None:
    old = old_history(old_apps)

    new_apps = migrate(COPY).loader.project_state(COPY).apps
    AuditEntry = new_apps.get_model("audit", "AuditEntry")

    rows = list(
        AuditEntry.objects.order_by("id").values(
            "created_at", "owner_id", "actor_id", "actor_kind", "recipient", "action", "target_type",
            "target_id", "outcome", "detail",
        )
    )  # fmt: skip
    owner_id, export_id, share_id = old["owner"].pk, str(old["export"].pk), str(old["share"].pk)

    def from_activity(actor_kind: str, action: str, target_id: str, outcome: str = "ok") -> dict[str, Any]:
        return {
            "created_at": MONDAY,
            "owner_id": owner_id,
            "actor_id": owner_id if actor_kind == "citizen" else None,
            "actor_kind": actor_kind,
            "recipient": "",
            "action": action,
            "target_type": "sharing.export",
            "target_id": target_id,
            "outcome": outcome,
            "detail": {},
        }

    def from_access(recipient: str, action: str, outcome: str, detail: dict[str, str]) -> dict[str, Any]:
        return {
            "created_at": TUESDAY,
            "owner_id": owner_id,
            "actor_id": None,
            "actor_kind": "recipient",
            "recipient": recipient,
            "action": action,
            "target_type": "sharing.share",
            "target_id": share_id,
            "outcome": outcome,
            "detail": detail,
        }

    assert rows == [
        from_activity("system", "export.made", export_id),
        from_activity("citizen", "export.downloaded", export_id),
        from_activity("system", "export.failed", "", outcome="failed"),
        from_activity("system", "export.made", ""),
        from_activity("system", "export.made", ""),
        from_access("Dr. Holm", "link.manifest", "wrong-passcode", {}),
        from_access("Dr. Holm", "link.file", "file-sent", {"file": "pdf"}),
        from_access("", "link.direct", "revoked", {}),
    ]


@pytest.mark.django_db(transaction=True)
def test_an_empty_history_copies_nothing(old_apps: Apps) -> None:
    AuditEntry = migrate(COPY).loader.project_state(COPY).apps.get_model("audit", "AuditEntry")
    assert not AuditEntry.objects.exists()
