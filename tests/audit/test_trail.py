"""Every audited action, done the way a citizen, a recipient, the portal or an operator does it, writes
exactly one row of the trail naming the right owner, actor, actor kind, target and outcome, and nothing else.

Each test takes a mark of the trail before the action and reads every row written after it (``new_rows``):
asserting the whole list of new actions catches a missing row, a second row of the same action and any row
that should not have been written at all. Jobs run here through ``job_run``, as the existing unit tests do.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time
from django.contrib import admin
from django.db.models import Max
from django.test import Client

from portal.accounts.models import User
from portal.audit.models import Action, ActorKind, AuditEntry, Outcome
from portal.jobs.models import Job, JobStatus
from portal.jobs.services import job_run
from portal.records.admin import DataSourceForm
from portal.records.models import AuthMode, Connection, DataSource, Pull, StoredResource
from portal.records.services import pull_start
from tests.accounts.test_login import login
from tests.conftest import PASSWORD
from tests.portal.test_crypto import NEW_SOURCE_FORM
from tests.records import conftest as records_fixtures
from tests.records import fake_upstream as scripted_upstream
from tests.records.conftest import link_identifier, make_source, pull_now
from tests.records.fake_upstream import Answer, FakeUpstream, condition, searchset
from tests.records.test_smart_launch import _authorization_server, _start
from tests.sharing.conftest import store_example
from tests.sharing.exports.test_exports import run_export
from tests.sharing.links.test_shares import link_of, make_share, manifest_path, post_manifest

pytestmark = pytest.mark.django_db

# The fixtures of tests/records, used here as there: the scripted FHIR upstream, and retries in milliseconds.
fake_upstream = scripted_upstream.fake_upstream
_quick_retries = records_fixtures._quick_retries

RECIPIENT = "Dr. Hansen"


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def patricia(citizen: User) -> User:
    """The citizen with the IPS example stored, as a pull would leave it."""
    store_example(citizen)
    return citizen


@contextmanager
def new_rows() -> Iterator[list[AuditEntry]]:
    """The rows written inside the block, oldest first (the list fills when the block ends)."""
    count_before = AuditEntry.objects.count()
    last_id = AuditEntry.objects.aggregate(last=Max("id"))["last"] or 0
    rows: list[AuditEntry] = []
    yield rows
    rows.extend(AuditEntry.objects.filter(id__gt=last_id).select_related("owner", "actor").order_by("id"))
    # Counted too: no row went away meanwhile and every new row is in the list.
    assert AuditEntry.objects.count() == count_before + len(rows)


def actions(rows: list[AuditEntry]) -> list[str]:
    return [row.action for row in rows]


def the_one(rows: list[AuditEntry], action: str) -> AuditEntry:
    """The action wrote exactly one row and nothing else was written."""
    assert actions(rows) == [action], [(row.action, row.target_type, row.outcome) for row in rows]
    return rows[0]


def assert_row(
    row: AuditEntry,
    *,
    owner: User | None,
    actor: User | None,
    actor_kind: str,
    target: tuple[str, object],
    outcome: str = Outcome.OK,
    recipient: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    assert row.owner == owner
    assert row.actor == actor
    assert row.actor_kind == actor_kind
    assert (row.target_type, row.target_id) == (target[0], str(target[1]))
    assert row.outcome == outcome
    assert row.recipient == recipient
    assert row.detail == (detail or {})


# ---------------------------------------------------------------------------- account


def test_signing_in_writes_one_signed_in_row(client: Client, citizen: User) -> None:
    with new_rows() as rows:
        response = login(client, citizen.email, PASSWORD)

    assert response.status_code == 302
    assert_row(
        the_one(rows, Action.SIGNED_IN),
        owner=citizen,
        actor=citizen,
        actor_kind=ActorKind.CITIZEN,
        target=("accounts.user", citizen.pk),
    )


def test_a_wrong_password_writes_no_row(client: Client, citizen: User) -> None:
    with new_rows() as rows:
        login(client, citizen.email, "not the password")

    assert rows == []


def test_signing_out_writes_one_signed_out_row(client: Client, citizen: User) -> None:
    login(client, citizen.email, PASSWORD)

    with new_rows() as rows:
        response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert_row(
        the_one(rows, Action.SIGNED_OUT),
        owner=citizen,
        actor=citizen,
        actor_kind=ActorKind.CITIZEN,
        target=("accounts.user", citizen.pk),
    )


def _reauthenticated(client: Client, citizen: User) -> None:
    """Signed in with the password and re-authenticated, as changing MFA needs (tests/accounts/test_login)."""
    login(client, citizen.email, PASSWORD)
    first_try = client.get("/accounts/2fa/totp/activate/")
    assert first_try["Location"].startswith("/accounts/reauthenticate/")
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})


def _totp_code(secret: str) -> str:
    """The code an authenticator app with this secret shows now (as tests.conftest.admin_totp_code)."""
    counters = list(yield_hotp_counters_from_time())
    return format_hotp_value(hotp_value(secret, counters[len(counters) // 2]))


def _activate_totp(client: Client, capture_on_commit: Any) -> Any:
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = client.session["mfa.totp.secret"]
    # allauth sends its signals after the commit: in this test's transaction, only when captured.
    with capture_on_commit(execute=True):
        return client.post("/accounts/2fa/totp/activate/", {"code": _totp_code(secret)})


def test_activating_totp_writes_one_mfa_added_row_per_authenticator_made(
    client: Client, citizen: User, django_capture_on_commit_callbacks: Any
) -> None:
    _reauthenticated(client, citizen)

    with new_rows() as rows:
        response = _activate_totp(client, django_capture_on_commit_callbacks)

    assert response.status_code == 302
    totp = Authenticator.objects.get(user=citizen, type=Authenticator.Type.TOTP)
    codes = Authenticator.objects.get(user=citizen, type=Authenticator.Type.RECOVERY_CODES)
    # What really happens: allauth makes recovery codes along with the authenticator app and sends a second
    # authenticator_added for them, so one activation is two mfa.added rows, one per authenticator.
    assert actions(rows) == [Action.MFA_ADDED, Action.MFA_ADDED]
    for row, authenticator in zip(rows, (totp, codes), strict=True):
        assert_row(
            row,
            owner=citizen,
            actor=citizen,
            actor_kind=ActorKind.CITIZEN,
            target=("mfa.authenticator", authenticator.pk),
        )


def test_removing_totp_writes_mfa_removed_rows(
    client: Client, citizen: User, django_capture_on_commit_callbacks: Any
) -> None:
    _reauthenticated(client, citizen)
    _activate_totp(client, django_capture_on_commit_callbacks)
    codes = Authenticator.objects.get(user=citizen, type=Authenticator.Type.RECOVERY_CODES)

    with new_rows() as rows, django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/2fa/totp/deactivate/")

    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=citizen).exists()
    # What really happens: allauth deletes the authenticator app and then its now dangling recovery codes,
    # sending authenticator_removed for each. The app's row has no target: allauth deleted the instance
    # before the signal, so its pk is gone; the recovery codes went through a queryset and keep theirs.
    assert actions(rows) == [Action.MFA_REMOVED, Action.MFA_REMOVED]
    app_row, codes_row = rows
    assert_row(app_row, owner=citizen, actor=citizen, actor_kind=ActorKind.CITIZEN, target=("", ""))
    assert_row(
        codes_row,
        owner=citizen,
        actor=citizen,
        actor_kind=ActorKind.CITIZEN,
        target=("mfa.authenticator", codes.pk),
    )


def test_making_recovery_codes_anew_writes_one_mfa_reset_row(
    client: Client, citizen: User, django_capture_on_commit_callbacks: Any
) -> None:
    _reauthenticated(client, citizen)
    _activate_totp(client, django_capture_on_commit_callbacks)

    with new_rows() as rows, django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/2fa/recovery-codes/generate/")

    assert response.status_code == 302
    codes = Authenticator.objects.get(user=citizen, type=Authenticator.Type.RECOVERY_CODES)
    assert_row(
        the_one(rows, Action.MFA_RESET),
        owner=citizen,
        actor=citizen,
        actor_kind=ActorKind.CITIZEN,
        target=("mfa.authenticator", codes.pk),
    )


# ---------------------------------------------------------------------------- records


@pytest.fixture
def linked_citizen(citizen: User) -> User:
    """The citizen with the national identifier the scripted upstream knows."""
    return link_identifier(citizen)


def test_a_pull_start_writes_one_pull_started_row_per_source(
    fake_upstream: FakeUpstream, linked_citizen: User, citizen_client: Client
) -> None:
    first = make_source(fake_upstream.base_url, name="First")
    second = make_source(fake_upstream.base_url, name="Second")

    with new_rows() as rows:
        response = citizen_client.post("/records/pull/")

    assert response.status_code == 302
    pulls = {pull.source_id: pull for pull in Pull.objects.filter(owner=linked_citizen)}
    connections = {c.source_id: c for c in Connection.objects.filter(owner=linked_citizen)}
    assert set(pulls) == {first.pk, second.pk}
    # The first pull connects each identifier source (the portal's doing), then starts its pull (the
    # citizen's); the pulls have not run, so nothing has finished.
    assert actions(rows) == [Action.SOURCE_CONNECTED, Action.PULL_STARTED] * 2
    started = [row for row in rows if row.action == Action.PULL_STARTED]
    for row, source in zip(started, DataSource.objects.order_by("pk"), strict=True):
        assert_row(
            row,
            owner=linked_citizen,
            actor=linked_citizen,
            actor_kind=ActorKind.CITIZEN,
            target=("records.pull", pulls[source.pk].pk),
        )
    connected = [row for row in rows if row.action == Action.SOURCE_CONNECTED]
    assert [row.target_id for row in connected] == [str(connections[s].pk) for s in (first.pk, second.pk)]


def test_asking_again_while_a_pull_is_queued_writes_nothing(
    fake_upstream: FakeUpstream, linked_citizen: User
) -> None:
    make_source(fake_upstream.base_url)
    [job] = pull_start(owner=linked_citizen)

    with new_rows() as rows:
        again = pull_start(owner=linked_citizen)

    assert [queued.id for queued in again] == [job.id]  # the running one is kept
    assert rows == []


def test_a_pull_run_to_success_writes_one_pull_finished_succeeded(
    fake_upstream: FakeUpstream, linked_citizen: User
) -> None:
    make_source(fake_upstream.base_url)
    fake_upstream.routes["GET /fhir/Condition"] = Answer(body=searchset([condition("c1")]))
    [job] = pull_start(owner=linked_citizen)

    with new_rows() as rows:
        job_run(job_id=job.id)

    assert Job.objects.get(id=job.id).status == JobStatus.SUCCEEDED
    assert StoredResource.objects.filter(owner=linked_citizen, resource_type="Condition").exists()
    assert_row(
        the_one(rows, Action.PULL_FINISHED),
        owner=linked_citizen,
        actor=None,
        actor_kind=ActorKind.SYSTEM,
        target=("records.pull", Pull.objects.get(job_id=job.id).pk),
        outcome=Outcome.SUCCEEDED,
    )


def test_a_pull_against_a_failing_upstream_writes_one_pull_finished_failed(
    fake_upstream: FakeUpstream, linked_citizen: User
) -> None:
    make_source(fake_upstream.base_url)
    fake_upstream.routes["GET /fhir/Condition"] = Answer(status=500, body={})
    [job] = pull_start(owner=linked_citizen)

    with new_rows() as rows:
        job_run(job_id=job.id)

    assert Job.objects.get(id=job.id).status == JobStatus.FAILED
    assert_row(
        the_one(rows, Action.PULL_FINISHED),
        owner=linked_citizen,
        actor=None,
        actor_kind=ActorKind.SYSTEM,
        target=("records.pull", Pull.objects.get(job_id=job.id).pk),
        outcome=Outcome.FAILED,
    )


def test_a_job_delivered_again_after_it_ran_writes_no_second_pull_finished(
    fake_upstream: FakeUpstream, linked_citizen: User
) -> None:
    make_source(fake_upstream.base_url)
    job, _pull = pull_now(linked_citizen)

    with new_rows() as rows:
        job_run(job_id=job.id)  # the claim refuses it

    assert rows == []


def test_the_first_pull_connects_an_identifier_source_once(
    fake_upstream: FakeUpstream, linked_citizen: User
) -> None:
    make_source(fake_upstream.base_url)

    with new_rows() as first_rows:
        job, pull = pull_now(linked_citizen)
    with new_rows() as second_rows:
        second_job, second_pull = pull_now(linked_citizen)

    assert job.status == second_job.status == JobStatus.SUCCEEDED
    connection = Connection.objects.get(owner=linked_citizen)
    assert actions(first_rows) == [Action.SOURCE_CONNECTED, Action.PULL_STARTED, Action.PULL_FINISHED]
    assert_row(
        first_rows[0],
        owner=linked_citizen,
        actor=None,
        actor_kind=ActorKind.SYSTEM,
        target=("records.connection", connection.pk),
    )
    # The connection exists now: the second pull starts and finishes, and connects nothing again.
    assert actions(second_rows) == [Action.PULL_STARTED, Action.PULL_FINISHED]
    assert [row.target_id for row in second_rows] == [str(second_pull.pk)] * 2
    assert second_pull.pk != pull.pk


def test_completing_a_smart_launch_writes_one_source_connected_by_the_citizen(
    fake_upstream: FakeUpstream, citizen: User, citizen_client: Client
) -> None:
    _authorization_server(fake_upstream)
    source = make_source(fake_upstream.base_url, auth_mode=AuthMode.SMART_LAUNCH, client_id="portal-app")
    query = _start(citizen_client, source.pk)

    with new_rows() as rows:
        response = citizen_client.get(
            "/records/connect/callback/", {"state": query["state"], "code": "the-code"}
        )

    assert response.status_code == 302
    connection = Connection.objects.get(owner=citizen, source=source)
    assert_row(
        the_one(rows, Action.SOURCE_CONNECTED),
        owner=citizen,
        actor=citizen,
        actor_kind=ActorKind.CITIZEN,
        target=("records.connection", connection.pk),
    )


def test_a_refused_smart_launch_writes_nothing(
    fake_upstream: FakeUpstream, citizen: User, citizen_client: Client
) -> None:
    _authorization_server(fake_upstream)
    source = make_source(fake_upstream.base_url, auth_mode=AuthMode.SMART_LAUNCH, client_id="portal-app")
    _start(citizen_client, source.pk)

    with new_rows() as rows:
        response = citizen_client.get("/records/connect/callback/", {"state": "not-ours", "code": "the-code"})

    assert response.status_code == 400
    assert rows == []


# ---------------------------------------------------------------------------- exports


def test_an_export_writes_one_export_made_and_a_second_delivery_none(
    citizen_client: Client, patricia: User
) -> None:
    with new_rows() as rows:
        export, job = run_export(citizen_client)

    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert_row(
        the_one(rows, Action.EXPORT_MADE),
        owner=patricia,
        actor=None,
        actor_kind=ActorKind.SYSTEM,
        target=("sharing.export", export.id),
        detail={"format": "json"},
    )

    with new_rows() as again:
        job_run(job_id=job.id)  # a second delivery: the claim refuses it
        # A worker that died after writing: the job is queued again and runs the whole export once more.
        Job.objects.filter(id=job.id).update(status=JobStatus.QUEUED)
        job_run(job_id=job.id)

    assert Job.objects.get(id=job.id).status == JobStatus.SUCCEEDED
    assert again == []


def test_downloading_an_export_writes_one_export_downloaded_by_the_citizen(
    citizen_client: Client, patricia: User
) -> None:
    export, job = run_export(citizen_client, format="pdf")

    with new_rows() as rows:
        response = citizen_client.get(job.result_url)
        assert response.status_code == 200
        assert response.getvalue().startswith(b"%PDF-")  # read to the end, as the client's iterator closes

    assert_row(
        the_one(rows, Action.EXPORT_DOWNLOADED),
        owner=patricia,
        actor=patricia,
        actor_kind=ActorKind.CITIZEN,
        target=("sharing.export", export.id),
        detail={"format": "pdf"},
    )


def test_another_citizen_asking_for_the_download_writes_nothing(
    citizen_client: Client, patricia: User, other_citizen: User
) -> None:
    _export, job = run_export(citizen_client)
    other = Client()
    other.force_login(other_citizen)

    with new_rows() as rows:
        assert other.get(job.result_url).status_code == 404

    assert rows == []


def test_an_invalid_document_writes_one_export_failed(citizen_client: Client, patricia: User) -> None:
    # As tests/sharing/test_exports.py forces one: a stored problem with a date FHIR does not allow.
    row = StoredResource.objects.filter(owner=patricia, section="problems").first()
    assert row is not None
    row.data = {**row.data, "onsetDateTime": "the day before yesterday"}
    row.save()

    with new_rows() as rows:
        export, job = run_export(citizen_client)

    assert job.status == JobStatus.FAILED
    assert_row(
        the_one(rows, Action.EXPORT_FAILED),
        owner=patricia,
        actor=None,
        actor_kind=ActorKind.SYSTEM,
        target=("sharing.export", export.id),
        outcome=Outcome.FAILED,
    )


# ---------------------------------------------------------------------------- links


def test_creating_a_share_writes_one_share_created(citizen_client: Client, patricia: User) -> None:
    with new_rows() as rows:
        share = make_share(citizen_client, label="For the GP")  # POST /shares/, and its job run

    assert_row(
        the_one(rows, Action.SHARE_CREATED),
        owner=patricia,
        actor=patricia,
        actor_kind=ActorKind.CITIZEN,
        target=("sharing.share", share.id),
    )


def test_a_refused_share_request_writes_nothing(citizen_client: Client, patricia: User) -> None:
    with new_rows() as rows:
        assert citizen_client.post("/shares/", {"expires_in": 12345}).status_code == 400

    assert rows == []


@pytest.mark.parametrize(
    ("setup", "view", "action"),
    [
        ((), "pause", Action.SHARE_PAUSED),
        (("pause",), "resume", Action.SHARE_RESUMED),
        ((), "revoke", Action.SHARE_REVOKED),
        (("pause",), "revoke", Action.SHARE_REVOKED),
    ],
    ids=["pause", "resume", "revoke", "revoke-a-paused-link"],
)
def test_each_change_of_a_link_writes_one_row_and_repeating_it_none(
    citizen_client: Client, patricia: User, setup: tuple[str, ...], view: str, action: Action
) -> None:
    share = make_share(citizen_client)
    for earlier in setup:
        citizen_client.post(f"/shares/{share.id}/{earlier}/")

    with new_rows() as rows:
        response = citizen_client.post(f"/shares/{share.id}/{view}/")
    with new_rows() as repeated:
        citizen_client.post(f"/shares/{share.id}/{view}/")  # no change: no row

    assert response.status_code == 302
    assert_row(
        the_one(rows, action),
        owner=patricia,
        actor=patricia,
        actor_kind=ActorKind.CITIZEN,
        target=("sharing.share", share.id),
    )
    assert repeated == []


def test_pause_resume_revoke_write_one_row_each_in_order(citizen_client: Client, patricia: User) -> None:
    share = make_share(citizen_client)

    with new_rows() as rows:
        for view in ("pause", "pause", "resume", "resume", "revoke", "pause", "resume", "revoke"):
            assert citizen_client.post(f"/shares/{share.id}/{view}/").status_code == 302

    # Pausing a paused link, resuming an active one and anything after revoking change nothing.
    assert actions(rows) == [Action.SHARE_PAUSED, Action.SHARE_RESUMED, Action.SHARE_REVOKED]
    assert {(row.target_type, row.target_id, row.actor_id) for row in rows} == {
        ("sharing.share", str(share.id), patricia.pk)
    }


def test_another_citizen_cannot_write_to_the_trail_of_a_link(
    citizen_client: Client, patricia: User, other_citizen: User
) -> None:
    share = make_share(citizen_client)
    other = Client()
    other.force_login(other_citizen)

    with new_rows() as rows:
        for view in ("pause", "resume", "revoke"):
            assert other.post(f"/shares/{share.id}/{view}/").status_code == 404

    assert rows == []


# ---------------------------------------------------------------------------- recipient accesses


def test_opening_a_link_writes_one_link_manifest_opened_with_the_recipient(
    citizen_client: Client, patricia: User
) -> None:
    share = make_share(citizen_client)
    payload = link_of(citizen_client, share)
    recipient = Client()  # no session: whoever holds the link

    with new_rows() as rows:
        answer = post_manifest(recipient, payload, recipient=RECIPIENT)

    assert answer.status_code == 200
    assert_row(
        the_one(rows, Action.LINK_MANIFEST),
        owner=patricia,
        actor=None,
        actor_kind=ActorKind.RECIPIENT,
        target=("sharing.share", share.id),
        outcome=Outcome.OPENED,
        recipient=RECIPIENT,
    )


def test_a_wrong_passcode_writes_one_link_manifest_wrong_passcode(
    citizen_client: Client, patricia: User
) -> None:
    share = make_share(citizen_client, passcode="right-code")
    payload = link_of(citizen_client, share)

    with new_rows() as rows:
        answer = post_manifest(Client(), payload, recipient=RECIPIENT, passcode="wrong-code")

    assert answer.status_code == 401
    assert_row(
        the_one(rows, Action.LINK_MANIFEST),
        owner=patricia,
        actor=None,
        actor_kind=ActorKind.RECIPIENT,
        target=("sharing.share", share.id),
        outcome=Outcome.WRONG_PASSCODE,
        recipient=RECIPIENT,
    )


def test_a_refused_open_writes_one_row_with_the_reason(citizen_client: Client, patricia: User) -> None:
    share = make_share(citizen_client)
    payload = link_of(citizen_client, share)
    citizen_client.post(f"/shares/{share.id}/pause/")

    with new_rows() as rows:
        assert post_manifest(Client(), payload, recipient=RECIPIENT).status_code == 404

    row = the_one(rows, Action.LINK_MANIFEST)
    assert (row.owner, row.outcome, row.recipient) == (patricia, Outcome.PAUSED, RECIPIENT)


def test_fetching_each_file_writes_one_link_file_naming_the_file(
    citizen_client: Client, patricia: User
) -> None:
    share = make_share(citizen_client)
    payload = link_of(citizen_client, share)
    recipient = Client()
    files = post_manifest(recipient, payload, recipient=RECIPIENT).json()["files"]
    locations = [entry["location"].removeprefix("http://testserver") for entry in files]

    with new_rows() as rows:
        for location in locations:
            assert recipient.get(location).status_code == 200

    assert actions(rows) == [Action.LINK_FILE, Action.LINK_FILE]
    for row in rows:
        assert (row.owner, row.actor, row.actor_kind) == (patricia, None, ActorKind.RECIPIENT)
        assert (row.target_type, row.target_id) == ("sharing.share", str(share.id))
        assert (row.outcome, row.recipient) == (Outcome.FILE_SENT, RECIPIENT)
    assert sorted(row.detail["file"] for row in rows) == ["document", "pdf"]


def test_a_single_file_link_writes_one_link_direct(citizen_client: Client, patricia: User) -> None:
    share = make_share(citizen_client, direct="on")
    payload = link_of(citizen_client, share)

    with new_rows() as rows:
        answer = Client().get(manifest_path(payload), {"recipient": RECIPIENT})

    assert answer.status_code == 200
    assert_row(
        the_one(rows, Action.LINK_DIRECT),
        owner=patricia,
        actor=None,
        actor_kind=ActorKind.RECIPIENT,
        target=("sharing.share", share.id),
        outcome=Outcome.OPENED,
        recipient=RECIPIENT,
        detail={"file": "document"},
    )


# ---------------------------------------------------------------------------- operators in the admin


@pytest.fixture
def staff_client(admin_user: User) -> Client:
    """Staff with an authenticator app (the admin lets no one in without one), as tests/portal does."""
    client = Client()
    client.force_login(admin_user)
    return client


def source_form(source: DataSource, **changes: str) -> dict[str, str]:
    """The admin's change form for the source as it is stored, with ``changes`` typed in."""
    data: dict[str, str] = {}
    for name in DataSourceForm.Meta.fields:
        value = getattr(source, name)
        if value is True:
            data[name] = "on"
        elif value is not False:  # an unticked box is not sent
            data[name] = str(value)
    return data | changes


