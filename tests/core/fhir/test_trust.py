"""Where discovered token/authorize endpoints may be: https on the source's host or a trusted one; plain http
only at a local sandbox's own origin."""

import pytest

from core.fhir import trust

BASE = "https://fhir.example.org/r4"
SANDBOX = "http://127.0.0.1:8090/fhir"


@pytest.mark.parametrize(
    "url",
    [
        "https://fhir.example.org/auth/token",
        "https://fhir.example.org:443/auth/token",
        "https://fhir.example.org:8443/auth/token",  # the certificate vouches for the host, on any port
        "https://FHIR.Example.ORG/auth/token",  # host names are case-insensitive
        "https://fhir.example.org./auth/token",  # the same name, fully qualified
        "HTTPS://fhir.example.org/token",
        "https://fhir.example.org/other-path/token",
    ],
)
def test_https_on_the_sources_own_host_is_trusted(url: str) -> None:
    assert trust.endpoint_refusal(url, base_url=BASE) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://fhir.example.org/auth/token", trust.PLAIN_HTTP),  # downgraded on its own host
        ("http://evil.test/token", trust.PLAIN_HTTP),
        ("https://evil.test/token", trust.OTHER_HOST),
        ("https://fhir.example.org.evil.test/token", trust.OTHER_HOST),
        ("https://evil-fhir.example.org/token", trust.OTHER_HOST),
        ("https://example.org/token", trust.OTHER_HOST),  # a parent domain is another host
        ("https://fhir.example.org@evil.test/token", trust.USERINFO),
        ("https://client:secret@fhir.example.org/token", trust.USERINFO),
        ("https://fhir.example.org:99999/token", trust.BAD_PORT),
        ("https://fhir.example.org:/token", trust.BAD_PORT),
        ("https://fhir.example.org:443x/token", trust.BAD_PORT),
        ("https://fhir.example.org\\@evil.test/token", trust.ODD_CHARACTERS),
        ("https://fhir.example.org/to\nken", trust.ODD_CHARACTERS),
        ("https://fhir.example.org /token", trust.ODD_CHARACTERS),
        ("https://fhïr.example.org/token", trust.BAD_HOST),  # non-ASCII: only in its xn-- form
        ("https://fhir%2eexample.org/token", trust.BAD_HOST),
        ("https:///token", trust.NOT_A_URL),
        ("//fhir.example.org/token", trust.NOT_A_URL),
        ("/auth/token", trust.NOT_A_URL),
        ("ftp://fhir.example.org/token", trust.NOT_A_URL),
        ("javascript:alert(1)", trust.NOT_A_URL),
        ("", trust.NOT_A_URL),
        ("https://fhir.example.org/" + "a" * 3000, trust.NOT_A_URL),
    ],
)
def test_anything_else_is_refused_with_a_reason(url: str, reason: str) -> None:
    assert trust.endpoint_refusal(url, base_url=BASE) == reason


@pytest.mark.parametrize("value", [None, 42, ["https://fhir.example.org/token"], {"url": "x"}])
def test_a_discovery_value_that_is_not_a_string_is_refused(value: object) -> None:
    assert trust.endpoint_refusal(value, base_url=BASE) == trust.NOT_A_URL


def test_another_host_is_trusted_only_when_the_operator_lists_it() -> None:
    url = "https://auth.example.dk/oauth2/token"
    assert trust.endpoint_refusal(url, base_url=BASE) == trust.OTHER_HOST
    assert trust.endpoint_refusal(url, base_url=BASE, trusted_hosts=["other.example.dk"]) == trust.OTHER_HOST
    assert trust.endpoint_refusal(url, base_url=BASE, trusted_hosts=["auth.example.dk"]) is None
    assert trust.endpoint_refusal(url, base_url=BASE, trusted_hosts=[" Auth.Example.DK. "]) is None
    # The list is of hosts, not of domains: no subdomain, no parent.
    assert trust.endpoint_refusal(url, base_url=BASE, trusted_hosts=["example.dk"]) == trust.OTHER_HOST
    sub = "https://x.auth.example.dk/token"
    assert trust.endpoint_refusal(sub, base_url=BASE, trusted_hosts=["auth.example.dk"]) == trust.OTHER_HOST
    # An entry that is not a bare host name matches nothing.
    assert trust.endpoint_refusal(url, base_url=BASE, trusted_hosts=["https://auth.example.dk"]) is not None
    assert trust.endpoint_refusal(url, base_url=BASE, trusted_hosts=["*.example.dk"]) is not None


