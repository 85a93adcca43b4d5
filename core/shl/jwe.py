"""SHL files: compact JWE with ``alg: dir``, ``enc: A256GCM`` and a ``cty``; never ``zip``.

jwcrypto does the JOSE work; a fresh random IV comes with every call to ``encrypt``.
"""

from __future__ import annotations

import json

from jwcrypto import jwe, jwk

from core.shl.payload import b64url_decode

FHIR_JSON = "application/fhir+json"


def symmetric_key(key_b64url: str) -> jwk.JWK:
    raw = b64url_decode(key_b64url)
    if len(raw) != 32:
        raise ValueError("an SHL key is 32 bytes")
    return jwk.JWK.from_json(json.dumps({"kty": "oct", "k": key_b64url}))


def encrypt(plaintext: bytes, *, key: str, content_type: str = FHIR_JSON) -> str:
    # No "zip": other viewers cannot always inflate it, and compressing before encrypting can leak length.
    token = jwe.JWE(
        plaintext,
        protected=json.dumps({"alg": "dir", "enc": "A256GCM", "cty": content_type}, separators=(",", ":")),
    )
    token.add_recipient(symmetric_key(key))
    return str(token.serialize(compact=True))
