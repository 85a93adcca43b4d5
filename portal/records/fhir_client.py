"""The one adapter around fhirclient and the upstream's OAuth endpoints.

fhirclient's server object does the FHIR reads (base URL handling, Accept headers, status exceptions). What
it does not do, this module adds: connect/read timeouts on its session, no redirects, bounded retries with
backoff on transient failures (honouring Retry-After), refreshing a rejected token once, following only
same-origin `next` links, and reading raw JSON so one odd entry never loses a bundle.

Every answer is read in pieces as it arrives, never more than the size cap (also after gzip, so a small
compressed bomb stays small) and for no longer than the time cap (plus one read timeout at most): a read
timeout alone resets with every byte, so an upstream dripping one byte a second would otherwise hold a worker
for as long as it likes. (Headers dripped just as slowly are bounded only by the task's time limit.)
"""

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

import requests
import urllib3.exceptions
from django.utils.translation import gettext_noop
from fhirclient.models.fhirabstractbase import FHIRValidationError
from fhirclient.models.fhirelementfactory import FHIRElementFactory
from fhirclient.server import (
    FHIRNotFoundException,
    FHIRPermissionDeniedException,
    FHIRServer,
    FHIRUnauthorizedException,
)

from core.fhir import trust, upstream

logger = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"

TIMEOUT = gettext_noop("The data source did not answer in time. Please try again later.")
UNREACHABLE = gettext_noop("The data source could not be reached. Please try again later.")
UNAVAILABLE = gettext_noop("The data source answered with a server error. Please try again later.")
RATE_LIMITED = gettext_noop("The data source is busy and asked us to wait. Please try again later.")
UNREADABLE = gettext_noop("The data source sent data that could not be read.")
WRONG_TYPE = gettext_noop("The data source sent something other than what was asked for.")
REFUSED = gettext_noop("The data source refused the request.")
NOT_FOUND = gettext_noop("The data source could not find what was asked for.")
CREDENTIALS = gettext_noop("The data source did not accept the portal's credentials.")
FOREIGN_LINK = gettext_noop(
    "The data source sent a link to another server. It was not followed and no credentials were sent there."
)
UNTRUSTED_ENDPOINT = gettext_noop(
    "The data source's sign-in service is not on a trusted address, so nothing was sent to it. "
    "Please ask the portal's operators."
)
PAGING_LOOP = gettext_noop("The data source sent page links that go round in a circle. The pull was stopped.")
TOO_MANY_PAGES = gettext_noop(
    "The data source sent more pages than the portal accepts. The pull was stopped."
)
# A token endpoint answers a few hundred bytes; this is plenty.
TOKEN_MAX_BYTES = 1024 * 1024
TOKEN_MAX_SECONDS = 60.0
# A token lifetime longer than a day is not believed (and could overflow a date).
TOKEN_MAX_LIFETIME = 24 * 3600


