"""Writes for records: connections, starting pulls, running a pull, and the SMART standalone launch."""

import logging
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_noop

from core.fhir import documents, upstream
from core.fhir.merge import Conflict, Contribution, match_view, merge
from core.oauth import client_assertion, pkce_pair
from portal import crypto
from portal.accounts.models import User
from portal.accounts.selectors import identity_for_identifier_pulls
from portal.audit.models import Action, Outcome
from portal.audit.services import audit_record
from portal.jobs.models import Job, JobStatus
from portal.jobs.registry import JobError, JobOutcome, ProgressReporter
from portal.jobs.services import job_create
from portal.records.fhir_client import (
    FhirEndpoint,
    RetryPolicy,
    Timeouts,
    TokenResponse,
    UpstreamError,
    authorization_issuer,
    endpoint_check,
    read_ahead,
    smart_endpoints,
    token_request,
)
from portal.records.models import (
    AuthMode,
    Connection,
    ConnectionStatus,
    DataSource,
    Pull,
    PullStrategy,
    StoredResource,
)
from portal.records.storage import PullWriter

logger = logging.getLogger(__name__)

PULL_KIND = "records.pull"
MERGE_KIND = "records.merge"
CONTACTING = gettext_noop("Contacting the data source…")
FINDING_PATIENT = gettext_noop("Finding your patient record…")
FETCHING = gettext_noop("Fetching your records…")
FETCHING_DOCUMENTS = gettext_noop("Fetching your documents…")
FETCHING_REFERENCES = gettext_noop("Fetching medicines, devices and care providers…")
PULL_DONE = gettext_noop("Your records from this source are up to date.")
NO_PATIENT = gettext_noop("The data source has no patient record with your national identifier.")
SEVERAL_PATIENTS = gettext_noop(
    "The data source has several patient records with your national identifier, so none was used. "
    "Please contact the data source."
)
SOURCE_DISABLED = gettext_noop("This data source has been switched off by the portal's operators.")
RECONNECT = gettext_noop("Please connect this data source again: its authorisation has ended.")
NOT_CONFIGURED = gettext_noop(
    "This data source is not fully set up yet. The portal's operators have been told."
)
LAUNCH_INVALID = gettext_noop("This sign-in attempt is not valid or has expired. Please start again.")

# A token this close to expiry is renewed before use rather than rejected mid-pull.
TOKEN_MARGIN = timedelta(seconds=30)
REFERENCE_ROUNDS = 3  # PractitionerRole → Practitioner → Organization, no further
ID_SEARCH_CHUNK = 50


