"""A hostile or failing upstream: each fault ends as a clear failed job or a per-entry warning, no leak."""

import time
from typing import Any

import pytest

from portal.accounts.models import User
from portal.jobs.models import JobStatus
from portal.records import fhir_client, services
from portal.records.models import PullStrategy, StoredResource
from tests.records.conftest import link_identifier, make_source, pull_now
from tests.records.fake_upstream import (
    PATIENT_ID,
    Answer,
    FakeUpstream,
    SeenRequest,
    capability,
    condition,
    patient,
    searchset,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def linked_citizen(citizen: User) -> User:
    return link_identifier(citizen)


def stored_ids(owner: User, resource_type: str = "Condition") -> set[str]:
    return set(
        StoredResource.objects.filter(owner=owner, resource_type=resource_type).values_list(
            "resource_id", flat=True
        )
    )


def test_a_good_upstream_is_pulled_by_searches(fake_upstream: FakeUpstream, linked_citizen: User) -> None:
    make_source(fake_upstream.base_url)
    fake_upstream.routes["GET /fhir/Condition"] = Answer(body=searchset([condition("c1"), condition("c2")]))

    job, pull = pull_now(linked_citizen)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert pull.strategy == PullStrategy.SEARCH
    assert stored_ids(linked_citizen) == {"c1", "c2"}
    assert stored_ids(linked_citizen, "Patient") == {PATIENT_ID}
    search = fake_upstream.requests_to("/fhir/Condition")[0]
    assert search.query["patient"] == [PATIENT_ID]
    assert search.headers["prefer"] == "handling=strict"


def test_resources_about_another_patient_are_dropped(
    fake_upstream: FakeUpstream, linked_citizen: User
) -> None:
    make_source(fake_upstream.base_url)
    # An upstream that ignores the patient parameter answers with everyone's conditions.
    fake_upstream.routes["GET /fhir/Condition"] = Answer(
        body=searchset([condition("mine"), condition("theirs", patient_id="p2", text="Someone else's")])
    )

    job, pull = pull_now(linked_citizen)

    assert job.status == JobStatus.SUCCEEDED
    assert stored_ids(linked_citizen) == {"mine"}
    assert pull.dropped_other_patient == 1
    assert any("another person" in warning["message"] for warning in pull.warnings)
    assert "Someone else" not in str(pull.warnings)


def test_a_search_that_returns_every_patient_finds_only_the_citizen(
    fake_upstream: FakeUpstream, linked_citizen: User
) -> None:
    make_source(fake_upstream.base_url)
    fake_upstream.routes["GET /fhir/Patient"] = Answer(
        body=searchset([patient(), patient("p2", value="SOMEONE-ELSE")])
    )

    job, _pull = pull_now(linked_citizen)

    assert job.status == JobStatus.SUCCEEDED
    assert stored_ids(linked_citizen, "Patient") == {PATIENT_ID}


@pytest.mark.parametrize(
    ("patients", "message"),
    [([], services.NO_PATIENT), ([patient("p1"), patient("p9")], services.SEVERAL_PATIENTS)],
    ids=["none", "several"],
)
def test_zero_or_several_patients_is_a_clear_failure_never_a_guess(
    fake_upstream: FakeUpstream, linked_citizen: User, patients: list[dict[str, Any]], message: str
) -> None:
    make_source(fake_upstream.base_url)
    fake_upstream.routes["GET /fhir/Patient"] = Answer(body=searchset(patients))

    job, _pull = pull_now(linked_citizen)

    assert job.status == JobStatus.FAILED
    assert job.detail == message
    assert not StoredResource.objects.filter(owner=linked_citizen).exists()
    assert not fake_upstream.requests_to("/fhir/Condition")


def test_a_timeout_is_retried_then_fails_clearly(fake_upstream: FakeUpstream, linked_citizen: User) -> None:
    make_source(fake_upstream.base_url, read_timeout=0.3)
    fake_upstream.routes["GET /fhir/Condition"] = Answer(body=searchset([]), delay=1.0)

    job, _pull = pull_now(linked_citizen)

    assert job.status == JobStatus.FAILED
    assert job.detail == fhir_client.TIMEOUT
    assert len(fake_upstream.requests_to("/fhir/Condition")) == 3  # FHIR_MAX_ATTEMPTS


def test_429_waits_for_retry_after_then_succeeds(fake_upstream: FakeUpstream, linked_citizen: User) -> None:
    make_source(fake_upstream.base_url)
    fake_upstream.routes["GET /fhir/Condition"] = [
        Answer(status=429, headers={"Retry-After": "1"}, body={"resourceType": "OperationOutcome"}),
        Answer(body=searchset([condition("c1")])),
    ]

    job, _pull = pull_now(linked_citizen)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    first, second = fake_upstream.requests_to("/fhir/Condition")
    assert second.at - first.at >= 0.9  # honoured Retry-After, not the 10 ms backoff
    assert stored_ids(linked_citizen) == {"c1"}


def test_429_asking_for_too_long_a_wait_fails_without_holding_the_worker(
    fake_upstream: FakeUpstream, linked_citizen: User
) -> None:
    make_source(fake_upstream.base_url)
    fake_upstream.routes["GET /fhir/Condition"] = Answer(status=429, headers={"Retry-After": "3600"}, body={})

    started = time.monotonic()
    job, _pull = pull_now(linked_citizen)

    assert job.status == JobStatus.FAILED
    assert job.detail == fhir_client.RATE_LIMITED
    assert time.monotonic() - started < 10
    assert len(fake_upstream.requests_to("/fhir/Condition")) == 1


def test_5xx_is_retried_with_backoff(fake_upstream: FakeUpstream, linked_citizen: User) -> None:
    make_source(fake_upstream.base_url)
    fake_upstream.routes["GET /fhir/Condition"] = [
        Answer(status=503, body={}),
        Answer(status=502, body=b"<html>bad gateway</html>"),
        Answer(body=searchset([condition("c1")])),
    ]

    job, _pull = pull_now(linked_citizen)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert len(fake_upstream.requests_to("/fhir/Condition")) == 3


def test_a_server_that_keeps_failing_ends_as_a_failed_job(
    fake_upstream: FakeUpstream, linked_citizen: User
) -> None:
    make_source(fake_upstream.base_url)
    fake_upstream.routes["GET /fhir/Condition"] = Answer(status=500, body={})

    job, pull = pull_now(linked_citizen)

    assert job.status == JobStatus.FAILED
    assert job.detail == fhir_client.UNAVAILABLE
    # What came before the failure is kept, and nothing is marked missing by an incomplete pull.
    assert stored_ids(linked_citizen, "Patient") == {PATIENT_ID}
    assert pull.complete is False


def test_malformed_json_fails_clearly(fake_upstream: FakeUpstream, linked_citizen: User) -> None:
    make_source(fake_upstream.base_url)
    fake_upstream.routes["GET /fhir/Condition"] = Answer(body=b'{"resourceType": "Bundle", "entry": [')

    job, _pull = pull_now(linked_citizen)

    assert job.status == JobStatus.FAILED
    assert job.detail == fhir_client.UNREADABLE


def test_a_wrong_resource_type_fails_clearly(fake_upstream: FakeUpstream, linked_citizen: User) -> None:
    make_source(fake_upstream.base_url)
    fake_upstream.routes["GET /fhir/Condition"] = Answer(body=patient())

    job, _pull = pull_now(linked_citizen)

    assert job.status == JobStatus.FAILED
    assert job.detail == fhir_client.WRONG_TYPE


def test_an_operation_outcome_fails_clearly_without_its_text(
    fake_upstream: FakeUpstream, linked_citizen: User
) -> None:
    make_source(fake_upstream.base_url)
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "not-supported", "diagnostics": "<script>alert(1)</script>"}],
    }
    fake_upstream.routes["GET /fhir/Condition"] = Answer(status=400, body=outcome)

    job, _pull = pull_now(linked_citizen)

    assert job.status == JobStatus.FAILED
    assert job.detail == fhir_client.REFUSED
    assert "script" not in job.detail