class UpstreamError(Exception):
    """A failure talking to a FHIR source. `message` is a citizen-readable English msgid, `transient` says
    whether trying again later could help."""

    def __init__(self, message: str, *, transient: bool = False, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        # For operators' logs: a status code or an OperationOutcome's issue codes, never content or tokens.
        self.detail = detail


@dataclass(frozen=True)
class Timeouts:
    connect: float
    read: float


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_seconds: float = 1.0
    retry_after_max_seconds: float = 60.0
    max_pages: int = 2000
    max_response_bytes: int = 64 * 1024 * 1024
    max_response_seconds: float = 120.0  # from sending the request to the last byte of the answer


class TokenSource(Protocol):
    def __call__(self, *, renew: bool) -> str:
        """A bearer token; renew=True when the upstream rejected the last one."""
        ...


class ResponseTooLarge(requests.RequestException):
    """The answer is larger than the cap: nothing beyond the cap was read."""


class ResponseTooSlow(requests.Timeout):
    """The answer kept coming for longer than the time cap."""


def read_bounded(response: requests.Response, *, max_bytes: int, max_seconds: float, started: float) -> None:
    """Read a streamed response's body into it (``response.content`` works as usual afterwards), refusing
    more than ``max_bytes`` (decoded) or taking longer than ``max_seconds`` since ``started`` (monotonic)."""
    try:
        declared = response.headers.get("Content-Length", "").strip()
        if declared.isdigit() and (len(declared) > 18 or int(declared) > max_bytes):
            raise ResponseTooLarge("declared length over the cap")
        body = bytearray()
        deadline = started + max_seconds
        while True:
            if time.monotonic() > deadline:
                raise ResponseTooSlow("answer slower than the cap")
            # read1: whatever has arrived (one socket read), so the deadline is checked as bytes trickle in.
            chunk = response.raw.read1(64 * 1024, decode_content=True)
            if not chunk:
                break
            body += chunk
            if len(body) > max_bytes:
                raise ResponseTooLarge("answer over the cap")
        response._content = bytes(body)
        response._content_consumed = True
    except urllib3.exceptions.ReadTimeoutError:
        raise requests.Timeout("read timeout") from None
    except urllib3.exceptions.HTTPError as error:  # broken chunking, bad gzip, a reset connection
        raise requests.ConnectionError(type(error).__name__) from None
    finally:
        response.close()


class _TimeoutSession(requests.Session):
    """fhirclient's session with the timeouts it never sets, no redirects (they could carry the token
    elsewhere), and answers read with a size and a time cap."""

    def __init__(self, timeouts: Timeouts, retry: RetryPolicy) -> None:
        super().__init__()
        self._timeouts = timeouts
        self._retry = retry

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", (self._timeouts.connect, self._timeouts.read))
        kwargs["allow_redirects"] = False
        kwargs["stream"] = True
        started = time.monotonic()
        response = super().request(method, url, *args, **kwargs)
        read_bounded(
            response,
            max_bytes=self._retry.max_response_bytes,
            max_seconds=self._retry.max_response_seconds,
            started=started,
        )
        return response


def _retry_after_seconds(response: requests.Response | None) -> float | None:
    value = response.headers.get("Retry-After", "").strip() if response is not None else ""
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _outcome_codes(response: requests.Response | None) -> str:
    if response is None:
        return ""
    try:
        body = upstream.parse_json(response.content[:65536])
    except ValueError:
        return ""
    return ",".join(f"{severity}:{code}" for severity, code in upstream.outcome_issues(body))


class FhirEndpoint:
    """GETs against one FHIR base URL through fhirclient, with the safety this portal needs."""

    def __init__(
        self,
        base_url: str,
        *,
        timeouts: Timeouts,
        retry: RetryPolicy,
        token: TokenSource | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._server = FHIRServer(None, base_uri=self.base_url)
        self._server.session = _TimeoutSession(timeouts, retry)
        self._retry = retry
        self._token = token
        self._sleep = sleep

    # ------------------------------------------------------------------ reads

    def capability(self) -> dict[str, Any]:
        return self._get("metadata", expect="CapabilityStatement", sign=False)

    def smart_configuration(self) -> dict[str, Any] | None:
        """/.well-known/smart-configuration, or None when the server has none."""
        try:
            raw = self._request(
                ".well-known/smart-configuration", headers={"Accept": "application/json"}, sign=False
            )
        except UpstreamError as error:
            if error.message in (NOT_FOUND, REFUSED, CREDENTIALS):
                return None
            raise
        document = self._parse_json(raw)
        return document if isinstance(document, dict) else None

    def read(self, path: str, params: Mapping[str, str] | None = None, *, expect: str) -> dict[str, Any]:
        query = f"?{urlencode(params)}" if params else ""
        return self._get(f"{path}{query}", expect=expect)

    def search_pages(self, resource_type: str, params: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        """Each searchset page in turn, following `next` links that stay on this server.

        `Prefer: handling=strict` makes a server that does not know a parameter say so instead of ignoring it
        (and returning everyone's data).
        """
        yield from self.pages(f"{resource_type}?{urlencode(params)}", strict=True)

    def pages(self, first: str, *, strict: bool = False) -> Iterator[dict[str, Any]]:
        headers = {"Prefer": "handling=strict"} if strict else {}
        seen: set[str] = set()
        page = self._get(first, expect="Bundle", headers=headers)
        count = 1
        while True:
            yield page
            link = upstream.next_link(page)
            if link is None:
                return
            if not upstream.is_same_origin(self.base_url, link):
                logger.warning("fhir %s: a next link to another server was not followed", self.base_url)
                raise UpstreamError(FOREIGN_LINK, detail="next link to another origin")
            if link in seen:
                raise UpstreamError(PAGING_LOOP, detail="next link seen before")
            seen.add(link)
            count += 1
            if count > self._retry.max_pages:
                raise UpstreamError(TOO_MANY_PAGES, detail=f"more than {self._retry.max_pages} pages")
            page = self._get(link, expect="Bundle", headers=headers)

    # ------------------------------------------------------------------ plumbing

    def _get(
        self, path: str, *, expect: str, headers: Mapping[str, str] | None = None, sign: bool = True
    ) -> dict[str, Any]:
        raw = self._request(path, headers=dict(headers or {}), sign=sign)
        document = self._parse_json(raw)
        if not isinstance(document, dict):
            raise UpstreamError(UNREADABLE, detail="not a JSON object")
        resource_type = document.get("resourceType")
        if resource_type != expect:
            if resource_type == "OperationOutcome":
                raise UpstreamError(REFUSED, detail=_codes(document))
            raise UpstreamError(WRONG_TYPE, detail=f"expected {expect}")
        return document

    def _parse_json(self, raw: bytes) -> Any:
        try:
            return upstream.parse_json(raw)
        except (ValueError, RecursionError):
            raise UpstreamError(UNREADABLE, detail="malformed JSON") from None

    def _request(self, path: str, *, headers: dict[str, str], sign: bool = True) -> bytes:
        if "://" in path and not upstream.is_same_origin(self.base_url, path):
            raise UpstreamError(FOREIGN_LINK, detail="URL of another origin")
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            request_headers = {"Accept": FHIR_JSON, **headers}
            if sign and self._token is not None:
                request_headers["Authorization"] = f"Bearer {self._token(renew=renewed)}"
            try:
                # nosign: the Authorization header above is ours, fhirclient's own auth stays out of it.
                raw: bytes = self._server.request_data(path, headers=request_headers, nosign=True)
            except FHIRUnauthorizedException:
                if sign and self._token is not None and not renewed:
                    renewed = True  # an expired or revoked token: get a new one once, then give up
                    attempt -= 1
                    continue
                raise UpstreamError(CREDENTIALS, detail="401") from None
            except FHIRPermissionDeniedException:
                raise UpstreamError(CREDENTIALS, detail="403") from None
            except FHIRNotFoundException as error:
                raise UpstreamError(NOT_FOUND, detail=f"404 {_outcome_codes(error.response)}") from None
            except ResponseTooLarge:
                raise UpstreamError(UNREADABLE, detail="response larger than the cap") from None
            except requests.Timeout:
                failure = UpstreamError(TIMEOUT, transient=True, detail="timeout")
                wait = None
            except requests.ConnectionError:
                failure = UpstreamError(UNREACHABLE, transient=True, detail="connection failed")
                wait = None
            except requests.HTTPError as error:
                status = error.response.status_code if error.response is not None else 0
                detail = f"{status} {_outcome_codes(error.response)}".strip()
                if status == 429:
                    failure = UpstreamError(RATE_LIMITED, transient=True, detail=detail)
                    wait = _retry_after_seconds(error.response)
                    if wait is not None and wait > self._retry.retry_after_max_seconds:
                        raise UpstreamError(
                            RATE_LIMITED, transient=True, detail=f"{detail} wait {wait:.0f}s"
                        ) from None
                elif status >= 500:
                    failure = UpstreamError(UNAVAILABLE, transient=True, detail=detail)
                    wait = _retry_after_seconds(error.response)
                else:
                    raise UpstreamError(REFUSED, detail=detail) from None
            else:
                return raw
            if attempt >= self._retry.max_attempts:
                raise failure
            delay = wait if wait is not None else self._backoff(attempt)
            logger.info(
                "fhir %s: %s, attempt %d of %d, retrying in %.1f s",
                self.base_url,
                failure.detail,
                attempt,
                self._retry.max_attempts,
                delay,
            )
            self._sleep(delay)

    def _backoff(self, attempt: int) -> float:
        base = self._retry.backoff_seconds * (2 ** (attempt - 1))
        return float(base + random.uniform(0, base / 4))  # noqa: S311  (jitter, not a secret)


_Item = TypeVar("_Item")


def read_ahead(items: Iterable[_Item], *, name: str = "fhir-read-ahead") -> Generator[_Item, None, None]:
    """``items``, each produced one step ahead in a thread of its own: the next page downloads while the
    caller stores this one, so the network and the database work at the same time.

    The thread only iterates ``items`` (HTTP, JSON): it must never touch the database, whose connection
    belongs to the caller's thread. An error in it is raised here, after the items produced before it, so a
    failure is met in the same order as without the thread. When the caller stops early (an error, a time
    limit), the thread stops at its next item.
    """
    handoff: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()
    finished = object()

    def put(entry: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((True, finished))
        except BaseException as error:  # handed to the caller, who raises it
            put((False, error))

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            ok, item = handoff.get()
            if not ok:
                raise item
            if item is finished:
                return
            yield item
    finally:
        stop.set()


def _codes(outcome: Mapping[str, Any]) -> str:
    return ",".join(f"{severity}:{code}" for severity, code in upstream.outcome_issues(outcome))


def model_problem(resource: dict[str, Any]) -> str | None:
    """None when fhirclient's R4 model accepts the resource; otherwise a short reason without content."""
    try:
        FHIRElementFactory.instantiate(resource["resourceType"], resource)
    except FHIRValidationError:
        return gettext_noop("an entry that is not valid FHIR R4")
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError):
        return gettext_noop("an entry that could not be read")
    return None


# ---------------------------------------------------------------------- OAuth 2 (SMART App Launch 2)


@dataclass(frozen=True)
class TokenResponse:
    access_token: str
    expires_in: int
    refresh_token: str = ""
    patient: str = ""
    scope: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def smart_endpoints(
    endpoint: FhirEndpoint,
    *,
    trusted_hosts: Collection[str],
    trusted_origins: Collection[str] = (),
    wanted: Collection[str] = ("token", "authorize"),
) -> dict[str, str]:
    """token/authorize URLs: /.well-known/smart-configuration first, then the CapabilityStatement.

    Only the `wanted` ones, and each only if credentials may go there (core.fhir.trust): an upstream naming
    another host, or plain http outside the local sandbox, fails here, before any secret is sent."""
    configuration = endpoint.smart_configuration() or {}
    found = {
        "token": configuration.get("token_endpoint"),
        "authorize": configuration.get("authorization_endpoint"),
    }
    if not found["token"]:
        uris = upstream.oauth_uris(endpoint.capability())
        found = {"token": uris.get("token"), "authorize": uris.get("authorize")}
    endpoints = {
        key: value for key, value in found.items() if key in wanted and isinstance(value, str) and value
    }
    for key, url in endpoints.items():
        endpoint_check(
            url,
            base_url=endpoint.base_url,
            trusted_hosts=trusted_hosts,
            trusted_origins=trusted_origins,
            what=key,
        )
    return endpoints


def authorization_issuer(endpoint: FhirEndpoint) -> tuple[str, bool]:
    """The authorization server's issuer as its SMART configuration names it, and whether it puts `iss` in
    every authorization response (RFC 9207); ("", False) when it does not say."""
    configuration = endpoint.smart_configuration() or {}
    issuer = configuration.get("issuer")
    if not isinstance(issuer, str) or not issuer or len(issuer) > 2048:
        return "", False
    return issuer, configuration.get("authorization_response_iss_parameter_supported") is True


def endpoint_check(
    url: str,
    *,
    base_url: str,
    trusted_hosts: Collection[str],
    trusted_origins: Collection[str] = (),
    what: str = "token",
) -> None:
    """Raise UpstreamError unless credentials may be sent to `url` for the data source at `base_url`."""
    reason = trust.endpoint_refusal(
        url, base_url=base_url, trusted_hosts=trusted_hosts, trusted_origins=trusted_origins
    )
    if reason is not None:
        # The reason, never the URL: it is the upstream's text and may be built to mislead a log reader.
        raise UpstreamError(UNTRUSTED_ENDPOINT, detail=f"{what} endpoint refused: {reason}")


def token_request(
    token_url: str,
    form: dict[str, str],
    *,
    timeouts: Timeouts,
    basic_auth: tuple[str, str] | None = None,
) -> TokenResponse:
    """POST to a token endpoint. The form and the answer hold secrets: neither is ever logged."""
    started = time.monotonic()
    try:
        response = requests.post(
            token_url,
            data=form,
            auth=basic_auth,
            headers={"Accept": "application/json"},
            timeout=(timeouts.connect, timeouts.read),
            allow_redirects=False,
            stream=True,
        )
        read_bounded(response, max_bytes=TOKEN_MAX_BYTES, max_seconds=TOKEN_MAX_SECONDS, started=started)
    except ResponseTooLarge:
        raise UpstreamError(UNREADABLE, detail="token endpoint answer larger than the cap") from None
    except requests.Timeout:
        raise UpstreamError(TIMEOUT, transient=True, detail="token endpoint timeout") from None
    except requests.RequestException:
        raise UpstreamError(UNREACHABLE, transient=True, detail="token endpoint unreachable") from None
    if response.status_code in (400, 401, 403):
        raise UpstreamError(CREDENTIALS, detail=f"token endpoint {response.status_code}")
    if response.status_code >= 500 or response.status_code == 429:
        raise UpstreamError(UNAVAILABLE, transient=True, detail=f"token endpoint {response.status_code}")
    if response.status_code != 200:
        raise UpstreamError(REFUSED, detail=f"token endpoint {response.status_code}")
    try:
        body = upstream.parse_json(response.content)
    except ValueError:
        raise UpstreamError(UNREADABLE, detail="token endpoint sent malformed JSON") from None
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise UpstreamError(UNREADABLE, detail="token endpoint sent no access token")
    expires_in = body.get("expires_in")
    valid_lifetime = type(expires_in) is int and expires_in > 0
    return TokenResponse(
        access_token=token,
        expires_in=min(expires_in, TOKEN_MAX_LIFETIME) if valid_lifetime else 300,
        refresh_token=body.get("refresh_token") if isinstance(body.get("refresh_token"), str) else "",
        # The launch context's patient goes into request paths: a FHIR id or nothing.
        patient=body["patient"] if upstream.is_resource_id(body.get("patient")) else "",
        scope=body.get("scope") if isinstance(body.get("scope"), str) else "",
    )