class PullFailed(JobError):
    """The source refused or failed; ``transient``: trying again later may help."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def _timeouts(source: DataSource) -> Timeouts:
    return Timeouts(connect=source.connect_timeout, read=source.read_timeout)


def _trusted_hosts() -> list[str]:
    # Hosts besides a source's own whose https token/authorize endpoints discovery may name.
    return list(settings.FHIR_AUTH_TRUSTED_HOSTS)


def _trusted_origins() -> list[str]:
    # Exact origins besides a source's own (a local sandbox's authorization server on its own port, say).
    return list(settings.FHIR_AUTH_TRUSTED_ORIGINS)


def _retry_policy() -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.FHIR_MAX_ATTEMPTS,
        backoff_seconds=settings.FHIR_BACKOFF_SECONDS,
        retry_after_max_seconds=settings.FHIR_RETRY_AFTER_MAX_SECONDS,
        max_pages=settings.FHIR_MAX_PAGES,
        max_response_bytes=settings.FHIR_MAX_RESPONSE_BYTES,
        max_response_seconds=settings.FHIR_MAX_RESPONSE_SECONDS,
    )


# ---------------------------------------------------------------------- connections and starting pulls


def connections_for_pull(*, owner: User) -> Iterator[Connection]:
    """The citizen's connected sources. Identifier-based sources connect by themselves; SMART launch
    sources only after the citizen authorised them."""
    for source in DataSource.objects.filter(enabled=True):
        if source.auth_mode == AuthMode.SMART_LAUNCH:
            connection = Connection.objects.filter(
                owner=owner, source=source, status=ConnectionStatus.ACTIVE
            ).first()
            if connection is not None:
                yield connection
            continue
        # The identifier bound to the account (by a verified eID sign-in) in the system the source searches,
        # at enough assurance: a weaker sign-in may connect only sources that authenticate the person.
        if identity_for_identifier_pulls(user=owner, system=source.patient_identifier_system) is None:
            continue
        connection, created = Connection.objects.get_or_create(owner=owner, source=source)
        if created:
            # Connected by the portal itself: the source finds the citizen by their national identifier.
            audit_record(action=Action.SOURCE_CONNECTED, owner=owner, target=connection)
        yield connection


def pull_start(*, owner: User) -> list[Job]:
    """One pull job per connected source; a source already being pulled keeps its running job. The citizen
    asking starts a new series of automatic tries: any waiting one is replaced by this pull."""
    with transaction.atomic():
        jobs = [_pull_begin(connection, actor=owner) for connection in connections_for_pull(owner=owner)]
        Connection.objects.filter(owner=owner).update(failed_pulls=0, retry_at=None)
    return jobs


def _pull_begin(connection: Connection, *, actor: User | None) -> Job:
    ongoing = (
        Pull.objects.select_related("job")
        .filter(connection=connection, job__status__in=(JobStatus.QUEUED, JobStatus.RUNNING))
        .first()
    )
    if ongoing is not None:
        return ongoing.job
    owner = connection.owner
    job = job_create(owner=owner, kind=PULL_KIND)
    pull = Pull.objects.create(job=job, owner=owner, source=connection.source, connection=connection)
    audit_record(action=Action.PULL_STARTED, owner=owner, actor=actor, target=pull)
    return job


def pulls_retry_due() -> int:
    """Start again the pulls whose automatic try has come (the beat runs this); how many were started."""
    started = 0
    due = Connection.objects.filter(retry_at__lte=timezone.now()).select_related("owner", "source")
    for connection_id in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            connection = due.select_for_update(of=("self",)).filter(pk=connection_id).first()
            if connection is None:  # the citizen pressed "Fetch" meanwhile, or another beat took it
                continue
            connection.retry_at = None
            connection.save(update_fields=["retry_at"])
            if connection.source.enabled and connection.status == ConnectionStatus.ACTIVE:
                _pull_begin(connection, actor=None)
                started += 1
    if started:
        logger.info("pulls retry: %d started again", started)
    return started


def _pull_ended(pull: Pull, *, failure: BaseException | None) -> None:
    """Keep the connection's series of failures: a success ends it; a failure that may pass sets when the
    portal asks again (PULL_RETRY_DELAYS_SECONDS), one that will not (no patient there, access ended) not."""
    connection = pull.connection
    if failure is None:
        connection.failed_pulls, connection.retry_at = 0, None
    else:
        # Unexpected errors and the time limit may pass; a readable refusal only if upstream said so.
        passing = not isinstance(failure, JobError) or (isinstance(failure, PullFailed) and failure.transient)
        connection.refresh_from_db(fields=["failed_pulls"])  # the citizen may have started a new series
        connection.failed_pulls = min(connection.failed_pulls + 1, 1000)
        delays = settings.PULL_RETRY_DELAYS_SECONDS
        connection.retry_at = (
            timezone.now() + timedelta(seconds=delays[connection.failed_pulls - 1])
            if passing and connection.failed_pulls <= len(delays)
            else None
        )
    connection.save(update_fields=["failed_pulls", "retry_at"])


# ---------------------------------------------------------------------- tokens


class BackendServicesToken:
    """SMART Backend Services: the portal's own client_credentials grant, with private_key_jwt or a secret."""

    def __init__(self, source: DataSource, endpoint_for_discovery: FhirEndpoint) -> None:
        self._source = source
        self._discovery = endpoint_for_discovery
        self._token = ""
        self._expires = 0.0

    def __call__(self, *, renew: bool) -> str:
        if renew or not self._token or time.monotonic() > self._expires:
            response = self._request()
            self._token = response.access_token
            self._expires = time.monotonic() + response.expires_in - TOKEN_MARGIN.total_seconds()
        return self._token

    def _request(self) -> TokenResponse:
        source = self._source
        endpoints = smart_endpoints(
            self._discovery,
            trusted_hosts=_trusted_hosts(),
            trusted_origins=_trusted_origins(),
            wanted=("token",),
        )
        token_url = endpoints.get("token")
        if not token_url or not source.client_id:
            raise UpstreamError(NOT_CONFIGURED, detail="no token endpoint or client id")
        form = {"grant_type": "client_credentials", "scope": source.scope or "system/*.read"}
        if source.has_private_key:
            form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            form["client_assertion"] = client_assertion(
                client_id=source.client_id,
                token_url=token_url,
                private_key_pem=source.private_key(),
                algorithm=source.signing_algorithm,
                key_id=source.key_id,
            )
            return token_request(token_url, form, timeouts=_timeouts(source))
        if source.has_client_secret:
            return token_request(
                token_url,
                form,
                timeouts=_timeouts(source),
                basic_auth=(source.client_id, source.client_secret()),
            )
        raise UpstreamError(NOT_CONFIGURED, detail="no private key and no client secret")


