"""A pull logged at DEBUG: no token, secret, national identifier or clinical text in any log line."""

import logging

import pytest

from portal.accounts.models import User
from portal.jobs.models import JobStatus
from tests.records.conftest import link_identifier, make_source, pull_now
from tests.records.fake_upstream import PATIENT_VALUE, Answer, FakeUpstream, condition, searchset
from tests.records.test_pull_faults import _token_routes

pytestmark = pytest.mark.django_db


def test_a_pull_logs_no_secrets_and_no_health_data(
    fake_upstream: FakeUpstream, citizen: User, caplog: pytest.LogCaptureFixture
) -> None:
    link_identifier(citizen)
    make_source(
        fake_upstream.base_url, auth_mode="backend-services", client_id="portal", client_secret="right-secret"
    )
    _token_routes(fake_upstream)
    fake_upstream.routes["GET /fhir/Condition"] = Answer(
        body=searchset([condition("c1", text="Chronic kidney disease"), condition("c2", patient_id="p2")])
    )
    caplog.set_level(logging.DEBUG)

    job, _pull = pull_now(citizen)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    logged = "\n".join(f"{record.name} {record.getMessage()}" for record in caplog.records)
    assert "dropped 1 resources about another patient" in logged  # the count is logged…
    for secret in ("right-secret", "upstream-token-1", PATIENT_VALUE, "Chronic kidney disease"):
        assert secret not in logged  # …never what it is about
