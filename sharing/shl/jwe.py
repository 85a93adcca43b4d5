"""SHL files: compact JWE with ``alg: dir``, ``enc: A256GCM`` and a ``cty``; never ``zip``.

jwcrypto does the JOSE work; a fresh random IV comes with every call to ``encrypt``.
"""

from __future__ import annotations

import json

from jwcrypto import jwe, jwk
from jwcrypto.common import JWException

from sharing.shl.payload import b64url_decode

FHIR_JSON = "application/fhir+json"


class DecryptError(ValueError):
    """The file is not a JWE this key opens."""


def _key(key_b64url: str) -> jwk.JWK:
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
    token.add_recipient(_key(key))
    return str(token.serialize(compact=True))


def decrypt(compact: str, *, key: str) -> tuple[bytes, dict[str, object]]:
    """Plaintext and protected header; accepts only dir + A256GCM (a file from another server may use zip)."""
    token = jwe.JWE()
    try:
        token.deserialize(compact)
        token.decrypt(_key(key))
    except (JWException, ValueError) as error:
        raise DecryptError("the file could not be decrypted with this key") from error
    header = json.loads(token.objects["protected"])
    if header.get("alg") != "dir" or header.get("enc") != "A256GCM":
        raise DecryptError("only alg dir with enc A256GCM is allowed")
    return bytes(token.payload), header