class ConnectionToken:
    """SMART standalone launch: the citizen's access token, refreshed with a refresh token used only once."""

    def __init__(self, connection: Connection, endpoint_for_discovery: FhirEndpoint) -> None:
        self._connection = connection
        self._discovery = endpoint_for_discovery

    def __call__(self, *, renew: bool) -> str:
        connection = self._connection
        expires = connection.token_expires_at
        if (
            not renew
            and connection.access_token_encrypted
            and expires
            and expires - TOKEN_MARGIN > timezone.now()
        ):
            return connection.access_token()
        refresh_token = connection.refresh_token()
        if not refresh_token:
            _connection_needs_authorisation(connection)
            raise UpstreamError(RECONNECT, detail="no refresh token")
        source = connection.source
        # Checked before the refresh token is spent: a refused endpoint leaves the connection as it was.
        endpoints = smart_endpoints(
            self._discovery,
            trusted_hosts=_trusted_hosts(),
            trusted_origins=_trusted_origins(),
            wanted=("token",),
        )
        token_url = endpoints.get("token")
        if not token_url:
            raise UpstreamError(NOT_CONFIGURED, detail="no token endpoint")
        # Spent before it is sent: a refresh token is never offered twice, even if this request fails.
        connection.refresh_token_encrypted = ""
        connection.save(update_fields=["refresh_token_encrypted"])
        try:
            response = token_request(
                token_url,
                {"grant_type": "refresh_token", "refresh_token": refresh_token, **_public_client(source)},
                timeouts=_timeouts(source),
                basic_auth=_confidential_client(source),
            )
        except UpstreamError as error:
            if error.message != RECONNECT and not error.transient:
                _connection_needs_authorisation(connection)
                raise UpstreamError(RECONNECT, detail=error.detail) from None
            raise
        connection_store_tokens(connection=connection, response=response)
        return response.access_token


def _public_client(source: DataSource) -> dict[str, str]:
    return {} if source.has_client_secret else {"client_id": source.client_id}


def _confidential_client(source: DataSource) -> tuple[str, str] | None:
    return (source.client_id, source.client_secret()) if source.has_client_secret else None


def _connection_needs_authorisation(connection: Connection) -> None:
    connection.status = ConnectionStatus.NEEDS_AUTHORISATION
    connection.access_token_encrypted = ""
    connection.token_expires_at = None
    connection.save(update_fields=["status", "access_token_encrypted", "token_expires_at"])


def connection_store_tokens(*, connection: Connection, response: TokenResponse) -> None:
    connection.access_token_encrypted = crypto.encrypt(response.access_token)
    connection.refresh_token_encrypted = crypto.encrypt(response.refresh_token)
    connection.token_expires_at = timezone.now() + timedelta(seconds=response.expires_in)
    connection.status = ConnectionStatus.ACTIVE
    if response.patient:
        connection.patient_id = response.patient[:64]
    connection.save()


def source_check(*, source: DataSource) -> None:
    """An operator's check: the source answers with a CapabilityStatement and, for backend services, grants
    the portal a token. Raises UpstreamError with a readable reason otherwise."""
    unsigned = FhirEndpoint(source.base_url, timeouts=_timeouts(source), retry=_retry_policy())
    unsigned.capability()
    if source.auth_mode == AuthMode.BACKEND_SERVICES:
        BackendServicesToken(source, unsigned)(renew=True)


# ---------------------------------------------------------------------- the pull


@dataclass
class _PullContext:
    pull: Pull
    endpoint: FhirEndpoint
    writer: PullWriter | None = None


