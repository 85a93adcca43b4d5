"""A big record is stored page by page: the pull never holds the whole record in memory."""

import json
import tracemalloc

import pytest

from bench.record import IDENTIFIER_SYSTEM, IDENTIFIER_VALUE, PATIENT_ID, record_resources
from portal.accounts.models import NationalIdentity, User
from portal.jobs.models import JobStatus
from portal.records.models import DataSource, StoredResource
from tests.records.conftest import link_identifier, make_source, pull_now
from tests.records.fake_upstream import Answer, FakeUpstream, SeenRequest, searchset

pytestmark = pytest.mark.django_db

SMALL, LARGE = 1_000, 5_000
PAGE = 100


def serve_record(upstream: FakeUpstream, resources: list[dict]) -> None:
    by_type: dict[str, list[dict]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(resource)

    def search(seen: SeenRequest) -> Answer:
        resource_type = seen.path.rsplit("/", 1)[-1]
        matches = by_type.get(resource_type, [])
        if "_id" in seen.query:
            wanted = set(seen.query["_id"][0].split(","))
            matches = [resource for resource in matches if resource["id"] in wanted]
        elif resource_type == "Patient":
            matches = matches[:1]
        offset = int(seen.query.get("_offset", ["0"])[0])
        page = matches[offset : offset + PAGE]
        more = offset + PAGE < len(matches)
        next_url = f"{upstream.base_url}/{resource_type}?patient={PATIENT_ID}&_offset={offset + PAGE}"
        return Answer(body=searchset(page, next_url=next_url if more else None))

    for resource_type in {*by_type, "Condition", "Observation"}:
        upstream.routes[f"GET /fhir/{resource_type}"] = search


def peak_of_pull(upstream: FakeUpstream, citizen: User, size: int) -> int:
    serve_record(upstream, record_resources(size))
    # One identifier belongs to one account: each pull's owner takes it over in turn.
    NationalIdentity.objects.filter(system=IDENTIFIER_SYSTEM, value=IDENTIFIER_VALUE).delete()
    link_identifier(citizen, IDENTIFIER_SYSTEM, IDENTIFIER_VALUE)
    DataSource.objects.update(enabled=False)  # only this upstream
    make_source(upstream.base_url, patient_identifier_system=IDENTIFIER_SYSTEM, name=f"Source {size}")
    tracemalloc.start()
    try:
        job, _pull = pull_now(citizen)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert StoredResource.objects.filter(owner=citizen).count() == size
    return peak


def test_a_large_record_is_pulled_in_bounded_memory(
    citizen: User, other_citizen: User, admin_user: User
) -> None:
    peaks = {}
    # The first pull in a process pays one-off costs (imports, caches): a warm-up, not measured.
    for owner, size in ((admin_user, 200), (citizen, SMALL), (other_citizen, LARGE)):
        upstream = FakeUpstream()
        try:
            peaks[size] = peak_of_pull(upstream, owner, size)
        finally:
            upstream.stop()
    small, large = peaks[SMALL], peaks[LARGE]
    whole = len(json.dumps(record_resources(LARGE)))

    # Five times the record, not five times the memory: pages of 100 in flight, plus (type, id) bookkeeping of
    # about 300 bytes a resource. Keeping the resources would add several times the record's JSON size.
    assert large - small < whole, (
        f"peaks {small / 1e6:.1f} / {large / 1e6:.1f} MB, record {whole / 1e6:.1f} MB"
    )
