"""Sharing with a clinician: POST /shares/, the share job, the share page, and the public /shl/ endpoints.

Jobs run here through ``job_run``, as a worker would; the same flow over real HTTP with a real worker is in
test_shares_http. Time moves with time-machine where expiry matters.
"""

import base64
import json
import logging
import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from fhir.resources.R4B.documentreference import DocumentReference

from core.ips.validate import validate_document
from core.shl.payload import Payload
from portal.accounts.models import User
from portal.audit.models import Outcome as AccessOutcome
from portal.jobs.models import Job, JobStatus
from portal.jobs.services import job_run
from sharing.links.services import share_link, share_qr, share_qr_svg, shares_purge
from sharing.models import Share, ShareFile
from tests import shl_reader
from tests.conftest import PASSWORD
from tests.sharing.conftest import store_example
from tests.shl_reader import decode
from tests.trail import access_outcomes, accesses_of

pytestmark = pytest.mark.django_db

DAY = 24 * 60 * 60


@pytest.fixture
def patricia(citizen: User) -> User:
    store_example(citizen)
    return citizen


def make_share(client: Client, **fields: Any) -> Share:
    """POST /shares/, run its job as the worker would; the share must be ready."""
    response = client.post("/shares/", {"expires_in": DAY, **fields})
    assert response.status_code == 302, response.content[:800]
    share = Share.objects.latest("created_at")
    assert response["Location"] == f"/shares/{share.id}/"
    job_run(job_id=share.job_id)
    job = Job.objects.get(id=share.job_id)
    assert job.status == JobStatus.SUCCEEDED, job.detail
    share.refresh_from_db()
    return share


def link_of(client: Client, share: Share) -> Payload:
    page = client.get(f"/shares/{share.id}/").content.decode()
    match = re.search(r'value="(http://testserver/viewer/#shlink:/[A-Za-z0-9_-]+)"', page)
    assert match, page
    return decode(match.group(1))


def manifest_path(payload: Payload) -> str:
    assert payload.url.startswith("http://testserver/shl/")
    return payload.url.removeprefix("http://testserver")


def post_manifest(client: Client, payload: Payload, **body: Any) -> Any:
    return client.post(manifest_path(payload), json.dumps(body), content_type="application/json")


def open_files(client: Client, payload: Payload, **body: Any) -> dict[str, Any]:
    """Manifest, then every file by its location, decrypted with the link's key: contentType → resource."""
    answer = post_manifest(client, payload, recipient="Dr. Hansen", **body)
    assert answer.status_code == 200, answer.content
    files = {}
    for entry in answer.json()["files"]:
        assert entry["contentType"] == "application/fhir+json"
        if "embedded" in entry:
            compact = entry["embedded"]
        else:
            got = client.get(entry["location"].removeprefix("http://testserver"))
            assert got.status_code == 200
            assert got["Content-Type"] == "application/jose"
            compact = got.content.decode()
        plaintext, header = shl_reader.decrypt(compact, key=payload.key)
        assert header["cty"] == "application/fhir+json"
        resource = json.loads(plaintext)
        files[resource["resourceType"]] = resource
    return files


def outcomes(share: Share) -> list[str]:
    return access_outcomes(share)


# ---------------------------------------------------------------------------- creating a share


def test_the_page_offers_expiry_passcode_label_and_sections(citizen_client: Client, patricia: User) -> None:
    page = citizen_client.get("/shares/").content.decode()
    for seconds in (900, DAY, 7 * DAY, 30 * DAY):
        assert f'name="expires_in" value="{seconds}"' in page
    assert 'name="passcode"' in page
    assert 'name="label"' in page
    assert 'maxlength="80"' in page
    assert 'name="sections" value="48765-2"' in page  # allergies


def test_a_share_stores_only_ciphertext_and_shows_a_spec_link(citizen_client: Client, patricia: User) -> None:
    share = make_share(citizen_client, passcode="4711-secret", label="For Dr Hansen")
    payload = link_of(citizen_client, share)
    assert payload.flag == "P"
    assert payload.label == "For Dr Hansen"
    assert payload.v == 1
    assert payload.exp == int(share.expires_at.timestamp())
    assert len(payload.url) <= 128
    manifest_id = payload.url.rsplit("/", 1)[1]
    assert len(manifest_id) == 43  # 256 random bits
    # At rest: the files as JWE only, the key and manifest id only inside a Fernet token, an argon2 passcode.
    files = list(ShareFile.objects.filter(share=share))
    assert sorted(file.kind for file in files) == ["document", "pdf"]
    for file in files:
        assert file.jwe.count(".") == 4
        assert "Jordana" not in file.jwe
        assert "Patient" not in file.jwe
    row = Share.objects.filter(id=share.id).values().get()
    stored = json.dumps(row, default=str)
    assert payload.key not in stored
    assert manifest_id not in stored
    assert "4711-secret" not in stored
    assert share.passcode_hash.startswith("argon2$")


