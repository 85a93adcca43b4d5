"""Checking an eID ID token's signature against the issuer's published keys (JWKS), always.

allauth's generic provider skips the signature of an ID token fetched from the token endpoint; a portal that
binds national identifiers on the strength of a claim does not. The algorithms are a fixed list (the token's
header only picks among them), the key must fit the algorithm, and an unknown ``kid`` fetches the keys again
(the issuer rotated them), at most once per cooldown so forged kids cannot make the portal hammer the issuer.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import jwt
import requests
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from django.core.cache import cache

# Never "none", never HS* (a public key is no shared secret), never what a token asks for beyond these.
ACCEPTED_ALGORITHMS = ("RS256", "PS256", "ES256")
_KEY_TYPES = {"RS256": ("RSA", None), "PS256": ("RSA", None), "ES256": ("EC", "P-256")}
JWKS_CACHE_SECONDS = 60 * 60
JWKS_REFETCH_COOLDOWN_SECONDS = 30
JWKS_MAX_BYTES = 256 * 1024
LEEWAY_SECONDS = 60


class EidRejected(OAuth2Error):
    """An eID answer the portal does not believe; ``code`` is short and holds no token or claim value."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _cache_key(jwks_uri: str, kind: str) -> str:
    return f"eid-jwks-{kind}:{hashlib.sha256(jwks_uri.encode()).hexdigest()}"


def _fetch_jwks(jwks_uri: str) -> dict[str, Any]:
    try:
        with get_adapter().get_requests_session() as session:
            response = session.get(jwks_uri, headers={"Accept": "application/json"})
            response.raise_for_status()
            if len(response.content) > JWKS_MAX_BYTES:
                raise EidRejected("keys-too-large")
            keys = response.json()
    except (requests.RequestException, ValueError) as error:
        raise EidRejected("keys-unavailable") from error
    if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list):
        raise EidRejected("keys-malformed")
    cache.set(_cache_key(jwks_uri, "keys"), keys, JWKS_CACHE_SECONDS)
    return keys


def _matching_key(keys: dict[str, Any], kid: str | None, alg: str) -> Any:
    kty, crv = _KEY_TYPES[alg]
    candidates = []
    for jwk in keys.get("keys", []):
        if not isinstance(jwk, dict) or jwk.get("kty") != kty or (crv and jwk.get("crv") != crv):
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", alg) != alg:
            continue
        if kid is not None and jwk.get("kid") != kid:
            continue
        candidates.append(jwk)
    # Without a kid only an unambiguous key will do.
    if len(candidates) != 1:
        return None
    try:
        return jwt.PyJWK(candidates[0], algorithm=alg).key
    except jwt.PyJWTError:
        return None


def signing_key(jwks_uri: str, *, kid: str | None, alg: str) -> Any:
    """The issuer's public key for this kid and algorithm: from the cached keys, else fetched anew."""
    cached = cache.get(_cache_key(jwks_uri, "keys"))
    if isinstance(cached, dict):
        key = _matching_key(cached, kid, alg)
        if key is not None:
            return key
        if not cache.add(_cache_key(jwks_uri, "refetched"), True, JWKS_REFETCH_COOLDOWN_SECONDS):
            raise EidRejected("unknown-key")
    key = _matching_key(_fetch_jwks(jwks_uri), kid, alg)
    if key is None:
        raise EidRejected("unknown-key")
    return key


def verify_id_token(token: str, *, jwks_uri: str, issuer: str, client_id: str) -> dict[str, Any]:
    """The claims of ``token`` once its signature, issuer, audience and times hold; EidRejected otherwise."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise EidRejected("malformed") from error
    alg = header.get("alg")
    if alg not in ACCEPTED_ALGORITHMS:
        raise EidRejected("algorithm")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise EidRejected("malformed")
    key = signing_key(jwks_uri, kid=kid, alg=alg)
    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=[alg],
            audience=client_id,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "sub", "aud", "exp", "iat"], "verify_signature": True},
        )
    except jwt.ExpiredSignatureError as error:
        raise EidRejected("expired") from error
    except jwt.InvalidAudienceError as error:
        raise EidRejected("audience") from error
    except jwt.InvalidIssuerError as error:
        raise EidRejected("issuer") from error
    except jwt.InvalidSignatureError as error:
        raise EidRejected("signature") from error
    except jwt.PyJWTError as error:
        raise EidRejected("invalid") from error
    if not isinstance(claims, dict):
        raise EidRejected("malformed")
    # Round-trip through JSON: the claims go into the session, which stores JSON.
    return dict(json.loads(json.dumps(claims)))
