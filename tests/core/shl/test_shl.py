"""The pure SHL core: the payload against the specification's own example, flags, and JWE files.

Our JWE is opened here by an independent AES-GCM implementation (``cryptography``), and the specification's
published example JWE is opened by our code.
"""

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.shl import jwe
from core.shl.payload import (
    Payload,
    PayloadError,
    b64url_decode,
    b64url_encode,
    encode,
    encode_object,
    flags_of,
    new_key,
    new_manifest_id,
    viewer_link,
)
from tests import shl_reader
from tests.shl_reader import decode, decode_object

# The SMART Health Links specification's example (HL7 SMART Health Cards and Links IG, "Example SMART Health
# Link Generation"): the payload object, in its key order, and the link the specification prints for it.
SPEC_PAYLOAD = {
    "url": "https://ehr.example.org/qr/Y9xwkUdtmN9wwoJoN3ffJIhX2UGvCL1JnlPVNL3kDWM/m",
    "flag": "LP",
    "key": "rxTgYlOaKJPFtcEd0qcceN8wEU4p94SqAwIWQe6uX7Q",
    "label": "Back-to-school immunizations for Oliver Brown",
}
SPEC_LINK = (
    "shlink:/eyJ1cmwiOiJodHRwczovL2Voci5leGFtcGxlLm9yZy9xci9ZOXh3a1VkdG1OOXd3b0pvTjNmZkpJaFgyVUd2Q0wxSm5sUFZOT"
    "DNrRFdNL20iLCJmbGFnIjoiTFAiLCJrZXkiOiJyeFRnWWxPYUtKUEZ0Y0VkMHFjY2VOOHdFVTRwOTRTcUF3SVdRZTZ1WDdRIiwibGFiZW"
    "wiOiJCYWNrLXRvLXNjaG9vbCBpbW11bml6YXRpb25zIGZvciBPbGl2ZXIgQnJvd24ifQ"
)
# The specification's "Example Encryption": a SMART Health Card file encrypted with the key above.
SPEC_JWE = (
    "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIiwiY3R5IjoiYXBwbGljYXRpb24vc21hcnQtaGVhbHRoLWNhcmQifQ..B9Bd5AW751az-gEx."
    "iah6mxLb5TQe2ZfCwEUs4R1t8WoP0mnFc-TUzN1NIyzUeDwJNOcxv4CY8wV6ys4Dicnr3IhqTvVU1RbR-4eq1GCd4g96faV8_0MbHwXzP24"
    "6Tz9BDLhQ2zlAjYqvvCi_JuWdyWqGhKeWGX1XibNHFzzVT0FmYensfKF4o0uSeZWQDKVEEhzMSKuALMpUkfwHcmCRfLT-ctANSxq-Zj0IIe"
    "T66XbztOomStjlfi-F-FaqBGZfHOARCVvT143CTYELLJCUdD4qUVkrNuLmRZrNuqVpY0g5BjABswkIoDmyoRJAEohuZCamZNA--p-uRqJjRe"
    "fED1eMrKSppabV2ugaqoFlieujTOE-a3VKib9aC-lFsmLalkwh9ctr_FZqS9H46rqGjGcOxtAXalo1jkMPGupVsE1W-xIH14wbPCYcgfldH9"
    "SH7X60462kxD8OFdHpvnnfAvjQnaE4QDqasT5ySpBRtck4GVxs2IRBt62-kOlzoI8lHapLdwIms-Gdt7z38E47ZE3afE4IIbobPGz7wGvjbi"
    "3z234ARvGQ4jREgPQb1NRYAEtZlrZNzR6N7ofXD8jF502tw-QWI_Ox0jFP5tynIiMp-hG25ecQ0s4MzPHFC0ZABPamgg3MS-UILl76gMDCHS"
    "5Te_JAXZoC1HnkETw5M217SaG5ISAU0F5qETMREfTjZR9E45MDhnw7uY1vo2lffRB3ei1QqGuLh0gUnVU7TUfFYwcOqV15sb0t1lMj0mmyG5"
    "v-_dE9H6dYtRKJARltmdfSmc1HisBewx75Xh5ChJQ1hiCEDaZ1wqFjsFJ6SrKgJ7C1N7vx6QKx8YXwFH7ePG2qG39leT5JKZnqAvi9fqc6x-Y"
    "wfhSjbRKGZoj2o55Fd2fbwtK6CXpiW6AekT7PUcl_7ynTq-DaQ_Yc29WwtmgapcCRNpfcMsoqCD4giu1V3Sj5DQLglwuk1gAMcuV5fo8JpAB"
    "u2_is83WZ_GJ1WWMUxyZGq6u-EGuZrP96Yewb7-zfnt2lao_LJg1ef5cqDTW7-0MS27wkmLiIi0e-PYvS-UfWVHg1oNbR-MHXMVEQ6gqNg08"
    "IgEyPDSFCUbf75HuMILN80bQNtSlFj6FR7uNKHr8sigvKI80k.5flOKKmeqYm0TamwROr8Nw"
)


def independent_decrypt(compact: str, key: str) -> tuple[dict[str, Any], bytes]:
    """Compact JWE (dir, A256GCM) opened by hand: AAD is the protected header as sent (RFC 7516, 5.2)."""
    header_b64, encrypted_key, iv, ciphertext, tag = compact.split(".")
    assert encrypted_key == ""  # alg dir: no wrapped key
    header = json.loads(b64url_decode(header_b64))
    plaintext = AESGCM(b64url_decode(key)).decrypt(
        b64url_decode(iv), b64url_decode(ciphertext) + b64url_decode(tag), header_b64.encode("ascii")
    )
    return header, plaintext