def test_odd_entries_are_skipped_with_a_warning_and_good_ones_kept(
    fake_upstream: FakeUpstream, linked_citizen: User
) -> None:
    make_source(fake_upstream.base_url)
    not_r4 = {**condition("bad-model"), "onsetDateTime": 12}
    no_id = {**condition("x"), "id": None}
    wrong_type = {**condition("obs"), "resourceType": "Observation"}
    outcome_entry = {
        "resource": {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "warning", "code": "too-costly"}],
        },
        "search": {"mode": "outcome"},
    }
    bundle = searchset([condition("good"), not_r4, no_id, wrong_type])
    bundle["entry"] += ["not an object", {"no": "resource"}, outcome_entry]
    fake_upstream.routes["GET /fhir/Condition"] = Answer(body=bundle)

    job, pull = pull_now(linked_citizen)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert stored_ids(linked_citizen) == {"good"}
    assert pull.skipped_invalid == 5
    messages = " ".join(warning["message"] % warning["params"] for warning in pull.warnings)
    assert "not valid FHIR R4" in messages
    assert "warning:too-costly" in messages


def test_a_paging_loop_is_stopped(fake_upstream: FakeUpstream, linked_citizen: User) -> None:
    make_source(fake_upstream.base_url)
    loop = f"{fake_upstream.base_url}/Condition?page=2"
    fake_upstream.routes["GET /fhir/Condition"] = Answer(body=searchset([condition("c1")], next_url=loop))

    job, _pull = pull_now(linked_citizen)

    assert job.status == JobStatus.FAILED
    assert job.detail == fhir_client.PAGING_LOOP
    assert len(fake_upstream.requests_to("/fhir/Condition")) == 2