def pull_run(*, job: Job, report: ProgressReporter) -> JobOutcome:
    """Fetch the citizen's record from one source into stored resources. Raises JobError with a readable
    reason on any failure; what was stored before the failure is kept. Either way the trail says so."""
    pull = Pull.objects.select_related("source", "connection", "owner").get(job=job)
    try:
        outcome = _pull_run(pull, report)
    except Exception as failure:  # the soft time limit too: however a pull ends, the trail says so
        audit_record(action=Action.PULL_FINISHED, owner=pull.owner, target=pull, outcome=Outcome.FAILED)
        _pull_ended(pull, failure=failure)
        record_merge_later(owner=pull.owner)  # what it stored before failing is part of the record too
        raise
    audit_record(action=Action.PULL_FINISHED, owner=pull.owner, target=pull, outcome=Outcome.SUCCEEDED)
    _pull_ended(pull, failure=None)
    record_merge_later(owner=pull.owner)
    return outcome


def record_merge_later(*, owner: User) -> None:
    """Queue the merge of the citizen's record (a job of its own: it reads every row, which a pull never
    holds at once); one queued merge serves every pull that ends before it runs."""
    if not Job.objects.filter(owner=owner, kind=MERGE_KIND, status=JobStatus.QUEUED).exists():
        job_create(owner=owner, kind=MERGE_KIND)


def record_merge(*, owner: User) -> None:
    """One item per clinical fact (core.fhir.merge): every row the sources hold for it points to the row that
    is shown, which keeps what they disagree on. Only rows whose grouping changed are written.

    One merge per citizen at a time (their user row is locked): pulls from several sources end at once.
    Rows no longer at their source take no part: each stays an item of its own, marked as gone.
    """
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=owner.pk).exists()
        rows = StoredResource.objects.filter(owner=owner).exclude(section="")
        current = rows.filter(missing_since__isnull=True)
        contributions = [
            Contribution(
                key=str(pk),
                source=str(source_id),
                # What matching reads, not the whole resource: the record is never held whole.
                resource=match_view(data),
                version=version,
                updated=updated.isoformat() if updated else "",
            )
            for pk, source_id, data, version, updated in current.values_list(
                "pk", "source_id", "data", "version_id", "last_updated"
            ).iterator(chunk_size=2000)
        ]
        wanted: dict[int, tuple[int | None, list[dict[str, Any]]]] = {}
        for item in merge(contributions):
            primary = int(item.primary.key)
            wanted[primary] = (None, [_conflict_json(conflict) for conflict in item.conflicts])
            for contribution in item.contributions:
                if contribution.key != item.primary.key:
                    wanted[int(contribution.key)] = (primary, [])
        changed = []
        for row in rows.only("pk", "merged_into_id", "conflicts").iterator(chunk_size=2000):
            merged_into, conflicts = wanted.get(row.pk, (None, []))
            if row.merged_into_id != merged_into or row.conflicts != conflicts:
                row.merged_into_id, row.conflicts = merged_into, conflicts
                changed.append(row)
        StoredResource.objects.bulk_update(changed, ["merged_into", "conflicts"], batch_size=1000)


def _conflict_json(conflict: Conflict) -> dict[str, Any]:
    return {
        "field": conflict.field,
        "values": [
            {"value": side.value, "source": side.source, "key": side.key, "date": side.date}
            for side in conflict.values
        ],
    }


def _pull_run(pull: Pull, report: ProgressReporter) -> JobOutcome:
    source, connection = pull.source, pull.connection
    if not source.enabled:
        raise JobError(SOURCE_DISABLED)
    report(2, CONTACTING)
    unsigned = FhirEndpoint(source.base_url, timeouts=_timeouts(source), retry=_retry_policy())
    token: BackendServicesToken | ConnectionToken | None = None
    if source.auth_mode == AuthMode.BACKEND_SERVICES:
        token = BackendServicesToken(source, unsigned)
    elif source.auth_mode == AuthMode.SMART_LAUNCH:
        token = ConnectionToken(connection, unsigned)
    endpoint = FhirEndpoint(source.base_url, timeouts=_timeouts(source), retry=_retry_policy(), token=token)
    context = _PullContext(pull=pull, endpoint=endpoint)
    try:
        _pull(context, report)
    except UpstreamError as error:
        logger.warning(
            "pull %s from source %s failed: %s (%s)", pull.id, source.pk, error.message, error.detail
        )
        if context.writer is not None:
            context.writer.finish(complete=False)
        raise PullFailed(error.message, transient=error.transient) from None
    connection.last_pull_at = timezone.now()
    connection.save(update_fields=["last_pull_at"])
    return JobOutcome(detail=PULL_DONE, result_url=reverse("records"))