def test_the_share_page_shows_the_link_qr_status_and_no_cache(citizen_client: Client, patricia: User) -> None:
    share = make_share(citizen_client)
    response = citizen_client.get(f"/shares/{share.id}/")
    page = response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert 'data-status="active"' in page
    assert 'data-testid="copy-link"' in page
    qr = re.search(r'data-testid="share-qr">(<svg.*?</svg>)', page, re.S)
    assert qr
    assert "<path" in qr.group(1)
    link = share_link(share)
    assert link.split("#", 1)[1] in page
    # The QR code holds the whole link with error correction M, as the specification recommends.
    assert share_qr(link).designator.endswith("-M")
    assert qr.group(1) == share_qr_svg(link)


def test_the_share_page_waits_while_the_job_runs(citizen_client: Client, patricia: User) -> None:
    response = citizen_client.post("/shares/", {"expires_in": DAY})
    page = citizen_client.get(response["Location"]).content.decode()
    assert 'data-status="preparing"' in page
    # The page asks its job until the files are ready (a script, not a timed meta refresh).
    share = Share.objects.latest("created_at")
    assert f'data-job-url="/jobs/{share.job_id}/"' in page
    assert 'http-equiv="refresh"' not in page
    assert "shlink:/" not in page  # no link before its files exist


@pytest.mark.parametrize(
    "fields",
    [
        {"expires_in": 12345},
        {"expires_in": "soon"},
        {"expires_in": DAY, "label": "x" * 81},
        {"expires_in": DAY, "passcode": "123"},
        {"expires_in": DAY, "passcode": "12345", "direct": "on"},
        {"expires_in": DAY, "sections": "00000-0"},
    ],
)
def test_bad_requests_get_a_400_page_and_no_share(
    citizen_client: Client, patricia: User, fields: dict[str, Any]
) -> None:
    response = citizen_client.post("/shares/", fields)
    assert response.status_code == 400
    assert b'data-testid="share-error"' in response.content
    assert not Share.objects.exists()


def test_an_old_sign_in_must_re_authenticate_and_the_post_resumes(client: Client, patricia: User) -> None:
    assert client.post("/accounts/login/", {"login": patricia.email, "password": PASSWORD}).status_code == 302
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        first = client.post("/shares/", {"expires_in": DAY, "label": "after re-auth"})
        assert first.status_code == 302
        assert first["Location"].startswith("/accounts/reauthenticate/")
        assert not Share.objects.exists()
        resumed = client.post(first["Location"], {"password": PASSWORD})
        share = Share.objects.get()
        assert share.label == "after re-auth"
        assert resumed["Location"] == f"/shares/{share.id}/"


def test_a_fresh_sign_in_needs_no_second_password(client: Client, patricia: User) -> None:
    client.post("/accounts/login/", {"login": patricia.email, "password": PASSWORD})
    assert client.post("/shares/", {"expires_in": DAY})["Location"].startswith("/shares/")


def test_another_citizens_share_is_a_404(
    citizen_client: Client, patricia: User, other_citizen: User, client: Client
) -> None:
    share = make_share(citizen_client)
    other = Client()
    other.force_login(other_citizen)
    for url in (f"/shares/{share.id}/",):
        assert other.get(url).status_code == 404
    for action in ("revoke", "pause", "resume"):
        assert other.post(f"/shares/{share.id}/{action}/").status_code == 404
    share.refresh_from_db()
    assert share.revoked_at is None
    assert share.paused_at is None
    assert b"access-row" not in other.get("/access-log/").content


# ---------------------------------------------------------------------------- the public endpoints