def test_the_specification_example_link_re_encodes_exactly() -> None:
    assert encode_object(SPEC_PAYLOAD) == SPEC_LINK
    assert decode_object(SPEC_LINK) == SPEC_PAYLOAD
    assert encode_object(decode_object("https://viewer.example.org#" + SPEC_LINK)) == SPEC_LINK


def test_the_specification_example_decodes_to_a_payload() -> None:
    payload = decode(SPEC_LINK)
    assert payload.url == SPEC_PAYLOAD["url"]
    assert payload.flag == "LP"
    assert payload.label == SPEC_PAYLOAD["label"]
    assert len(payload.key_bytes) == 32


def test_our_payload_has_the_specified_fields_minified_and_unpadded() -> None:
    payload = Payload(
        url="https://portal.example.eu/shl/" + new_manifest_id(),
        key=new_key(),
        exp=1_900_000_000,
        flag=flags_of(passcode=True, direct=False),
        label="For Dr Hansen",
    )
    link = viewer_link("https://portal.example.eu/viewer/", payload)
    assert link.startswith("https://portal.example.eu/viewer/#shlink:/")
    encoded = link.split("#shlink:/", 1)[1]
    assert "=" not in encoded
    assert "+" not in encoded
    assert "/" not in encoded
    raw = b64url_decode(encoded).decode()
    assert " " not in raw.replace("For Dr Hansen", "")  # minified
    assert json.loads(raw) == {
        "url": payload.url,
        "key": payload.key,
        "exp": 1_900_000_000,
        "flag": "P",
        "label": "For Dr Hansen",
        "v": 1,
    }
    assert decode(link) == payload


def test_keys_and_manifest_ids_carry_256_random_bits() -> None:
    keys = {new_key() for _ in range(50)}
    ids = {new_manifest_id() for _ in range(50)}
    assert len(keys) == len(ids) == 50
    assert all(len(key) == 43 and len(b64url_decode(key)) == 32 for key in keys | ids)


@pytest.mark.parametrize(
    ("passcode", "direct", "long_term", "expected"),
    [
        (False, False, False, ""),
        (True, False, False, "P"),
        (False, True, False, "U"),
        (True, False, True, "LP"),
    ],
)
def test_flags_are_alphabetical(passcode: bool, direct: bool, long_term: bool, expected: str) -> None:
    assert flags_of(passcode=passcode, direct=direct, long_term=long_term) == expected


def test_u_never_goes_with_p() -> None:
    with pytest.raises(PayloadError):
        flags_of(passcode=True, direct=True)
    with pytest.raises(PayloadError):
        encode(Payload(url="https://a.example/shl/x", key=new_key(), flag="PU"))


@pytest.mark.parametrize(
    "broken",
    [
        {"url": "https://a.example/" + "x" * 120},  # url over 128 characters
        {"label": "x" * 81},
        {"key": "too-short"},
        {"flag": "PL"},  # not alphabetical
        {"url": "ftp://a.example/m"},
    ],
)
def test_payload_rules_are_enforced(broken: dict[str, str]) -> None:
    fields: dict[str, Any] = {"url": "https://a.example/shl/m", "key": new_key(), **broken}
    with pytest.raises(PayloadError):
        encode(Payload(**fields))


@pytest.mark.parametrize(
    "link",
    [
        "not a link",
        "shlink:/",
        "shlink:/%%%",
        "shlink:/" + b64url_encode(b"[1,2]"),
        "shlink:/" + b64url_encode(b"{"),
    ],
)
def test_garbage_is_not_a_payload(link: str) -> None:
    with pytest.raises(PayloadError):
        decode(link)


def test_unknown_flags_and_properties_are_ignored_on_decode() -> None:
    data = {"url": "https://a.example/shl/m", "key": new_key(), "flag": "LPX", "_ext": 1}
    assert decode(encode_object(data)).flag == "LP"


def test_our_jwe_opens_with_an_independent_aes_gcm() -> None:
    key = new_key()
    document = {"resourceType": "Bundle", "type": "document", "entry": []}
    plaintext = json.dumps(document).encode()
    compact = jwe.encrypt(plaintext, key=key)
    header, opened = independent_decrypt(compact, key)
    assert opened == plaintext
    assert header == {"alg": "dir", "enc": "A256GCM", "cty": "application/fhir+json"}
    assert "zip" not in header


def test_every_encryption_has_a_fresh_iv() -> None:
    key = new_key()
    ivs = {jwe.encrypt(b"same", key=key).split(".")[2] for _ in range(20)}
    assert len(ivs) == 20
    assert all(len(b64url_decode(iv)) == 12 for iv in ivs)


def test_the_specification_example_jwe_opens_with_our_code_and_the_independent_one() -> None:
    plaintext, header = shl_reader.decrypt(SPEC_JWE, key=SPEC_PAYLOAD["key"])
    assert header["cty"] == "application/smart-health-card"
    card = json.loads(plaintext)
    assert card["verifiableCredential"][0].startswith("eyJ6aXAiOiJERUYiLCJhbGciOiJFUzI1NiIsImtpZCI6")
    assert independent_decrypt(SPEC_JWE, SPEC_PAYLOAD["key"])[1] == plaintext


def test_a_wrong_key_or_a_changed_byte_does_not_decrypt() -> None:
    key = new_key()
    compact = jwe.encrypt(b'{"a":1}', key=key)
    with pytest.raises(shl_reader.DecryptError):
        shl_reader.decrypt(compact, key=new_key())
    head, empty, iv, ciphertext, tag = compact.split(".")
    flipped = b64url_encode(bytes([b64url_decode(ciphertext)[0] ^ 1]) + b64url_decode(ciphertext)[1:])
    with pytest.raises(shl_reader.DecryptError):
        shl_reader.decrypt(".".join([head, empty, iv, flipped, tag]), key=key)