def _pull(context: _PullContext, report: ProgressReporter) -> None:
    pull, endpoint = context.pull, context.endpoint
    capability = endpoint.capability()
    report(5, FINDING_PATIENT)
    patient_id, patient = _patient(context)
    writer = context.writer = PullWriter(pull=pull, base_url=endpoint.base_url, patient_id=patient_id)
    if patient is not None:
        writer.add_resources([patient])
    report(10, FETCHING)
    operations = upstream.patient_operations(capability)
    anything = upstream.STORED_TYPES | upstream.EXTRA_TYPES
    if "summary" in operations:
        pull.strategy = PullStrategy.SUMMARY
        writer.add_page(
            endpoint.read(f"Patient/{patient_id}/$summary", expect="Bundle"), allowed_types=anything
        )
    elif "everything" in operations:
        pull.strategy = PullStrategy.EVERYTHING
        pages = endpoint.pages(f"Patient/{patient_id}/$everything?_count={pull.source.page_size}")
        for page in _ahead(context, pages):
            writer.add_page(page, allowed_types=anything)
    else:
        pull.strategy = PullStrategy.SEARCH
        types = upstream.PATIENT_SEARCH_TYPES
        params = {"patient": patient_id, "_count": str(pull.source.page_size)}
        searches = (
            (index, resource_type, page)
            for index, resource_type in enumerate(types)
            for page in endpoint.search_pages(resource_type, params)
        )
        done = 0
        for index, resource_type, page in _ahead(context, searches):
            if index > done:
                done = index
                report(10 + 75 * done // len(types), FETCHING)
            writer.add_page(page, allowed_types=frozenset({resource_type}))
        report(85, FETCHING)
    report(86, FETCHING_DOCUMENTS)
    _pull_documents(context, writer, patient)
    report(88, FETCHING_REFERENCES)
    _pull_references(context, writer)
    writer.finish(complete=True)


_Page = TypeVar("_Page")


def _ahead(context: _PullContext, pages: Iterable[_Page]) -> Iterable[_Page]:
    """The pages, the next one fetched while this one is stored (``read_ahead``) — except for a SMART launch,
    whose token refresh writes the connection row: the database is the job thread's alone."""
    if context.pull.source.auth_mode == AuthMode.SMART_LAUNCH:
        return pages
    return read_ahead(pages)


def _patient(context: _PullContext) -> tuple[str, dict[str, Any] | None]:
    """The patient's id at the source: from the launch, or the one Patient with the citizen's identifier."""
    pull, endpoint = context.pull, context.endpoint
    connection, source = pull.connection, pull.source
    if source.auth_mode == AuthMode.SMART_LAUNCH:
        patient_id = connection.patient_id
        if not upstream.is_resource_id(patient_id):
            raise UpstreamError(RECONNECT, detail="no usable patient in the launch context")
        # The launch names the patient; their Patient resource is the record's anchor (a summary needs it).
        patient = upstream.resource_of_entry(
            {"resource": endpoint.read(f"Patient/{patient_id}", expect="Patient")},
            allowed_types=frozenset({"Patient"}),
        )
        if not isinstance(patient, dict) or patient.get("id") != patient_id:
            raise UpstreamError(
                RECONNECT, detail="the launch's patient is not the one the source answers with"
            )
        return patient_id, patient
    identity = identity_for_identifier_pulls(user=pull.owner, system=source.patient_identifier_system)
    if identity is None:
        raise JobError(NO_PATIENT)
    system, value = identity.system, identity.value
    matches: dict[str, dict[str, Any]] = {}
    for page in endpoint.search_pages("Patient", {"identifier": f"{system}|{value}"}):
        entries = page.get("entry")
        for entry in entries if isinstance(entries, list) else []:
            checked = upstream.resource_of_entry(entry, allowed_types=frozenset({"Patient"}))
            # Checked again here: a source that ignored the identifier would list every patient it has.
            if isinstance(checked, dict) and _has_identifier(checked, system, value):
                matches[checked["id"]] = checked
    if not matches:
        raise JobError(NO_PATIENT)
    if len(matches) > 1:
        raise JobError(SEVERAL_PATIENTS)
    patient_id, patient = next(iter(matches.items()))
    if connection.patient_id != patient_id:
        connection.patient_id = patient_id
        connection.save(update_fields=["patient_id"])
    return patient_id, patient


def _has_identifier(patient: dict[str, Any], system: str, value: str) -> bool:
    identifiers = patient.get("identifier")
    return any(
        isinstance(identifier, dict)
        and identifier.get("system") == system
        and identifier.get("value") == value
        for identifier in (identifiers if isinstance(identifiers, list) else [])
    )


MAX_DOCUMENTS = 50  # per pull: each is a request of its own
TOO_MANY_DOCUMENTS = gettext_noop("a document beyond the number fetched in one update")
DOCUMENTS_REFUSED = gettext_noop("the search for documents, which the data source refused")
DOCUMENT_UNREADABLE = gettext_noop("a document the data source would not send")


def _pull_documents(context: _PullContext, writer: PullWriter, patient: dict[str, Any] | None) -> None:
    """Documents the source publishes (IHE MHD): a patient summary or a lab report behind a current
    DocumentReference, fetched from this server only. The document Bundle is stored as a row of its own,
    its entries like a page (core.fhir.documents gives them ids and references of this record)."""
    endpoint, patient_id = context.endpoint, writer.patient_id
    params = {
        "patient": patient_id,
        "type": documents.TYPE_PARAMETER,
        "_count": str(context.pull.source.page_size),
    }
    wanted: list[documents.Attachment] = []
    try:
        for page in endpoint.search_pages("DocumentReference", params):
            entries = page.get("entry")
            for entry in entries if isinstance(entries, list) else []:
                checked = upstream.resource_of_entry(entry, allowed_types=frozenset({"DocumentReference"}))
                if isinstance(checked, upstream.EntryProblem) or not upstream.belongs_to_patient(
                    checked, patient_id=patient_id, base_url=endpoint.base_url
                ):
                    continue  # the resource search stores (or drops and counts) DocumentReferences
                found, foreign = documents.attachments(checked, base_url=endpoint.base_url)
                wanted += found
                for _ in range(foreign):
                    writer.skip(documents.FOREIGN_DOCUMENT, "DocumentReference")
    except UpstreamError as error:
        # Refused, not found, not a searchset…: a warning of the pull, never its failure. Only what may pass
        # (a timeout, a 503) fails it, as it would any other search.
        if error.transient:
            raise
        writer.skip(DOCUMENTS_REFUSED, "DocumentReference")
        return
    anchor = patient if patient is not None else {"resourceType": "Patient", "id": patient_id}
    by_url: dict[str, documents.Attachment] = {}
    for attachment in wanted:
        by_url.setdefault(attachment.url, attachment)  # one fetch per document, however many point to it
    unique = list(by_url.values())
    for _ in unique[MAX_DOCUMENTS:]:
        writer.skip(TOO_MANY_DOCUMENTS, "DocumentReference")
    for attachment in unique[:MAX_DOCUMENTS]:
        try:
            answer = endpoint.read(attachment.url, expect=_attachment_type(attachment.url, endpoint.base_url))
        except UpstreamError as error:
            if error.transient:
                raise
            writer.skip(DOCUMENT_UNREADABLE, "DocumentReference")
            continue
        content = documents.document_resources(
            documents.unwrapped(answer),
            document_key=attachment.url,
            patient=anchor,
            base_url=endpoint.base_url,
        )
        if isinstance(content, upstream.EntryProblem):
            writer.skip(content.reason, content.resource_type)
            continue
        if content.bundle is not None:  # not when it holds someone else's entries: those are dropped below
            writer.add_page({"entry": [{"resource": content.bundle}]}, allowed_types=frozenset({"Bundle"}))
        writer.add_page(
            {"entry": content.entries}, allowed_types=upstream.STORED_TYPES | upstream.EXTRA_TYPES
        )


def _attachment_type(url: str, base_url: str) -> str:
    """What the attachment URL serves: a Binary holding the document (Binary/<id>), or the Bundle itself."""
    target = upstream.reference_target(url, base_url)
    return "Binary" if target is not None and target[0] == "Binary" else "Bundle"


def _pull_references(context: _PullContext, writer: PullWriter) -> None:
    for _round in range(REFERENCE_ROUNDS):
        pending = writer.pending_references()
        if not pending:
            return
        chunks = [
            (resource_type, ids[start : start + ID_SEARCH_CHUNK])
            for resource_type, ids in pending.items()
            for start in range(0, len(ids), ID_SEARCH_CHUNK)
        ]
        for resource_type, chunk in chunks:
            writer.mark_fetched((resource_type, resource_id) for resource_id in chunk)
        # This round's searches are known up front: the next chunk downloads while this one is stored.
        searches = (
            (resource_type, chunk, page)
            for resource_type, chunk in chunks
            for page in context.endpoint.search_pages(
                resource_type, {"_id": ",".join(chunk), "_count": str(len(chunk))}
            )
        )
        for resource_type, chunk, page in _ahead(context, searches):
            writer.add_page(page, allowed_types=frozenset({resource_type}), only_ids=set(chunk))


# ---------------------------------------------------------------------- SMART standalone launch


SESSION_KEY = "smart_launch"
LAUNCH_LIFETIME_SECONDS = 600


def smart_launch_begin(*, session: Any, source: DataSource, redirect_uri: str) -> str:
    """The authorisation URL to send the citizen to. `state` and the PKCE verifier stay in this session."""
    unsigned = FhirEndpoint(source.base_url, timeouts=_timeouts(source), retry=_retry_policy())
    # The authorize URL too: the citizen's browser, and their sign-in, would go there.
    endpoints = smart_endpoints(unsigned, trusted_hosts=_trusted_hosts(), trusted_origins=_trusted_origins())
    if not endpoints.get("authorize") or not endpoints.get("token") or not source.client_id:
        raise UpstreamError(NOT_CONFIGURED, detail="no authorize/token endpoint or client id")
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(32)
    issuer, issuer_always_named = authorization_issuer(unsigned)
    pending = dict(session.get(SESSION_KEY) or {})
    now = time.time()
    pending = {key: value for key, value in pending.items() if value.get("expires", 0) > now}
    pending[state] = {
        "source": source.pk,
        "verifier": verifier,
        "token_url": endpoints["token"],
        "issuer": issuer,
        "issuer_always_named": issuer_always_named,
        "expires": now + LAUNCH_LIFETIME_SECONDS,
    }
    session[SESSION_KEY] = pending
    query = {
        "response_type": "code",
        "client_id": source.client_id,
        "redirect_uri": redirect_uri,
        "scope": source.scope or "launch/patient openid fhirUser offline_access patient/*.rs",
        "state": state,
        "aud": source.base_url,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{endpoints['authorize']}?{urlencode(query)}"


def smart_launch_complete(
    *, session: Any, owner: User, state: str, code: str, redirect_uri: str, issuer: str = ""
) -> Connection:
    """Exchange the code for tokens. Only a `state` this session started, once, within its lifetime, and
    answered by the authorization server it went to (``issuer``: the response's `iss`, RFC 9207)."""
    pending = dict(session.get(SESSION_KEY) or {})
    launch = pending.pop(state, None) if state else None
    session[SESSION_KEY] = pending
    if not launch or launch.get("expires", 0) < time.time() or not code:
        raise UpstreamError(LAUNCH_INVALID, detail="unknown, used or expired state")
    expected = launch.get("issuer") or ""
    # A response from another server (a mix-up): its code must not reach this source's token endpoint.
    if (issuer and expected and issuer != expected) or (not issuer and launch.get("issuer_always_named")):
        raise UpstreamError(LAUNCH_INVALID, detail="the authorization response names another issuer")
    source = DataSource.objects.get(pk=launch["source"], enabled=True, auth_mode=AuthMode.SMART_LAUNCH)
    # Checked when the launch began; again here, since the code and the secret go to it now.
    endpoint_check(
        launch["token_url"],
        base_url=source.base_url,
        trusted_hosts=_trusted_hosts(),
        trusted_origins=_trusted_origins(),
    )
    response = token_request(
        launch["token_url"],
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": launch["verifier"],
            **_public_client(source),
        },
        timeouts=_timeouts(source),
        basic_auth=_confidential_client(source),
    )
    if not upstream.is_resource_id(response.patient):
        raise UpstreamError(RECONNECT, detail="token response without a usable patient")
    connection, _created = Connection.objects.get_or_create(owner=owner, source=source)
    connection_store_tokens(connection=connection, response=response)
    audit_record(action=Action.SOURCE_CONNECTED, owner=owner, actor=owner, target=connection)
    return connection
