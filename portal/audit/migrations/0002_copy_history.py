"""Copy the history kept so far (the exports' activity and the links' access log) into the one audit trail,
each row with its own timestamp. The old tables stay until a later sharing migration removes them."""

from django.db import migrations

BATCH_SIZE = 1000

ACTIVITY_ACTIONS = {
    "export-created": "export.made",
    "export-downloaded": "export.downloaded",
    "export-failed": "export.failed",
}
ACCESS_ACTIONS = {"manifest": "link.manifest", "file": "link.file", "direct": "link.direct"}


def _entry_of_activity(AuditEntry, activity):
    return AuditEntry(
        created_at=activity.created_at,
        owner_id=activity.owner_id,
        # Downloading is the citizen's own act; preparing (or failing to) is the portal's, with no actor, as
        # the services write it now.
        actor_id=activity.owner_id if activity.kind == "export-downloaded" else None,
        actor_kind="citizen" if activity.kind == "export-downloaded" else "system",
        action=ACTIVITY_ACTIONS[activity.kind],
        target_type="sharing.export",
        target_id="" if activity.export_id is None else str(activity.export_id),
        outcome="failed" if activity.kind == "export-failed" else "ok",
        detail={},
    )


def _entry_of_access(AuditEntry, event):
    return AuditEntry(
        created_at=event.created_at,
        owner_id=event.owner_id,
        actor_id=None,
        actor_kind="recipient",
        recipient=event.recipient,
        action=ACCESS_ACTIONS[event.action],
        target_type="sharing.share",
        target_id=str(event.share_id),
        outcome=event.outcome,
        detail={"file": event.file_kind} if event.file_kind else {},
    )


def _copy(rows, make_entry, AuditEntry):
    batch = []
    for row in rows.order_by("id").iterator(chunk_size=BATCH_SIZE):
        batch.append(make_entry(AuditEntry, row))
        if len(batch) == BATCH_SIZE:
            AuditEntry.objects.bulk_create(batch)
            batch = []
    if batch:
        AuditEntry.objects.bulk_create(batch)


def copy_history(apps, schema_editor):
    AuditEntry = apps.get_model("audit", "AuditEntry")
    _copy(apps.get_model("sharing", "Activity").objects.all(), _entry_of_activity, AuditEntry)
    _copy(apps.get_model("sharing", "AccessEvent").objects.all(), _entry_of_access, AuditEntry)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("sharing", "0002_shares"),
    ]

    # Going back drops the audit table with 0001; the old tables still hold everything copied.
    operations = [migrations.RunPython(copy_history, migrations.RunPython.noop)]
