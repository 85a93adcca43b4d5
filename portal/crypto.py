"""Secrets at rest: upstream client secrets, private keys and tokens are stored only as Fernet tokens."""

import base64
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class DecryptionError(Exception):
    """A stored secret cannot be read with any configured key (keys rotated away, or value altered)."""


def _derived_key() -> bytes:
    # A fallback for laptops and the demo: production sets FIELD_ENCRYPTION_KEYS.
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"portal field encryption")
    return base64.urlsafe_b64encode(hkdf.derive(settings.SECRET_KEY.encode()))


@cache
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    del secret_key  # part of the cache key only: a changed SECRET_KEY derives a new fallback key
    if keys:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    return MultiFernet([Fernet(_derived_key())])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    """Empty stays empty, so "not set" needs no special column."""
    if not plaintext:
        return ""
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str, *, max_age_seconds: int | None = None) -> str:
    """With ``max_age_seconds``, a token older than that fails like an altered one."""
    if not token:
        return ""
    try:
        return _current().decrypt(token.encode(), ttl=max_age_seconds).decode()
    except InvalidToken:
        raise DecryptionError("a stored secret could not be decrypted") from None


def generate_key() -> str:
    return Fernet.generate_key().decode()
