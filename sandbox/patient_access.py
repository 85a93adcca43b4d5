"""SMART App Launch for the FHIR sandbox: every FHIR request needs an access token of the sandbox's
authorization server (sandbox/eid/authorization-server.mjs), and the token opens one patient's record only.

An ASGI layer in front of the sekmet server (`launch.py --authorization-server ISSUER`):

- `/.well-known/smart-configuration` (under the FHIR base and the root) names the authorization server's
  endpoints and what it can do; it and `GET <base>/metadata` are the only requests answered without a token;
- every other request needs `Authorization: Bearer <JWT>`, an RFC 9068 access token: RS256, signed by a key of
  the server's JWKS (fetched again when a token names a key not seen yet), `iss` the issuer, `aud` the FHIR
  base, not expired, with the patient's id in `patient` and a `patient/` scope that allows the read or search;
- and only reads and searches of that patient's data: `Patient/<id>` and `Patient?_id=<id>`, searches of any
  other type with `patient=<id>` (or `subject=Patient/<id>`), and reads and searches of types outside the
  patient compartment (medications, organisations, practitioners, devices, locations...).

Anything else is answered 401 with a `WWW-Authenticate: Bearer` challenge and an OperationOutcome, before the
FHIR server sees it. PyJWT (with cryptography) comes with sekmet-fhir in the sandbox's venv.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import jwt

logger = logging.getLogger("sandbox.patient_access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

# What the authorization server signs with: nothing else is believed, `none` least of all.
ALGORITHMS = ["RS256"]
ACCESS_TOKEN_TYPES = {"at+jwt", "application/at+jwt"}  # RFC 9068: an ID token is no access token
SCOPES_SUPPORTED = [
    "openid", "fhirUser", "launch/patient", "patient/*.rs", "patient/*.read", "offline_access",
]  # fmt: skip
WELL_KNOWN_PATHS = {"/fhir/.well-known/smart-configuration", "/.well-known/smart-configuration"}
OPEN_PATHS = {"/fhir/metadata"}
READS = {"GET", "HEAD"}
# Outside the patient compartment: shared by every patient's record, read by id when a record refers to them.
NON_COMPARTMENT_TYPES = frozenset(
    {
        "Device", "Endpoint", "HealthcareService", "Location", "Medication", "Organization", "Practitioner",
        "PractitionerRole", "Substance",
    }
)  # fmt: skip
# Search controls that only shape an answer. _include, _revinclude, _has and the like could reach other
# patients' resources, so they are refused.
CONTROLS = frozenset(
    {"_id", "_count", "_offset", "_sort", "_summary", "_elements", "_format", "_pretty", "_total"}
)
COMPARTMENT_PARAMS = ("patient", "subject")
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
JWKS_REFETCH_SECONDS = 1.0  # at most one fetch a second, however many unknown keys are named
LEEWAY_SECONDS = 5


class Refusal(Exception):
    """Why a request is refused. `error` is the RFC 6750 code for the challenge, or "" for no token at all."""

    def __init__(self, error: str, reason: str) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason


def fetch_json(url: str, *, timeout: float = 5.0) -> Any:
    """GET a JSON document from the authorization server (on this machine: never through a proxy)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as response:
        return json.loads(response.read(1024 * 1024))


def discover(issuer: str, *, wait_seconds: float = 30.0) -> dict[str, Any]:
    """The authorization server's OpenID configuration, waiting a little for it to start listening."""
    deadline = time.monotonic() + wait_seconds
    url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
    while True:
        try:
            document = fetch_json(url)
            break
        except OSError as error:
            if time.monotonic() > deadline:
                message = f"sandbox: the authorization server at {issuer} does not answer ({error})"
                raise SystemExit(message) from None
            time.sleep(0.3)
    if not isinstance(document, dict) or document.get("issuer") != issuer.rstrip("/"):
        raise SystemExit(f"sandbox: {url} does not describe the issuer {issuer}")
    return document


