"""Storing a pull's pages (portal.records.storage): one row per resource, counted, never checked twice, on
PostgreSQL and on SQLite; and the read-ahead that fetches the next page while this one is stored."""

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal.accounts.models import User
from portal.jobs.models import Job
from portal.records import storage
from portal.records.fhir_client import read_ahead
from portal.records.models import Connection, DataSource, Pull, StoredResource
from portal.records.storage import PullWriter
from tests.conftest import VENV_BIN, embedded_env

PATIENT_ID = "p1"


def condition(number: int, *, note: str = "") -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": f"c{number}",
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "code": {"text": f"Condition {number}"},
        "meta": {"versionId": "1", "lastUpdated": "2026-11-30T10:00:00+00:00"},
    }
    if note:
        resource["note"] = [{"text": note}]
    return resource


def page_of(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def new_writer(owner: User, source: DataSource) -> PullWriter:
    connection, _created = Connection.objects.get_or_create(owner=owner, source=source, patient_id=PATIENT_ID)
    job = Job.objects.create(owner=owner, kind="records.pull")
    pull = Pull.objects.create(job=job, owner=owner, source=source, connection=connection)
    return PullWriter(pull=pull, base_url=source.base_url, patient_id=PATIENT_ID)


@pytest.fixture
def source(db: None) -> DataSource:
    return DataSource.objects.create(name="Storage test", base_url="https://fhir.example.org/fhir")


def test_a_second_pull_counts_unchanged_and_changed_rows_and_keeps_the_first_fetch(
    citizen: User, source: DataSource
) -> None:
    first = new_writer(citizen, source)
    first.add_page(page_of(condition(1), condition(2)), allowed_types=frozenset({"Condition"}))
    assert (first.pull.added, first.pull.updated, first.pull.unchanged) == (2, 0, 0)
    before = {row.resource_id: row for row in StoredResource.objects.filter(owner=citizen)}
    assert before["c1"].data == condition(1)
    assert before["c1"].section == "problems"
    assert before["c1"].version_id == "1"

    second = new_writer(citizen, source)
    second.add_page(
        page_of(condition(1), condition(2, note="changed")), allowed_types=frozenset({"Condition"})
    )

    assert (second.pull.added, second.pull.updated, second.pull.unchanged) == (0, 1, 1)
    after = {row.resource_id: row for row in StoredResource.objects.filter(owner=citizen)}
    assert len(after) == 2
    assert after["c2"].data == condition(2, note="changed")
    assert after["c2"].first_fetched_at == before["c2"].first_fetched_at
    assert after["c2"].changed_at > before["c2"].changed_at
    assert after["c1"].changed_at == before["c1"].changed_at
    assert {row.last_pull_id for row in after.values()} == {second.pull.pk}


def test_an_unchanged_resource_is_not_checked_against_the_model_again(
    citizen: User, source: DataSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_writer(citizen, source).add_page(
        page_of(condition(1), condition(2)), allowed_types=frozenset({"Condition"})
    )
    checked: list[str] = []

    def refusing_check(resource: dict[str, Any]) -> str:
        checked.append(resource["id"])
        return "refused by the test"

    monkeypatch.setattr(storage, "model_problem", refusing_check)
    again = new_writer(citizen, source)
    again.add_page(
        page_of(condition(1), condition(2, note="changed")), allowed_types=frozenset({"Condition"})
    )

    # The unchanged one passed the check when it was stored; only the changed one is checked, and refused.
    assert checked == ["c2"]
    assert (again.pull.unchanged, again.pull.updated, again.pull.skipped_invalid) == (1, 0, 1)
    assert StoredResource.objects.get(resource_id="c2").data == condition(2)
    assert again.stored == {("Condition", "c1")}


SQLITE_SCRIPT = """
import json
from portal.accounts.models import User
from portal.jobs.models import Job
from portal.records.models import Connection, DataSource, Pull, StoredResource
from portal.records.storage import PullWriter

owner = User.objects.create_user(email="sqlite@example.org")
source = DataSource.objects.create(name="SQLite", base_url="https://fhir.example.org/fhir")
connection = Connection.objects.create(owner=owner, source=source, patient_id="p1")
counts = []
for note in ("", "changed"):
    pull = Pull.objects.create(job=Job.objects.create(owner=owner, kind="records.pull"), owner=owner,
                               source=source, connection=connection)
    writer = PullWriter(pull=pull, base_url=source.base_url, patient_id="p1")
    resources = [{"resourceType": "Condition", "id": f"c{n}", "subject": {"reference": "Patient/p1"},
                  "code": {"text": f"Condition {n} {note if n == 2 else ''}"}} for n in range(3)]
    writer.add_resources(resources)
    counts.append([pull.added, pull.updated, pull.unchanged])
row = StoredResource.objects.get(resource_id="c2")
report = {"counts": counts, "rows": StoredResource.objects.count(), "text": row.data["code"]["text"]}
report["kept_first_fetch"] = row.first_fetched_at < row.changed_at
report["pull"] = str(row.last_pull_id) == str(pull.pk)
print(json.dumps(report))
"""


@pytest.mark.integration
def test_the_same_storing_works_on_sqlite(tmp_path: Path) -> None:
    """The laptop default (and the bench) runs on SQLite: the same INSERT … ON CONFLICT must hold there."""
    env = embedded_env(tmp_path / "var")
    result = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", "shell", "-c", SQLITE_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {
        "counts": [[3, 0, 0], [0, 1, 2]],
        "rows": 3,
        "text": "Condition 2 changed",
        "kept_first_fetch": True,
        "pull": True,
    }


# ---------------------------------------------------------------------------- read-ahead


def test_read_ahead_gives_every_item_in_order() -> None:
    assert list(read_ahead(iter(range(50)))) == list(range(50))


def test_read_ahead_fetches_the_next_item_while_this_one_is_used() -> None:
    fetched: list[int] = []

    def slow_pages() -> Iterator[int]:
        for number in range(3):
            fetched.append(number)
            yield number

    items = read_ahead(slow_pages())
    assert next(items) == 0
    time.sleep(0.3)  # the caller stores page 0; meanwhile the thread has fetched page 1 (and waits with it)
    assert fetched[:2] == [0, 1]
    assert list(items) == [1, 2]


def test_read_ahead_raises_an_error_after_the_items_before_it() -> None:
    def failing() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("page 3 failed")

    items = read_ahead(failing())
    assert next(items) == 1
    assert next(items) == 2
    with pytest.raises(ValueError, match="page 3 failed"):
        next(items)


def test_read_ahead_stops_its_thread_when_the_caller_stops() -> None:
    produced: list[int] = []

    def endless() -> Iterator[int]:
        number = 0
        while True:
            produced.append(number)
            yield number
            number += 1

    items = read_ahead(endless(), name="read-ahead-under-test")
    assert next(items) == 0
    items.close()  # the caller stops early: an error, a time limit
    time.sleep(0.5)
    assert len(produced) <= 3
    assert not [t for t in threading.enumerate() if t.name == "read-ahead-under-test"]