def test_a_trusted_host_still_needs_https() -> None:
    url = "http://auth.example.dk/token"
    assert trust.endpoint_refusal(url, base_url=BASE, trusted_hosts=["auth.example.dk"]) == trust.PLAIN_HTTP
    sandbox_listed = trust.endpoint_refusal(url, base_url=SANDBOX, trusted_hosts=["auth.example.dk"])
    assert sandbox_listed == trust.PLAIN_HTTP_ELSEWHERE


@pytest.mark.parametrize(
    ("base_url", "url", "reason"),
    [
        (SANDBOX, "http://127.0.0.1:8090/auth/token", None),
        (SANDBOX, "http://127.0.0.1:8090/fhir/token", None),
        ("http://localhost:8090/fhir", "http://LOCALHOST:8090/auth/token", None),
        ("http://[::1]:8090/fhir", "http://[0:0::1]:8090/auth/token", None),
        ("http://127.0.0.1/fhir", "http://127.0.0.1:80/token", None),  # the default port, spelt out
        (SANDBOX, "https://127.0.0.1:9443/token", None),  # https on the same host is always fine
        (SANDBOX, "http://127.0.0.1:8091/token", trust.PLAIN_HTTP_ELSEWHERE),  # another port
        (SANDBOX, "http://localhost:8090/token", trust.PLAIN_HTTP_ELSEWHERE),  # another name
        (SANDBOX, "http://127.0.0.2:8090/token", trust.PLAIN_HTTP_ELSEWHERE),
        (SANDBOX, "http://evil.test:8090/token", trust.PLAIN_HTTP_ELSEWHERE),
        (SANDBOX, "https://localhost:8090/token", trust.OTHER_HOST),
        (SANDBOX, "http://2130706433:8090/token", trust.PLAIN_HTTP_ELSEWHERE),  # 127.0.0.1 in disguise
        # Plain http is for a loopback source only: not a source reached over http elsewhere, nor over https.
        ("http://fhir.example.org/r4", "http://fhir.example.org/token", trust.PLAIN_HTTP),
        ("http://10.0.0.5:8090/fhir", "http://10.0.0.5:8090/token", trust.PLAIN_HTTP),
        ("https://127.0.0.1:8443/fhir", "http://127.0.0.1:8443/token", trust.PLAIN_HTTP),
        ("https://localhost/fhir", "http://localhost/token", trust.PLAIN_HTTP),
    ],
)
def test_plain_http_only_at_a_loopback_sandboxs_own_origin(
    base_url: str, url: str, reason: str | None
) -> None:
    assert trust.endpoint_refusal(url, base_url=base_url) == reason


def test_an_unusable_base_url_trusts_nothing() -> None:
    assert trust.endpoint_refusal("https://fhir.example.org/token", base_url="") == trust.BAD_BASE
    assert (
        trust.endpoint_refusal("https://fhir.example.org/token", base_url="fhir.example.org")
        == trust.BAD_BASE
    )


@pytest.mark.parametrize(
    ("entry", "ok"),
    [
        ("auth.example.dk", True),
        ("Auth.Example.DK.", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("xn--sundhed-dxa.dk", True),
        ("https://auth.example.dk", False),
        ("auth.example.dk:8443", False),
        ("auth.example.dk/token", False),
        ("*.example.dk", False),
        ("user@auth.example.dk", False),
        ("", False),
        ("sundhæd.dk", False),
    ],
)
def test_allowlist_entries_are_bare_host_names(entry: str, ok: bool) -> None:
    assert trust.is_host_name(entry) is ok
