"""OAuth 2.0 client pieces the portal needs at both ends it signs in to (the national eID and SMART data
sources): PKCE pairs and private_key_jwt client assertions (RFC 7523), pure and without Django."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid

import jwt

# An assertion is good for a single token request: short-lived, with a fresh jti.
ASSERTION_LIFETIME_SECONDS = 300
# The algorithms the portal signs assertions with; anything else is a configuration error.
ASSERTION_ALGORITHMS = ("RS256", "RS384", "PS256", "ES256", "ES384")


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def client_assertion(
    *,
    client_id: str,
    token_url: str,
    private_key_pem: str,
    algorithm: str,
    key_id: str,
    now: float | None = None,
) -> str:
    """A private_key_jwt client assertion for ``token_url``: iss = sub = the client, fresh jti."""
    if algorithm not in ASSERTION_ALGORITHMS:
        raise ValueError(f"unsupported signing algorithm {algorithm}")
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME_SECONDS,
        "jti": uuid.uuid4().hex,
    }
    headers = {"kid": key_id} if key_id else None
    return jwt.encode(claims, private_key_pem, algorithm=algorithm, headers=headers)
