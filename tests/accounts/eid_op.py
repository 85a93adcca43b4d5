"""A tiny OpenID provider the tests control (a real HTTP server on 127.0.0.1): discovery, JWKS and a token
endpoint that answers with whatever ID token the test prepared. Fault injection only: the happy path against
the real eID sandbox (panva's oidc-provider) is tested elsewhere."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.test import Client

CLIENT_ID = "yellow-button-portal"
CLIENT_SECRET = "test-eid-secret"
SYSTEM = "https://standards.digital.health.nz/ns/nhi-id"
IDENTIFIER = "ZZZ9876"
LOW = "http://eidas.europa.eu/LoA/low"
SUBSTANTIAL = "http://eidas.europa.eu/LoA/substantial"
HIGH = "http://eidas.europa.eu/LoA/high"
LOGIN_URL = "/accounts/oidc/eid/login/"
CALLBACK_URL = "/accounts/oidc/eid/login/callback/"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any

    @property
    def public_jwk(self) -> dict[str, Any]:
        algorithm = jwt.algorithms.get_default_algorithms()[self.alg]
        jwk = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def public_pem(self) -> bytes:
        return bytes(
            self.private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


def rsa_key(kid: str, alg: str = "RS256") -> SigningKey:
    return SigningKey(
        kid=kid, alg=alg, private=rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )


def ec_key(kid: str) -> SigningKey:
    return SigningKey(kid=kid, alg="ES256", private=ec.generate_private_key(ec.SECP256R1()))


@dataclass
class FakeOP:
    issuer: str = ""
    keys: list[SigningKey] = field(default_factory=list)
    id_token: str = ""
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)
    jwks_fetches: int = 0
    # Whether discovery says every authorization response names the issuer (RFC 9207).
    names_itself_in_responses: bool = False

    def claims(self, sent_nonce: str, **overrides: Any) -> dict[str, Any]:
        """Good claims for the login that sent ``sent_nonce``; an override of None drops the claim."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "eid-subject-1",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": sent_nonce,
            "acr": SUBSTANTIAL,
            "national_identifier": IDENTIFIER,
            "given_name": "Ida",
            "family_name": "Holm",
        }
        claims.update(overrides)
        return {key: value for key, value in claims.items() if value is not None}

    def sign(self, claims: dict[str, Any], key: SigningKey | None = None) -> str:
        key = key or self.keys[0]
        return jwt.encode(claims, key.private, algorithm=key.alg, headers={"kid": key.kid})


def unsigned_token(claims: dict[str, Any], kid: str) -> str:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}."


def hs256_token(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = f"{header}.{b64url(json.dumps(claims).encode())}"
    signature = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    return f"{body}.{b64url(signature)}"


def _handler(op: FakeOP) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _json(self, body: object, status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/.well-known/openid-configuration":
                self._json(
                    {
                        "issuer": op.issuer,
                        "authorization_endpoint": f"{op.issuer}/auth",
                        "token_endpoint": f"{op.issuer}/token",
                        "jwks_uri": f"{op.issuer}/jwks",
                        "userinfo_endpoint": f"{op.issuer}/me",
                        "end_session_endpoint": f"{op.issuer}/session/end",
                        "authorization_response_iss_parameter_supported": op.names_itself_in_responses,
                        "token_endpoint_auth_methods_supported": ["client_secret_post"],
                        "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
                    }
                )
            elif path == "/jwks":
                op.jwks_fetches += 1
                self._json({"keys": [key.public_jwk for key in op.keys]})
            else:
                self._json({"error": "not_found"}, 404)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            if urlsplit(self.path).path != "/token":
                self._json({"error": "not_found"}, 404)
                return
            op.token_requests.append(form)
            self._json(
                {"access_token": "fake-access-token-4711", "token_type": "Bearer", "id_token": op.id_token}
            )

    return Handler


@pytest.fixture
def fake_op(settings: Any) -> Iterator[FakeOP]:
    op = FakeOP(keys=[rsa_key("key-1")])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(op))
    op.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            **settings.SOCIALACCOUNT_PROVIDERS["openid_connect"],
            "APPS": [
                {
                    "provider_id": "eid",
                    "name": "National eID",
                    "client_id": CLIENT_ID,
                    "secret": CLIENT_SECRET,
                    "settings": {
                        "server_url": op.issuer,
                        "fetch_userinfo": False,
                        "oauth_pkce_enabled": True,
                        "scope": ["openid", "profile", "national_id"],
                        "identifier_claim": "national_identifier",
                        "identifier_system": SYSTEM,
                        # An operator who refuses low sign-ins lists only these.
                        "acr_values": [SUBSTANTIAL, HIGH],
                        "min_acr": SUBSTANTIAL,
                    },
                }
            ],
        }
    }
    try:
        yield op
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def start_login(client: Client, process: str = "login", **extra: str) -> dict[str, str]:
    """Press the eID button; the authorization request's parameters (state, nonce, PKCE, …)."""
    response = client.post(LOGIN_URL, {"process": process, **extra})
    assert response.status_code == 302, response.content[:500]
    location = urlsplit(response["Location"])
    return {key: values[0] for key, values in parse_qs(location.query).items()}


def callback(client: Client, op: FakeOP, params: dict[str, str], id_token: str) -> Any:
    """The eID sends the browser back with a code; the token endpoint will answer with ``id_token``."""
    op.id_token = id_token
    return client.get(CALLBACK_URL, {"code": "code-from-the-eid", "state": params["state"]})