def smart_configuration(discovery: dict[str, Any]) -> dict[str, Any]:
    """The FHIR server's /.well-known/smart-configuration naming its authorization server (SMART 2)."""
    document = {
        "issuer": discovery["issuer"],
        "jwks_uri": discovery["jwks_uri"],
        "authorization_endpoint": discovery["authorization_endpoint"],
        "token_endpoint": discovery["token_endpoint"],
        "revocation_endpoint": discovery.get("revocation_endpoint"),
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "response_types_supported": ["code"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "scopes_supported": SCOPES_SUPPORTED,
        "code_challenge_methods_supported": ["S256"],
        # RFC 9207: the server names itself in every authorization response, as oidc-provider does.
        "authorization_response_iss_parameter_supported": discovery.get(
            "authorization_response_iss_parameter_supported"
        ),
        "capabilities": [
            "launch-standalone", "client-confidential-symmetric", "context-standalone-patient",
            "permission-offline", "permission-patient", "permission-v1", "permission-v2",
            "sso-openid-connect",
        ],
    }  # fmt: skip
    return {key: value for key, value in document.items() if value is not None}


class TokenVerifier:
    """Checks access tokens against the authorization server's published keys."""

    def __init__(self, *, issuer: str, audience: str, jwks_uri: str) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience.rstrip("/")
        self.jwks_uri = jwks_uri
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def load_keys(self, wanted: str | None = None) -> None:
        """Fetch the JWKS (again) for the key `wanted`, at most once a second: a request naming a key not
        seen yet waits for its turn rather than being refused because another request just asked."""
        with self._lock:
            if wanted is not None and wanted in self._keys:
                return  # fetched meanwhile, for another request
            time.sleep(max(0.0, self._fetched_at + JWKS_REFETCH_SECONDS - time.monotonic()))
            self._fetched_at = time.monotonic()
            try:
                document = fetch_json(self.jwks_uri)
            except (OSError, ValueError) as error:
                logger.warning("sandbox: the authorization server's JWKS could not be fetched (%s)", error)
                return
            keys = {}
            for jwk in document.get("keys", []) if isinstance(document, dict) else []:
                if jwk.get("kty") == "RSA" and jwk.get("use", "sig") == "sig" and jwk.get("kid"):
                    keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm="RS256").key
            self._keys = keys

    def claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Refusal("invalid_token", "the access token is not a JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise Refusal("invalid_token", "the access token is not signed with RS256")
        if str(header.get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
            raise Refusal("invalid_token", "the token is not an access token (typ at+jwt)")
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None and isinstance(kid, str):
            self.load_keys(kid)  # a rotated key: the server publishes it before signing with it
            key = self._keys.get(kid)
        if key is None:
            raise Refusal("invalid_token", "the access token is signed with a key that is not published")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "aud", "exp", "iat", "sub", "scope", "patient"]},
            )
        except jwt.ExpiredSignatureError:
            raise Refusal("invalid_token", "the access token has expired") from None
        except jwt.PyJWTError as error:
            reason = f"the access token is not valid here ({type(error).__name__})"
            raise Refusal("invalid_token", reason) from None
        if not isinstance(claims["patient"], str) or not _FHIR_ID.fullmatch(claims["patient"]):
            raise Refusal("invalid_token", "the access token names no patient")
        if not isinstance(claims["scope"], str):
            raise Refusal("invalid_token", "the access token has no scope")
        return claims


def scope_permits(scopes: list[str], resource_type: str, interaction: str) -> bool:
    """SMART v1 (patient/*.read) and v2 (patient/Observation.rs) patient scopes; interaction is r or s."""
    for scope in scopes:
        context, _, rest = scope.partition("/")
        resource, _, permissions = rest.partition(".")
        permissions = permissions.split("?", 1)[0]  # v2 granular scopes narrow further; not used here
        granted = {"read": "rs", "*": "cruds", "write": "cud"}.get(permissions, permissions)
        if context == "patient" and resource in ("*", resource_type) and interaction in granted:
            return True
    return False


def _base_name(parameter: str) -> str:
    return parameter.split(":", 1)[0].split(".", 1)[0]


