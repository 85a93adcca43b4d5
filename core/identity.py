"""The rules an eID ID token's claims must meet before the portal believes who a person is.

Pure: the signature is checked elsewhere (against the issuer's keys); this module takes the claims of a token
whose signature held and says whether they are for us, fresh, from this login, at the assurance we accept, and
which national identifier they carry. Every refusal is an ``IdentityRejected`` with a short code, never the
claim's value (codes go to logs and the audit trail; values may be a national identifier).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# A national identifier is a short code (CPR: 10 digits, NHI: 7 characters): anything else is refused.
IDENTIFIER_MAX_LENGTH = 64
# ID tokens are short-lived: one issued further back than this is refused even if it has not expired.
MAX_TOKEN_AGE_SECONDS = 10 * 60


class IdentityRejected(Exception):
    """The claims do not establish an identity; ``code`` says which rule failed (no claim values)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class VerifiedIdentity:
    """Who the eID says signed in: issuer + subject, the national identifier, and the assurance (acr)."""

    issuer: str
    subject: str
    system: str
    value: str
    acr: str

    def as_dict(self) -> dict[str, str]:
        return {
            "issuer": self.issuer,
            "subject": self.subject,
            "system": self.system,
            "value": self.value,
            "acr": self.acr,
        }

    @classmethod
    def from_dict(cls, data: object) -> VerifiedIdentity | None:
        if not isinstance(data, Mapping):
            return None
        fields = [data.get(name) for name in ("issuer", "subject", "system", "value", "acr")]
        if not all(isinstance(field, str) and field for field in fields):
            return None
        issuer, subject, system, value, acr = (str(field) for field in fields)
        return cls(issuer=issuer, subject=subject, system=system, value=value, acr=acr)


def acr_rank(acr: str, accepted: Sequence[str]) -> int | None:
    """The position of ``acr`` in the accepted list (lowest assurance first); None if it is not accepted."""
    try:
        return list(accepted).index(acr)
    except ValueError:
        return None


def acr_meets(acr: str, *, accepted: Sequence[str], minimum: str) -> bool:
    """Whether ``acr`` is one of the accepted values and at least ``minimum`` in their order."""
    rank, floor = acr_rank(acr, accepted), acr_rank(minimum, accepted)
    return rank is not None and floor is not None and rank >= floor


def acr_request_values(*, accepted: Sequence[str], minimum: str) -> list[str]:
    """The acr values to ask the eID for: the accepted ones from the minimum up, the minimum first."""
    floor = acr_rank(minimum, accepted)
    return [] if floor is None else list(accepted)[floor:]


def identifier_from_claims(claims: Mapping[str, Any], claim: str) -> str:
    """The national identifier in ``claim``: a short string of printable characters without spaces."""
    value = claims.get(claim)
    if not isinstance(value, str) or not value:
        raise IdentityRejected("identifier-missing")
    if len(value) > IDENTIFIER_MAX_LENGTH or not all(
        char.isprintable() and not char.isspace() for char in value
    ):
        raise IdentityRejected("identifier-malformed")
    return value


def _audiences(claims: Mapping[str, Any]) -> list[str]:
    audience = claims.get("aud")
    if isinstance(audience, str):
        return [audience]
    if isinstance(audience, list) and all(isinstance(item, str) for item in audience):
        return list(audience)
    raise IdentityRejected("audience")


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IdentityRejected(name)
    return float(value)


def check_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    now: float,
    leeway: float = 60.0,
) -> None:
    """OpenID Connect Core 3.1.3.7 for a token whose signature was verified: iss, aud, azp, exp, iat, nonce.

    ``nonce`` is the one this login sent; a token without it, or with another, belongs to another login.
    """
    if claims.get("iss") != issuer:
        raise IdentityRejected("issuer")
    audiences = _audiences(claims)
    if client_id not in audiences:
        raise IdentityRejected("audience")
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise IdentityRejected("authorized-party")
    if _number(claims, "exp") + leeway <= now:
        raise IdentityRejected("expired")
    issued_at = _number(claims, "iat")
    if issued_at - leeway > now or now - issued_at > MAX_TOKEN_AGE_SECONDS + leeway:
        raise IdentityRejected("issued-at")
    if "nbf" in claims and _number(claims, "nbf") - leeway > now:
        raise IdentityRejected("not-yet-valid")
    sent = claims.get("nonce")
    if not nonce or not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
        raise IdentityRejected("nonce")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise IdentityRejected("subject")


def identity_from_claims(
    claims: Mapping[str, Any],
    *,
    identifier_claim: str,
    identifier_system: str,
    accepted_acr: Sequence[str],
) -> VerifiedIdentity:
    """The identity in claims that passed ``check_claims``: refused unless its assurance is one the portal
    accepts for signing in. How far a lower accepted level may go (finding records by the identifier needs
    more) is decided where the identity is used, with ``acr_meets``."""
    acr = claims.get("acr")
    if not isinstance(acr, str) or acr_rank(acr, accepted_acr) is None:
        raise IdentityRejected("assurance")
    return VerifiedIdentity(
        issuer=str(claims["iss"]),
        subject=str(claims["sub"]),
        system=identifier_system,
        value=identifier_from_claims(claims, identifier_claim),
        acr=acr,
    )
