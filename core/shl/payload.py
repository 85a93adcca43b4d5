"""The SHL payload: ``shlink:/`` + base64url (no padding) of the minified JSON object.

Key order is kept as given, so a payload decoded from another server re-encodes to the very same string.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass
from typing import Any

SCHEME = "shlink:/"
MAX_URL_LENGTH = 128
MAX_LABEL_LENGTH = 80
KEY_BYTES = 32


class PayloadError(ValueError):
    """Not a SMART Health Link, or one that breaks the specification's rules."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if any(char in text for char in "+/="):
        raise PayloadError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise PayloadError("not base64url") from error


def new_key() -> str:
    """32 random bytes, base64url: always 43 characters."""
    return b64url_encode(secrets.token_bytes(KEY_BYTES))


def new_manifest_id() -> str:
    """256 bits of randomness for the manifest URL's last path segment (43 characters)."""
    return b64url_encode(secrets.token_bytes(32))


def flags_of(*, passcode: bool, direct: bool, long_term: bool = False) -> str:
    """Flags in alphabetical order; ``U`` (one file by GET) never goes with ``P``."""
    if passcode and direct:
        raise PayloadError("the U flag cannot be combined with P")
    return "".join(flag for flag, on in (("L", long_term), ("P", passcode), ("U", direct)) if on)


@dataclass(frozen=True)
class Payload:
    url: str
    key: str
    exp: int | None = None
    flag: str = ""
    label: str = ""
    v: int | None = 1

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"url": self.url, "key": self.key}
        if self.exp is not None:
            data["exp"] = self.exp
        if self.flag:
            data["flag"] = self.flag
        if self.label:
            data["label"] = self.label
        if self.v is not None:
            data["v"] = self.v
        return data

    @property
    def key_bytes(self) -> bytes:
        return b64url_decode(self.key)


def check(payload: Payload) -> None:
    if not payload.url.startswith(("https://", "http://")):
        raise PayloadError("url must be an http(s) URL")
    if len(payload.url) > MAX_URL_LENGTH:
        raise PayloadError(f"url is longer than {MAX_URL_LENGTH} characters")
    if len(payload.key) != 43 or len(payload.key_bytes) != KEY_BYTES:
        raise PayloadError("key must be 32 bytes, base64url (43 characters)")
    if len(payload.label) > MAX_LABEL_LENGTH:
        raise PayloadError(f"label is longer than {MAX_LABEL_LENGTH} characters")
    if list(payload.flag) != sorted(set(payload.flag)):
        raise PayloadError("flags must be single letters in alphabetical order")
    if "P" in payload.flag and "U" in payload.flag:
        raise PayloadError("the U flag cannot be combined with P")


def encode_object(data: dict[str, Any]) -> str:
    """Any payload object, in its own key order: minified JSON, base64url, ``shlink:/``."""
    minified = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return SCHEME + b64url_encode(minified.encode("utf-8"))


def encode(payload: Payload) -> str:
    check(payload)
    return encode_object(payload.as_dict())


def viewer_link(viewer_url: str, payload: Payload) -> str:
    """The link to hand out: the payload rides in the fragment, which browsers never send to a server."""
    return f"{viewer_url.split('#', 1)[0]}#{encode(payload)}"