def test_next_pages_on_the_same_server_are_followed(
    fake_upstream: FakeUpstream, linked_citizen: User
) -> None:
    make_source(fake_upstream.base_url)

    def paged(seen: SeenRequest) -> Answer:
        page = int(seen.query.get("page", ["1"])[0])
        next_url = f"{fake_upstream.base_url}/Condition?page={page + 1}" if page < 3 else None
        return Answer(body=searchset([condition(f"c{page}")], next_url=next_url))

    fake_upstream.routes["GET /fhir/Condition"] = paged

    job, _pull = pull_now(linked_citizen)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert stored_ids(linked_citizen) == {"c1", "c2", "c3"}


def _token_routes(upstream: FakeUpstream, secret: str = "right-secret") -> None:
    token_url = f"http://127.0.0.1:{upstream.port}/auth/token"
    upstream.routes["GET /fhir/metadata"] = Answer(body=capability(token_url=token_url))
    upstream.routes["GET /fhir/.well-known/smart-configuration"] = Answer(status=404, body={})

    def token(seen: SeenRequest) -> Answer:
        import base64

        expected = "Basic " + base64.b64encode(f"portal:{secret}".encode()).decode()
        if seen.headers.get("authorization") != expected:
            return Answer(status=401, body={"error": "invalid_client"})
        return Answer(body={"access_token": "upstream-token-1", "token_type": "bearer", "expires_in": 300})

    upstream.routes["POST /auth/token"] = token


def test_a_next_link_to_another_host_is_not_followed_and_gets_no_token(
    fake_upstream: FakeUpstream, linked_citizen: User
) -> None:
    other_host = FakeUpstream()
    try:
        make_source(
            fake_upstream.base_url,
            auth_mode="backend-services",
            client_id="portal",
            client_secret="right-secret",
        )
        _token_routes(fake_upstream)
        fake_upstream.routes["GET /fhir/Condition"] = Answer(
            body=searchset(
                [condition("c1")], next_url=f"http://localhost:{other_host.port}/fhir/Condition?p=2"
            )
        )

        job, _pull = pull_now(linked_citizen)

        assert job.status == JobStatus.FAILED
        assert job.detail == fhir_client.FOREIGN_LINK
        assert other_host.requests == []
        # The token did go where it belongs, and the first page was kept.
        assert (
            fake_upstream.requests_to("/fhir/Condition")[0].headers["authorization"]
            == "Bearer upstream-token-1"
        )
        assert stored_ids(linked_citizen) == {"c1"}
    finally:
        other_host.stop()


def test_backend_services_with_a_wrong_secret_fails_clearly(
    fake_upstream: FakeUpstream, linked_citizen: User
) -> None:
    make_source(
        fake_upstream.base_url, auth_mode="backend-services", client_id="portal", client_secret="wrong"
    )
    _token_routes(fake_upstream)

    job, _pull = pull_now(linked_citizen)

    assert job.status == JobStatus.FAILED
    assert job.detail == fhir_client.CREDENTIALS
    assert not fake_upstream.requests_to("/fhir/Patient")


def test_a_rejected_token_is_renewed_once(fake_upstream: FakeUpstream, linked_citizen: User) -> None:
    make_source(
        fake_upstream.base_url, auth_mode="backend-services", client_id="portal", client_secret="right-secret"
    )
    _token_routes(fake_upstream)
    fake_upstream.routes["GET /fhir/Condition"] = [
        Answer(status=401, body={}),
        Answer(body=searchset([condition("c1")])),
    ]

    job, _pull = pull_now(linked_citizen)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert len(fake_upstream.requests_to("/auth/token")) == 2