def request_refusal(
    *,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    claims: dict[str, Any],
    base_url: str,
    has_search_param: Callable[[str, str], bool],
) -> str | None:
    """None when the token's patient may make this request; otherwise why not."""
    if method not in READS:
        return "only reads and searches are allowed"
    if not path.startswith("/fhir/"):
        return "only the FHIR API is open to access tokens"
    segments = [segment for segment in path.removeprefix("/fhir").split("/") if segment]
    if not segments or len(segments) > 2 or any(segment.startswith(("$", "_")) for segment in segments):
        return "operations, history and system-wide requests are not open"
    for name, _value in query:
        if _base_name(name).startswith("_") and name not in CONTROLS:
            return "a search control that is not open (_include, _revinclude, _has...)"
    patient: str = claims["patient"]
    resource_type = segments[0]
    if len(segments) == 2:
        interaction = "r"
        if resource_type == "Patient":
            if segments[1] != patient:
                return "another patient's record"
        elif resource_type not in NON_COMPARTMENT_TYPES:
            return "read a patient's data by search with patient="
    else:
        interaction = "s"
        if resource_type == "Patient":
            ids = [value for name, value in query if name == "_id"]
            if not ids or any(value != patient for value in ids):
                return "another patient's record"
        elif resource_type not in NON_COMPARTMENT_TYPES:
            refusal = _compartment_refusal(resource_type, query, patient, base_url, has_search_param)
            if refusal:
                return refusal
    if not scope_permits(str(claims["scope"]).split(), resource_type, interaction):
        return "the token's scopes do not allow this"
    return None


def _compartment_refusal(
    resource_type: str,
    query: list[tuple[str, str]],
    patient: str,
    base_url: str,
    has_search_param: Callable[[str, str], bool],
) -> str | None:
    typed = {f"Patient/{patient}", f"{base_url.rstrip('/')}/Patient/{patient}"}
    allowed = {"patient": typed | {patient}, "subject": typed}
    restricting = []
    for name, value in query:
        if _base_name(name) in COMPARTMENT_PARAMS:
            # A modifier or a chain (patient:missing, subject.name) would loosen or dodge the restriction.
            if name not in COMPARTMENT_PARAMS or value not in allowed[name]:
                return "another patient's data"
            if not has_search_param(resource_type, name):
                return "this type cannot be searched by patient"
            restricting.append(name)
    return None if restricting else "a search of patient data needs patient= with the token's patient"


# ---------------------------------------------------------------------- the ASGI layer


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class PatientAccessGuard:
    """Answers the discovery document, refuses what the token does not open, passes the rest on."""

    def __init__(
        self,
        app: App,
        *,
        verifier: TokenVerifier,
        configuration: dict[str, Any],
        base_url: str,
        has_search_param: Callable[[str, str], bool],
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.configuration = json.dumps(configuration).encode()
        self.base_url = base_url.rstrip("/")
        self.has_search_param = has_search_param

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if method in READS and path in WELL_KNOWN_PATHS:
            await _send(send, 200, self.configuration, [(b"content-type", b"application/json")])
            return
        if method in READS and path in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        authorization = next(
            (value.decode("latin-1") for name, value in headers if name.lower() == b"authorization"), ""
        )
        # Parsed the way Starlette parses it for the FHIR server, so both read the same parameters.
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        try:
            await asyncio.to_thread(self._check, method, path, query, authorization)
        except Refusal as refusal:
            await self._refuse(send, refusal)
            return
        await self.app(scope, receive, send)

    def _check(self, method: str, path: str, query: list[tuple[str, str]], authorization: str) -> None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refusal("", "an access token is required")
        claims = self.verifier.claims(token.strip())
        reason = request_refusal(
            method=method,
            path=path,
            query=query,
            claims=claims,
            base_url=self.base_url,
            has_search_param=self.has_search_param,
        )
        if reason is not None:
            raise Refusal("insufficient_scope", reason)

    async def _refuse(self, send: Send, refusal: Refusal) -> None:
        # The reasons are fixed texts: nothing from the request reaches a header.
        challenge = f'Bearer realm="{self.base_url}"'
        if refusal.error:
            challenge += f', error="{refusal.error}", error_description="{refusal.reason}"'
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": "forbidden" if refusal.error == "insufficient_scope" else "login",
                    "diagnostics": refusal.reason,
                }
            ],
        }
        await _send(
            send,
            401,
            json.dumps(outcome).encode(),
            [(b"content-type", b"application/fhir+json"), (b"www-authenticate", challenge.encode("latin-1"))],
        )
