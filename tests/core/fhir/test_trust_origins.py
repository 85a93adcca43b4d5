"""The operator's exact-origin allowlist (FHIR_AUTH_TRUSTED_ORIGINS): a local sandbox's authorization
server on a port of its own is believed, at exactly the listed origin and nowhere near it."""

import pytest

from core.fhir import trust

SANDBOX = "http://127.0.0.1:8092/fhir"
AS = "http://127.0.0.1:8093"
BASE = "https://fhir.example.org/r4"


def test_a_listed_loopback_origin_is_trusted_for_a_local_sandbox() -> None:
    url = f"{AS}/token"
    assert trust.endpoint_refusal(url, base_url=SANDBOX) == trust.PLAIN_HTTP_ELSEWHERE
    assert trust.endpoint_refusal(url, base_url=SANDBOX, trusted_origins=[AS]) is None
    assert trust.endpoint_refusal(f"{AS}/auth?x=1", base_url=SANDBOX, trusted_origins=[f"{AS}/"]) is None
    # The same origin spelled with the default port, or a host in capitals, is the same origin.
    assert (
        trust.endpoint_refusal(
            "http://LOCALHOST/token", base_url=SANDBOX, trusted_origins=["http://localhost:80"]
        )
        is None
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8094/token",  # another port
        "http://localhost:8093/token",  # another host name for the same machine is another origin
        "http://127.0.0.1/token",
    ],
)
def test_anything_beside_the_listed_origin_stays_refused(url: str) -> None:
    assert trust.endpoint_refusal(url, base_url=SANDBOX, trusted_origins=[AS]) is not None


def test_plain_http_to_a_listed_origin_is_refused_unless_the_source_is_a_local_sandbox() -> None:
    assert trust.endpoint_refusal(f"{AS}/token", base_url=BASE, trusted_origins=[AS]) == trust.PLAIN_HTTP
    remote_http = "http://fhir.example.org/r4"
    assert (
        trust.endpoint_refusal(f"{AS}/token", base_url=remote_http, trusted_origins=[AS]) == trust.PLAIN_HTTP
    )


def test_a_listed_https_origin_is_trusted_at_exactly_its_port() -> None:
    origin = "https://auth.example.dk:8443"
    assert trust.endpoint_refusal(f"{origin}/token", base_url=BASE, trusted_origins=[origin]) is None
    other_port = "https://auth.example.dk/token"
    assert trust.endpoint_refusal(other_port, base_url=BASE, trusted_origins=[origin]) == trust.OTHER_HOST


def test_the_listed_origin_does_not_excuse_odd_urls() -> None:
    for url in (f"{AS}/to\nken", "http://user:pw@127.0.0.1:8093/token", f"{AS}\\@evil.test/token"):
        assert trust.endpoint_refusal(url, base_url=SANDBOX, trusted_origins=[AS]) is not None


@pytest.mark.parametrize(
    "entry",
    [
        "http://127.0.0.1:8093",
        "http://localhost:8093/",
        "http://[::1]:8093",
        "https://auth.example.dk",
        "https://auth.example.dk:8443",
    ],
)
def test_origin_entries(entry: str) -> None:
    assert trust.is_origin(entry)


@pytest.mark.parametrize(
    "entry",
    [
        "http://auth.example.dk:8093",  # plain http off this machine
        "http://10.0.0.5:8093",
        "127.0.0.1:8093",  # no scheme
        "auth.example.dk",
        "http://127.0.0.1:8093/auth",  # a path
        "http://127.0.0.1:8093?x",
        "http://127.0.0.1:8093#x",
        "http://user@127.0.0.1:8093",
        "http://127.0.0.1:99999",
        "ftp://127.0.0.1:8093",
        "https://*.example.dk",
        "",
    ],
)
def test_not_origin_entries(entry: str) -> None:
    assert not trust.is_origin(entry)