def test_manifest_and_files_give_the_validated_document_and_the_pdf(
    citizen_client: Client, patricia: User
) -> None:
    share = make_share(citizen_client)
    payload = link_of(citizen_client, share)
    files = open_files(citizen_client, payload)
    bundle = files["Bundle"]
    assert bundle["type"] == "document"
    assert validate_document(bundle, bundle_json=json.dumps(bundle).encode()) == []
    assert bundle["identifier"]["value"].endswith(str(share.id))
    reference = files["DocumentReference"]
    DocumentReference.model_validate(reference)
    attachment = reference["content"][0]["attachment"]
    assert attachment["contentType"] == "application/pdf"
    assert base64.b64decode(attachment["data"]).startswith(b"%PDF")
    assert outcomes(share) == [AccessOutcome.OPENED, AccessOutcome.FILE_SENT, AccessOutcome.FILE_SENT]


def test_embedded_files_when_the_client_allows_their_length(citizen_client: Client, patricia: User) -> None:
    share = make_share(citizen_client)
    payload = link_of(citizen_client, share)
    big = post_manifest(citizen_client, payload, recipient="A", embeddedLengthMax=10_000_000).json()
    assert all("embedded" in entry and "location" not in entry for entry in big["files"])
    small = post_manifest(citizen_client, payload, recipient="A", embeddedLengthMax=10).json()
    assert all("location" in entry and "embedded" not in entry for entry in small["files"])
    assert {entry["fhirVersion"] for entry in big["files"]} == {"4.0.1"}