def test_an_operator_changing_a_source_writes_one_admin_changed(
    staff_client: Client, admin_user: User
) -> None:
    source = make_source("https://fhir.region.test/r4", name="Region")
    url = f"/admin/records/datasource/{source.pk}/change/"

    with new_rows() as rows:
        response = staff_client.post(url, source_form(source, read_timeout="12"))

    assert response.status_code == 302, response.content.decode()[:2000]
    source.refresh_from_db()
    assert source.read_timeout == 12.0
    # The names come from Django's change message, which lists the changed fields by their form labels.
    assert_row(
        the_one(rows, Action.ADMIN_CHANGED),
        owner=None,
        actor=admin_user,
        actor_kind=ActorKind.OPERATOR,
        target=("records.datasource", source.pk),
        detail={"fields": ["Read timeout (seconds)"]},
    )


def test_an_operator_adding_a_source_writes_one_admin_added(staff_client: Client, admin_user: User) -> None:
    with new_rows() as rows:
        response = staff_client.post("/admin/records/datasource/add/", NEW_SOURCE_FORM)

    assert response.status_code == 302, response.content.decode()[:2000]
    source = DataSource.objects.get(name="Region")
    row = the_one(rows, Action.ADMIN_ADDED)
    assert_row(
        row,
        owner=None,
        actor=admin_user,
        actor_kind=ActorKind.OPERATOR,
        target=("records.datasource", source.pk),
    )
    assert "very-secret-value" not in str(row.detail)