def test_summary_is_preferred_when_advertised(fake_upstream: FakeUpstream, linked_citizen: User) -> None:
    make_source(fake_upstream.base_url)
    fake_upstream.routes["GET /fhir/metadata"] = Answer(body=capability("summary", "everything"))
    document = {
        "resourceType": "Bundle",
        "type": "document",
        "entry": [{"fullUrl": "urn:uuid:1", "resource": patient()}, {"resource": condition("from-summary")}],
    }
    fake_upstream.routes[f"GET /fhir/Patient/{PATIENT_ID}/$summary"] = Answer(body=document)

    job, pull = pull_now(linked_citizen)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert pull.strategy == PullStrategy.SUMMARY
    assert stored_ids(linked_citizen) == {"from-summary"}
    assert not fake_upstream.requests_to("/fhir/Condition")


def test_everything_is_used_when_summary_is_not_advertised(
    fake_upstream: FakeUpstream, linked_citizen: User
) -> None:
    make_source(fake_upstream.base_url)
    fake_upstream.routes["GET /fhir/metadata"] = Answer(body=capability("everything"))
    fake_upstream.routes[f"GET /fhir/Patient/{PATIENT_ID}/$everything"] = Answer(
        body=searchset([patient(), condition("from-everything"), condition("not-mine", patient_id="p2")])
    )

    job, pull = pull_now(linked_citizen)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert pull.strategy == PullStrategy.EVERYTHING
    assert stored_ids(linked_citizen) == {"from-everything"}
    assert pull.dropped_other_patient == 1


def test_referenced_medications_are_fetched_by_id(fake_upstream: FakeUpstream, linked_citizen: User) -> None:
    make_source(fake_upstream.base_url)
    statement = {
        "resourceType": "MedicationStatement",
        "id": "ms1",
        "status": "active",
        "medicationReference": {"reference": "Medication/med1"},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
    }
    fake_upstream.routes["GET /fhir/MedicationStatement"] = Answer(body=searchset([statement]))
    medication = {"resourceType": "Medication", "id": "med1", "code": {"text": "Salbutamol"}}
    # Asked for one id, the upstream sends two: only the one asked for is kept.
    extra = {"resourceType": "Medication", "id": "med-unasked", "code": {"text": "Other"}}
    fake_upstream.routes["GET /fhir/Medication"] = Answer(body=searchset([medication, extra]))

    job, _pull = pull_now(linked_citizen)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert stored_ids(linked_citizen, "Medication") == {"med1"}
    assert fake_upstream.requests_to("/fhir/Medication")[0].query["_id"] == ["med1"]


def test_what_disappears_upstream_is_marked_not_deleted(
    fake_upstream: FakeUpstream, linked_citizen: User, client: Any
) -> None:
    make_source(fake_upstream.base_url, name="Region")
    fake_upstream.routes["GET /fhir/Condition"] = Answer(
        body=searchset([condition("c1"), condition("c2", text="Old diagnosis")])
    )
    pull_now(linked_citizen)

    fake_upstream.routes["GET /fhir/Condition"] = Answer(body=searchset([condition("c1")]))
    _job, pull = pull_now(linked_citizen)

    assert pull.missing == 1
    gone = StoredResource.objects.get(owner=linked_citizen, resource_id="c2")
    assert gone.missing_since is not None
    assert StoredResource.objects.get(owner=linked_citizen, resource_id="c1").missing_since is None
    client.force_login(linked_citizen)
    page = client.get("/records/").content.decode()
    assert "Old diagnosis" in page
    assert "No longer at the source since" in page

    # A failed pull marks nothing; a complete one that finds it again clears the mark.
    fake_upstream.routes["GET /fhir/Condition"] = Answer(status=500, body={})
    pull_now(linked_citizen)
    assert StoredResource.objects.get(owner=linked_citizen, resource_id="c1").missing_since is None
    fake_upstream.routes["GET /fhir/Condition"] = Answer(body=searchset([condition("c1"), condition("c2")]))
    _job, pull = pull_now(linked_citizen)
    assert pull.missing == 0
    assert not StoredResource.objects.filter(owner=linked_citizen, missing_since__isnull=False).exists()
