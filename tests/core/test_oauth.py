"""PKCE pairs and private_key_jwt client assertions."""

import base64
import hashlib

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from core.oauth import client_assertion, pkce_pair


def test_the_pkce_challenge_is_the_s256_of_a_long_verifier() -> None:
    verifier, challenge = pkce_pair()
    assert 43 <= len(verifier) <= 128
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == digest
    assert pkce_pair()[0] != verifier


def test_an_assertion_names_the_client_and_the_token_endpoint_and_is_short_lived() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    first = client_assertion(
        client_id="portal", token_url="https://idp.example/token", private_key_pem=pem, algorithm="ES256",
        key_id="k1", now=1_800_000_000,
    )  # fmt: skip
    claims = jwt.decode(
        first, key.public_key(), algorithms=["ES256"], audience="https://idp.example/token",
        options={"verify_exp": False, "verify_iat": False},
    )  # fmt: skip
    assert (claims["iss"], claims["sub"]) == ("portal", "portal")
    assert claims["exp"] - claims["iat"] == 300
    assert jwt.get_unverified_header(first)["kid"] == "k1"
    second = client_assertion(
        client_id="portal", token_url="https://idp.example/token", private_key_pem=pem, algorithm="ES256",
        key_id="k1", now=1_800_000_000,
    )  # fmt: skip
    assert jwt.decode(second, options={"verify_signature": False})["jti"] != claims["jti"]


@pytest.mark.parametrize("algorithm", ["none", "HS256"])
def test_an_algorithm_outside_the_list_is_refused(algorithm: str) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        client_assertion(
            client_id="p", token_url="https://t", private_key_pem="x", algorithm=algorithm, key_id=""
        )