def test_an_operator_deleting_a_source_writes_one_admin_deleted(
    staff_client: Client, admin_user: User
) -> None:
    source = make_source("https://fhir.region.test/r4", name="Region")
    source_pk = source.pk

    with new_rows() as rows:
        response = staff_client.post(f"/admin/records/datasource/{source_pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not DataSource.objects.filter(pk=source_pk).exists()
    assert_row(
        the_one(rows, Action.ADMIN_DELETED),
        owner=None,
        actor=admin_user,
        actor_kind=ActorKind.OPERATOR,
        target=("records.datasource", source_pk),
    )


def test_an_operator_deleting_several_sources_at_once_writes_one_row_each(
    staff_client: Client, admin_user: User
) -> None:
    sources = [make_source("https://fhir.region.test/r4", name=name) for name in ("North", "South")]

    with new_rows() as rows:
        response = staff_client.post(
            "/admin/records/datasource/",
            {"action": "delete_selected", "_selected_action": [s.pk for s in sources], "post": "yes"},
        )

    assert response.status_code == 302
    assert not DataSource.objects.exists()
    assert actions(rows) == [Action.ADMIN_DELETED] * 2
    assert sorted(row.target_id for row in rows) == sorted(str(source.pk) for source in sources)
    assert {(row.actor_id, row.actor_kind, row.owner_id) for row in rows} == {
        (admin_user.pk, ActorKind.OPERATOR, None)
    }


def test_an_operator_saving_a_citizens_connection_writes_to_the_citizens_trail(
    staff_client: Client, admin_user: User, citizen: User
) -> None:
    source = make_source("https://fhir.region.test/r4", name="Region")
    connection = Connection.objects.create(owner=citizen, source=source)

    with new_rows() as rows:
        response = staff_client.post(f"/admin/records/connection/{connection.pk}/change/", {})

    assert response.status_code == 302
    # Every field is read-only: Django logs a change with no fields, and the trail follows it.
    assert_row(
        the_one(rows, Action.ADMIN_CHANGED),
        owner=citizen,
        actor=admin_user,
        actor_kind=ActorKind.OPERATOR,
        target=("records.connection", connection.pk),
    )


def test_an_operator_deleting_a_citizens_connection_writes_to_the_citizens_trail(
    staff_client: Client, admin_user: User, citizen: User
) -> None:
    source = make_source("https://fhir.region.test/r4", name="Region")
    connection = Connection.objects.create(owner=citizen, source=source)
    connection_pk = connection.pk

    with new_rows() as rows:
        response = staff_client.post(f"/admin/records/connection/{connection_pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Connection.objects.filter(pk=connection_pk).exists()
    assert_row(
        the_one(rows, Action.ADMIN_DELETED),
        owner=citizen,
        actor=admin_user,
        actor_kind=ActorKind.OPERATOR,
        target=("records.connection", connection_pk),
    )


def test_an_operator_deleting_a_citizen_keeps_the_row_without_an_owner(
    staff_client: Client, admin_user: User, citizen: User
) -> None:
    citizen_pk = citizen.pk

    with new_rows() as rows:
        response = staff_client.post(f"/admin/accounts/user/{citizen_pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not User.objects.filter(pk=citizen_pk).exists()
    # The citizen's own trail went with them (owner cascades); the operator's row stays, owned by no one.
    assert_row(
        the_one(rows, Action.ADMIN_DELETED),
        owner=None,
        actor=admin_user,
        actor_kind=ActorKind.OPERATOR,
        target=("accounts.user", citizen_pk),
    )


def test_every_registered_admin_is_audited() -> None:
    import portal.urls  # noqa: F401  (configures the admin site, as every request does)
    from portal.admin_site import AuditedModelAdmin

    registry = admin.site._registry
    assert len(registry) > 5
    unaudited = [
        f"{model._meta.label}: {type(model_admin).__name__}"
        for model, model_admin in registry.items()
        if not isinstance(model_admin, AuditedModelAdmin)
    ]
    assert unaudited == []
    assert DataSource in registry


# ---------------------------------------------------------------------------- the citizen's own trail


def activity_actions(client: Client) -> list[str]:
    response = client.get("/activity/")
    assert response.status_code == 200
    page = response.content.decode()
    rows = page.split('data-testid="activity-row"')[1:]
    return [row.split('data-action="', 1)[1].split('"', 1)[0] for row in rows]


def test_the_citizen_sees_their_trail_and_no_one_else_does(
    client: Client, patricia: User, other_citizen: User
) -> None:
    with new_rows() as rows:
        login(client, patricia.email, PASSWORD)
        export, job = run_export(client)
        assert client.get(job.result_url).getvalue()
        share = make_share(client, passcode="right-code")
        payload = link_of(client, share)
        post_manifest(Client(), payload, recipient=RECIPIENT, passcode="wrong-code")
        post_manifest(Client(), payload, recipient=RECIPIENT, passcode="right-code")
        client.post(f"/shares/{share.id}/pause/")

    expected = [
        Action.SIGNED_IN,
        Action.EXPORT_MADE,
        Action.EXPORT_DOWNLOADED,
        Action.SHARE_CREATED,
        Action.LINK_MANIFEST,
        Action.LINK_MANIFEST,
        Action.SHARE_PAUSED,
    ]
    assert actions(rows) == expected
    assert {row.owner_id for row in rows} == {patricia.pk}
    assert activity_actions(client) == list(reversed(expected))  # newest first

    other = Client()
    other.force_login(other_citizen)  # their own sign-in is their only row
    page = other.get("/activity/").content.decode()
    assert activity_actions(other) == [Action.SIGNED_IN]
    assert AuditEntry.objects.get(owner=other_citizen).actor == other_citizen
    assert RECIPIENT not in page
    for action in set(expected) - {Action.SIGNED_IN}:
        assert f'data-action="{action}"' not in page
    assert str(share.id) not in page
    assert str(export.id) not in page


def test_a_recipient_access_is_in_the_trail_of_the_links_owner_only(
    citizen_client: Client, patricia: User, other_citizen: User
) -> None:
    share = make_share(citizen_client)
    post_manifest(Client(), link_of(citizen_client, share), recipient=RECIPIENT)
    other = Client()
    other.force_login(other_citizen)

    assert Action.LINK_MANIFEST in activity_actions(citizen_client)
    assert Action.LINK_MANIFEST not in activity_actions(other)
    assert RECIPIENT in citizen_client.get("/activity/").content.decode()
    assert RECIPIENT not in other.get("/activity/").content.decode()