def test_public_answers_allow_any_origin_store_nothing_and_need_no_csrf(
    citizen_client: Client, patricia: User
) -> None:
    share = make_share(citizen_client)
    payload = link_of(citizen_client, share)
    stranger = Client(enforce_csrf_checks=True)
    answer = post_manifest(stranger, payload, recipient="Dr. Hansen")
    assert answer.status_code == 200
    assert answer["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in answer
    assert "no-store" in answer["Cache-Control"]
    assert not answer.cookies
    preflight = stranger.options(manifest_path(payload), HTTP_ORIGIN="https://viewer.example.org")
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    assert "Content-Type" in preflight["Access-Control-Allow-Headers"]
    missing = stranger.post("/shl/" + "A" * 43, "{}", content_type="application/json")
    assert missing.status_code == 404
    assert missing["Access-Control-Allow-Origin"] == "*"


def test_every_refusal_is_the_same_404(citizen_client: Client, patricia: User) -> None:
    unknown = post_manifest(citizen_client, decode_fake(), recipient="A")
    assert unknown.status_code == 404
    share = make_share(citizen_client)
    payload = link_of(citizen_client, share)
    citizen_client.post(f"/shares/{share.id}/pause/")
    paused = post_manifest(citizen_client, payload, recipient="A")
    citizen_client.post(f"/shares/{share.id}/resume/")
    assert post_manifest(citizen_client, payload, recipient="A").status_code == 200
    citizen_client.post(f"/shares/{share.id}/revoke/")
    revoked = post_manifest(citizen_client, payload, recipient="A")
    for refused in (paused, revoked):
        assert refused.status_code == 404
        assert refused.content == unknown.content
    assert outcomes(share) == [AccessOutcome.PAUSED, AccessOutcome.OPENED, AccessOutcome.REVOKED]
    assert not ShareFile.objects.filter(share=share).exists()  # revoking deletes the ciphertexts


def decode_fake() -> Payload:
    return Payload(url="http://testserver/shl/" + "B" * 43, key="A" * 43)


def test_expiry_with_time_moving(citizen_client: Client, patricia: User) -> None:
    share = make_share(citizen_client, expires_in=15 * 60)
    payload = link_of(citizen_client, share)
    with time_machine.travel(timezone.now() + timedelta(minutes=14)):
        assert post_manifest(citizen_client, payload, recipient="A").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert post_manifest(citizen_client, payload, recipient="A").status_code == 404
        page = citizen_client.get(f"/shares/{share.id}/").content.decode()
        assert 'data-status="expired"' in page
        assert "shlink:/" not in page
        assert shares_purge() == 1
    assert outcomes(share)[-1] == AccessOutcome.EXPIRED
    assert not ShareFile.objects.filter(share=share).exists()
    assert accesses_of(share).count() == 2  # the log outlives the files


def test_file_urls_work_once_and_for_at_most_an_hour(citizen_client: Client, patricia: User) -> None:
    share = make_share(citizen_client)
    payload = link_of(citizen_client, share)
    first, second = post_manifest(citizen_client, payload, recipient="Dr. Hansen").json()["files"]
    path = first["location"].removeprefix("http://testserver")
    assert citizen_client.get(path).status_code == 200
    assert citizen_client.get(path).status_code == 404  # used
    late = second["location"].removeprefix("http://testserver")
    with time_machine.travel(timezone.now() + timedelta(seconds=3601)):
        assert citizen_client.get(late).status_code == 404
    assert outcomes(share)[-1] == AccessOutcome.FILE_LINK_GONE
    assert citizen_client.get("/shl/files/" + "x" * 43).status_code == 404
    assert citizen_client.get(path[:-3] + "AAA").status_code == 404  # altered


def test_wrong_passcodes_count_down_then_lock_for_good(
    citizen_client: Client, patricia: User, settings: Any
) -> None:
    settings.SHL_PASSCODE_ATTEMPTS = 3
    share = make_share(citizen_client, passcode="right-code")
    payload = link_of(citizen_client, share)
    missing = post_manifest(citizen_client, payload, recipient="A")
    assert missing.status_code == 401
    assert missing.json() == {"remainingAttempts": 3}
    remaining = []
    for _ in range(3):
        wrong = post_manifest(citizen_client, payload, recipient="A", passcode="wrong")
        assert wrong.status_code == 401
        remaining.append(wrong.json()["remainingAttempts"])
    assert remaining == [2, 1, 0]
    assert post_manifest(citizen_client, payload, recipient="A", passcode="right-code").status_code == 404
    assert post_manifest(citizen_client, payload, recipient="A", passcode="wrong").status_code == 404
    assert outcomes(share)[-1] == AccessOutcome.LOCKED
    assert accesses_of(share).get(outcome=AccessOutcome.LOCKED).repeats == 2  # one row counts both
    assert b'data-status="locked"' in citizen_client.get(f"/shares/{share.id}/").content


def test_the_right_passcode_opens(citizen_client: Client, patricia: User) -> None:
    share = make_share(citizen_client, passcode="right-code")
    payload = link_of(citizen_client, share)
    post_manifest(citizen_client, payload, recipient="A", passcode="wrong")
    assert "Bundle" in open_files(citizen_client, payload, passcode="right-code")
    share.refresh_from_db()
    assert share.passcode_attempts_left == 9


def test_flooding_gets_429_with_retry_after(citizen_client: Client, patricia: User, settings: Any) -> None:
    share = make_share(citizen_client)
    payload = link_of(citizen_client, share)
    settings.SHL_RATE_LIMIT = "5/h"  # per hour: no window ends mid-test
    answers = [post_manifest(citizen_client, payload, recipient="A") for _ in range(7)]
    assert [answer.status_code for answer in answers] == [200] * 5 + [429] * 2
    assert 1 <= int(answers[-1]["Retry-After"]) <= 3600
    assert answers[-1]["Access-Control-Expose-Headers"] == "Retry-After"
    # Nothing is written while answering 429: the log holds the five openings only.
    assert outcomes(share) == [AccessOutcome.OPENED] * 5


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"passcode": "x"}', b'{"recipient": ""}', b'{"recipient": 5}',
     b'{"recipient": "A", "embeddedLengthMax": -1}', b'{"recipient": "' + b"x" * 5000 + b'"}'],
)  # fmt: skip
def test_bad_manifest_requests_get_400(citizen_client: Client, patricia: User, body: bytes) -> None:
    share = make_share(citizen_client)
    payload = link_of(citizen_client, share)
    answer = citizen_client.post(manifest_path(payload), body, content_type="application/json")
    assert answer.status_code == 400
    assert outcomes(share) == [AccessOutcome.BAD_REQUEST]


def test_a_single_file_link_answers_get_with_the_document(citizen_client: Client, patricia: User) -> None:
    share = make_share(citizen_client, direct="on")
    payload = link_of(citizen_client, share)
    assert payload.flag == "U"
    assert citizen_client.get(manifest_path(payload)).status_code == 400  # recipient is required
    answer = citizen_client.get(manifest_path(payload), {"recipient": "Dr. Hansen"})
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/jose"
    plaintext, _header = shl_reader.decrypt(answer.content.decode(), key=payload.key)
    assert json.loads(plaintext)["type"] == "document"
    assert outcomes(share) == [AccessOutcome.BAD_REQUEST, AccessOutcome.OPENED]
    # A link without U does not answer GET.
    other = link_of(citizen_client, make_share(citizen_client))
    assert citizen_client.get(manifest_path(other), {"recipient": "A"}).status_code == 404


