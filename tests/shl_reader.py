"""Reading SMART Health Links as a receiving application does: the tests' side of the portal's links.

The portal only writes links and files (core.shl); the clinician viewer reads them in the browser. The
tests read them in Python with this, as an independent second reader.
"""

from __future__ import annotations

import json
from typing import Any

from jwcrypto import jwe
from jwcrypto.common import JWException

from core.shl.jwe import symmetric_key
from core.shl.payload import SCHEME, Payload, PayloadError, b64url_decode, check

KNOWN_FLAGS = frozenset("LPU")


class DecryptError(ValueError):
    """The file is not a JWE this key opens."""


def decode_object(link: str) -> dict[str, Any]:
    """The payload object of ``shlink:/…``, bare or behind a viewer URL and ``#``."""
    _, marker, encoded = link.strip().partition(SCHEME)
    if not marker or not encoded:
        raise PayloadError("not a SMART Health Link")
    try:
        data = json.loads(b64url_decode(encoded).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PayloadError("the payload is not JSON") from error
    if not isinstance(data, dict):
        raise PayloadError("the payload is not a JSON object")
    return data


def decode(link: str) -> Payload:
    data = decode_object(link)
    url, key = data.get("url"), data.get("key")
    if not isinstance(url, str) or not isinstance(key, str):
        raise PayloadError("url and key are required strings")
    exp = data.get("exp")
    if exp is not None and (isinstance(exp, bool) or not isinstance(exp, int | float)):
        raise PayloadError("exp must be a number")
    flag, label, version = data.get("flag", ""), data.get("label", ""), data.get("v")
    if not isinstance(flag, str) or not isinstance(label, str):
        raise PayloadError("flag and label must be strings")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise PayloadError("v must be an integer")
    # Unknown flags are ignored, as the specification asks of receivers.
    known = "".join(char for char in flag if char in KNOWN_FLAGS)
    payload = Payload(
        url=url, key=key, exp=int(exp) if exp is not None else None, flag=known, label=label, v=version
    )
    check(payload)
    return payload


def decrypt(compact: str, *, key: str) -> tuple[bytes, dict[str, object]]:
    """Plaintext and protected header; accepts only dir + A256GCM (a file from another server may use zip)."""
    token = jwe.JWE()
    try:
        token.deserialize(compact)
        token.decrypt(symmetric_key(key))
    except (JWException, ValueError) as error:
        raise DecryptError("the file could not be decrypted with this key") from error
    header = json.loads(token.objects["protected"])
    if header.get("alg") != "dir" or header.get("enc") != "A256GCM":
        raise DecryptError("only alg dir with enc A256GCM is allowed")
    return bytes(token.payload), header
