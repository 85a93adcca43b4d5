"""The assurance gate and a new citizen's path: sources that find a person by national identifier are asked
only for an identity at EID_MIN_ASSURANCE or above (or one an operator recorded); every page a citizen without
a record reaches says what to do next, and offers nothing that cannot succeed."""

from typing import Any

import pytest
from django.test import Client

from portal.accounts.models import NationalIdentity, User
from portal.jobs.models import Job
from portal.records.models import AuthMode, Connection, Pull
from portal.records.selectors import readiness
from portal.records.services import pull_start
from tests.records.conftest import PATIENT_SYSTEM, make_source
from tests.sharing.conftest import store_example

pytestmark = pytest.mark.django_db

LOW, SUBSTANTIAL, HIGH = (f"http://eidas.europa.eu/LoA/{level}" for level in ("low", "substantial", "high"))


def bind(user: User, acr: str, *, subject: str = "eid-subject") -> NationalIdentity:
    return NationalIdentity.objects.create(
        user=user,
        system=PATIENT_SYSTEM,
        value="ABC1234",
        issuer="https://eid.example" if acr else "",
        subject=subject if acr else "",
        acr=acr,
    )


@pytest.fixture
def identifier_source() -> Any:
    return make_source("http://127.0.0.1:9/fhir", name="National endpoint")


@pytest.mark.parametrize(("acr", "opens"), [(LOW, False), (SUBSTANTIAL, True), (HIGH, True), ("", True)])
def test_identifier_pulls_need_enough_assurance(
    citizen: User, identifier_source: Any, acr: str, opens: bool
) -> None:
    bind(citizen, acr)

    jobs = pull_start(owner=citizen)

    assert bool(jobs) is opens
    assert Connection.objects.filter(owner=citizen).exists() is opens
    assert readiness(owner=citizen).can_fetch is opens


def test_a_connection_made_at_high_assurance_closes_when_the_binding_drops_to_low(
    citizen: User, identifier_source: Any
) -> None:
    identity = bind(citizen, HIGH)
    assert pull_start(owner=citizen)
    Job.objects.all().delete()  # the first pull is done with
    identity.acr = LOW
    identity.save()

    assert pull_start(owner=citizen) == []
    assert Pull.objects.count() == 0


def test_the_low_person_is_told_why_and_offered_a_stronger_sign_in(
    citizen: User, citizen_client: Client, identifier_source: Any
) -> None:
    bind(citizen, LOW)

    page = citizen_client.get("/records/").content.decode()

    assert 'data-step="stronger-eid"' in page
    assert "at low assurance" in page
    assert 'data-testid="source-blocked"' in page
    assert 'data-testid="pull-button"' not in page
    account = citizen_client.get("/accounts/profile/").content.decode()
    assert 'data-testid="assurance-too-low"' in account
    assert "Confirmed by national eID at low assurance" in account
    # Pressing Fetch anyway (an old page) starts nothing and says so.
    response = citizen_client.post("/records/pull/", follow=True)
    html = response.content.decode()
    assert "nothing to fetch" in html
    # The message is announced (a live region) and stays a list item in a plain list.
    assert '<div role="status" data-testid="messages">' in html
    assert '<ul class="messages">' in html
    assert not Job.objects.exists()


def test_a_low_person_can_still_use_a_source_that_signs_them_in_itself(
    citizen: User, citizen_client: Client, identifier_source: Any
) -> None:
    bind(citizen, LOW)
    launch = make_source("http://127.0.0.1:9/fhir", name="Hospital", auth_mode=AuthMode.SMART_LAUNCH)

    page = citizen_client.get("/records/").content.decode()

    assert "Or connect a data source by signing in at the source itself." in page
    assert f'action="/records/connect/{launch.pk}/"' in page


def test_a_brand_new_account_is_led_to_the_eid_and_offered_nothing_that_fails(
    citizen: User, citizen_client: Client, identifier_source: Any
) -> None:
    home = citizen_client.get("/").content.decode()
    assert 'data-step="link-eid"' in home
    assert "Download your patient summary" not in home

    records = citizen_client.get("/records/").content.decode()
    assert 'data-step="link-eid"' in records
    assert 'data-testid="pull-button"' not in records
    assert 'data-testid="to-yellow-button"' not in records

    account = citizen_client.get("/accounts/profile/")
    assert account.status_code == 200
    assert "Not linked yet" in account.content.decode()
    assert 'data-testid="account-next"' in account.content.decode()

    shares = citizen_client.get("/shares/").content.decode()
    assert 'data-testid="share-form"' not in shares
    assert 'data-testid="no-record"' in shares


def test_with_a_record_the_next_step_is_gone_and_the_buttons_are_back(
    citizen: User, citizen_client: Client, identifier_source: Any
) -> None:
    bind(citizen, SUBSTANTIAL)
    store_example(citizen)

    for path in ("/", "/records/", "/exports/", "/shares/"):
        page = citizen_client.get(path).content.decode()
        assert 'data-testid="next-step"' not in page, path
    assert 'data-testid="pull-button"' in citizen_client.get("/records/").content.decode()
    assert 'data-testid="share-form"' in citizen_client.get("/shares/").content.decode()


def test_connected_but_not_fetched_says_fetch(
    citizen: User, citizen_client: Client, identifier_source: Any
) -> None:
    bind(citizen, HIGH)
    page = citizen_client.get("/exports/").content.decode()
    assert 'data-step="fetch"' in page
    assert 'data-testid="yellow-button"' not in page


def test_the_next_step_is_danish_on_a_danish_page(
    citizen: User, citizen_client: Client, identifier_source: Any
) -> None:
    bind(citizen, LOW)
    citizen_client.post("/language/", {"language": "da", "next": "/"})
    page = citizen_client.get("/records/").content.decode()
    assert "Hvad gør du nu" in page
    assert "lavt sikringsniveau" in page