def test_the_access_log_shows_each_request(citizen_client: Client, patricia: User) -> None:
    share = make_share(citizen_client, passcode="right-code", label="For the GP")
    payload = link_of(citizen_client, share)
    post_manifest(citizen_client, payload, recipient="Dr. <b>Hansen</b>", passcode="wrong")
    open_files(citizen_client, payload, passcode="right-code")
    page = citizen_client.get("/access-log/").content.decode()
    assert page.count('data-testid="access-row"') == 4
    assert "Dr. &lt;b&gt;Hansen&lt;/b&gt;" in page  # as given, escaped
    assert 'data-outcome="wrong-passcode"' in page
    assert 'data-outcome="opened"' in page
    assert "For the GP" in page
    detail = citizen_client.get(f"/shares/{share.id}/").content.decode()
    assert detail.count('data-testid="access-row"') == 4


def test_no_secret_reaches_any_log(
    citizen_client: Client, patricia: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    share = make_share(citizen_client, passcode="pass-4711", label="For Dr Hansen")
    payload = link_of(citizen_client, share)
    post_manifest(citizen_client, payload, recipient="Dr. Hansen", passcode="wrong-4711")
    files = open_files(citizen_client, payload, passcode="pass-4711")
    citizen_client.post(f"/shares/{share.id}/revoke/")
    post_manifest(citizen_client, payload, recipient="Dr. Hansen", passcode="pass-4711")  # a logged 404
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "audit link.manifest" in text  # the flow did log its accesses
    assert "Not Found: /shl/[redacted]" in text  # Django's own line for the 404, masked
    manifest_id = payload.url.rsplit("/", 1)[1]
    for secret in (payload.key, manifest_id, "pass-4711", "wrong-4711", "shlink:/", "Dr. Hansen", "Jordana"):
        assert secret not in text, secret
    assert files  # the flow worked


def test_admin_shows_shares_and_access_metadata_without_secrets(
    admin_user: User, citizen_client: Client, patricia: User
) -> None:
    share = make_share(citizen_client, passcode="pass-4711")
    payload = link_of(citizen_client, share)
    post_manifest(citizen_client, payload, recipient="Dr. Hansen", passcode="pass-4711")
    admin = Client()
    admin.force_login(admin_user)
    listing = admin.get("/admin/sharing/share/").content.decode()
    assert str(share.id) in listing
    assert "active" in listing
    detail = admin.get(f"/admin/sharing/share/{share.id}/change/").content.decode()
    log = admin.get("/admin/audit/auditentry/").content.decode()
    assert "Dr. Hansen" in log
    for page in (listing, detail, log):
        assert payload.key not in page
        assert payload.url.rsplit("/", 1)[1] not in page
        assert "argon2" not in page
        assert share.link_secret[:20] not in page
    assert admin.get("/admin/sharing/sharefile/").status_code == 404  # ciphertexts are not in the admin


def test_sharing_speaks_danish(client: Client, patricia: User) -> None:
    from portal.accounts.services import profile_set_language

    profile_set_language(user=patricia, language="da")
    client.force_login(patricia)  # the session takes the profile's language at sign-in
    share = make_share(client, passcode="right-code")
    assert "Beskyttelse og etiket" in client.get("/shares/").content.decode()
    detail = client.get(f"/shares/{share.id}/").content.decode()
    assert "Hvem har åbnet linket" in detail
    assert "Aktivt" in detail
    assert "Din adgangslog" in client.get("/access-log/").content.decode()
    viewer = client.get("/viewer/").content.decode()
    assert "Åbn et delt patientresumé" in viewer
    # The PDF inside the link is in the citizen's language too.
    payload = link_of(client, share)
    reference = open_files(client, payload, passcode="right-code")["DocumentReference"]
    assert reference["content"][0]["attachment"]["language"] == "da"


def test_the_access_log_outlives_its_link(citizen_client: Client, patricia: User) -> None:
    share = make_share(citizen_client)
    post_manifest(citizen_client, link_of(citizen_client, share), recipient="Dr. Hansen")
    citizen_client.post(f"/shares/{share.id}/revoke/")
    shares_purge()
    assert accesses_of(share).count() == 1
    # The trail names the link by id: even deleting the share row leaves its accesses in the citizen's log.
    share_id = share.id
    share.delete()
    share.id = share_id
    assert accesses_of(share).count() == 1
    assert "Dr. Hansen" in citizen_client.get("/access-log/").content.decode()
