"""The pure ID-token claim rules: assurance order, identifier extraction, iss/aud/azp/exp/iat/nonce."""

from typing import Any

import pytest

from core.identity import (
    IdentityRejected,
    VerifiedIdentity,
    acr_meets,
    acr_request_values,
    check_claims,
    identifier_from_claims,
    identity_from_claims,
)

LOW, SUBSTANTIAL, HIGH = (f"http://eidas.europa.eu/LoA/{level}" for level in ("low", "substantial", "high"))
ACCEPTED = [LOW, SUBSTANTIAL, HIGH]
NOW = 1_800_000_000.0


def claims(**changes: Any) -> dict[str, Any]:
    base = {
        "iss": "https://eid.example",
        "aud": "portal",
        "sub": "s1",
        "iat": NOW,
        "exp": NOW + 300,
        "nonce": "n",
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def check(token_claims: dict[str, Any], nonce: str = "n") -> None:
    check_claims(token_claims, issuer="https://eid.example", client_id="portal", nonce=nonce, now=NOW)


def test_assurance_follows_the_accepted_order() -> None:
    assert acr_meets(HIGH, accepted=ACCEPTED, minimum=SUBSTANTIAL)
    assert acr_meets(SUBSTANTIAL, accepted=ACCEPTED, minimum=SUBSTANTIAL)
    assert not acr_meets(LOW, accepted=ACCEPTED, minimum=SUBSTANTIAL)
    assert not acr_meets("urn:other", accepted=ACCEPTED, minimum=LOW)
    assert not acr_meets(HIGH, accepted=ACCEPTED, minimum="urn:not-in-the-list")
    assert acr_request_values(accepted=ACCEPTED, minimum=SUBSTANTIAL) == [SUBSTANTIAL, HIGH]


@pytest.mark.parametrize("value", ["", None, 1234, "a b", "x" * 65, "ab\u202ecd", "ab\ncd"])
def test_only_a_short_printable_identifier_is_taken(value: Any) -> None:
    with pytest.raises(IdentityRejected):
        identifier_from_claims({"nid": value}, "nid")


def test_good_claims_pass_and_give_the_identity() -> None:
    good = claims(acr=SUBSTANTIAL, nid="ABC1234")
    check(good)
    identity = identity_from_claims(
        good,
        identifier_claim="nid",
        identifier_system="urn:sys",
        accepted_acr=ACCEPTED,
    )
    assert identity == VerifiedIdentity("https://eid.example", "s1", "urn:sys", "ABC1234", SUBSTANTIAL)
    assert VerifiedIdentity.from_dict(identity.as_dict()) == identity
    assert VerifiedIdentity.from_dict({**identity.as_dict(), "value": ""}) is None


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"iss": "https://evil.example"}, "issuer"),
        ({"aud": "other"}, "audience"),
        ({"aud": ["portal", "other"]}, "authorized-party"),
        ({"aud": ["portal", "other"], "azp": "other"}, "authorized-party"),
        ({"azp": "other"}, "authorized-party"),
        ({"exp": NOW - 120}, "expired"),
        ({"exp": None}, "exp"),
        ({"iat": NOW + 3600}, "issued-at"),
        ({"iat": NOW - 3600}, "issued-at"),
        ({"nbf": NOW + 3600}, "not-yet-valid"),
        ({"nonce": "other"}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"sub": ""}, "subject"),
    ],
)
def test_each_rule_refuses_with_its_code(changes: dict[str, Any], code: str) -> None:
    with pytest.raises(IdentityRejected) as refused:
        check(claims(**changes))
    assert refused.value.code == code


def test_several_audiences_need_the_portal_as_authorized_party() -> None:
    check(claims(aud=["portal", "other"], azp="portal"))


def test_no_nonce_sent_means_no_token_passes() -> None:
    with pytest.raises(IdentityRejected):
        check(claims(nonce=""), nonce="")


def test_an_assurance_not_accepted_for_signing_in_is_refused() -> None:
    for acr in (LOW, "urn:other"):
        with pytest.raises(IdentityRejected) as refused:
            identity_from_claims(
                claims(acr=acr, nid="A1"), identifier_claim="nid", identifier_system="s",
                accepted_acr=[SUBSTANTIAL, HIGH],
            )  # fmt: skip
        assert refused.value.code == "assurance"


def test_a_lower_accepted_assurance_signs_in_and_stays_below_the_minimum() -> None:
    identity = identity_from_claims(
        claims(acr=LOW, nid="A1"), identifier_claim="nid", identifier_system="s", accepted_acr=ACCEPTED
    )
    assert identity.acr == LOW
    assert not acr_meets(identity.acr, accepted=ACCEPTED, minimum=SUBSTANTIAL)
