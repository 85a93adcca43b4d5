"""Which endpoints named by an upstream's discovery the portal may send credentials to.

A data source's `/.well-known/smart-configuration` (or its CapabilityStatement's oauth-uris extension) says
where its token and authorize endpoints are. The portal sends its client secret, a signed client assertion,
refresh tokens and the citizen's browser there, so the upstream must not be able to name any address it likes.
An endpoint is believed only

- over https, on the data source's own host or on a host the operator trusts (`FHIR_AUTH_TRUSTED_HOSTS`): the
  certificate vouches for the host name, so any port on it will do;
- over plain http only for a local sandbox: the data source itself is at http on a loopback host, and the
  endpoint is at exactly that origin (nothing vouches for a plain-http answer, so not even another port), or
  at exactly an origin the operator lists (`FHIR_AUTH_TRUSTED_ORIGINS`: `scheme://host:port`, plain http
  only on a loopback host), such as the sandbox's authorization server on a port of its own. A listed https
  origin is trusted at exactly that port.

Everything else is refused with a short reason for operators' logs (never the URL itself: that is upstream
text).
"""

import re
from collections.abc import Iterable
from ipaddress import ip_address
from urllib.parse import SplitResult, urlsplit

NOT_A_URL = "not an absolute http or https URL"
ODD_CHARACTERS = "spaces, control characters or backslashes in the URL"
USERINFO = "a user name or password in the URL"
BAD_HOST = "no usable host name"
BAD_PORT = "an invalid port"
BAD_BASE = "the data source's own address has no usable host"
PLAIN_HTTP = "plain http"
PLAIN_HTTP_ELSEWHERE = "plain http to another address than the local sandbox's own"
OTHER_HOST = "another host than the data source's, and not a trusted one"

MAX_URL_LENGTH = 2048
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_host(host: str) -> str | None:
    """The host in one spelling (lower case, no trailing dot, IP addresses compressed), or None when it is not
    an ASCII host name or IP address (a non-ASCII name must be written in its xn-- form)."""
    host = host.strip().lower()
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ip_address(host))
    except ValueError:
        pass
    if len(host) > 253 or not _HOST_NAME.fullmatch(host):
        return None
    return host


def is_host_name(entry: str) -> bool:
    """An allowlist entry is a bare host name or IP address: no scheme, port, path or wildcard."""
    return normalise_host(entry) is not None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_origin(entry: str) -> tuple[str, str, int] | None:
    """An allowlisted origin as (scheme, host, port), or None unless it is `scheme://host[:port]` and nothing
    more (a trailing slash aside), over https, or over plain http on a loopback host."""
    entry = entry.strip()
    if any(char <= " " or char in "\\\x7f" for char in entry):
        return None
    parts = _parts(entry.removesuffix("/"))
    if isinstance(parts, str):
        return None
    split, host, port = parts
    if split.path or split.query or split.fragment or "?" in entry or "#" in entry:
        return None
    if split.scheme == "http" and not is_loopback(host):
        return None
    return split.scheme, host, port


def is_origin(entry: str) -> bool:
    """An origin allowlist entry: https://host[:port], or http://<loopback host>[:port]."""
    return normalise_origin(entry) is not None


def _parts(url: str) -> tuple[SplitResult, str, int] | str:
    """(split URL, normalised host, effective port), or the reason it has none."""
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc:
        return NOT_A_URL
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return USERINFO
    host = normalise_host(parts.hostname or "")
    if host is None:
        return BAD_HOST
    try:
        port = parts.port
    except ValueError:
        return BAD_PORT
    if parts.netloc.endswith(":"):  # "host:" with an empty port: refused rather than guessed
        return BAD_PORT
    return parts, host, port if port is not None else _DEFAULT_PORTS[parts.scheme]


def endpoint_refusal(
    url: object, *, base_url: str, trusted_hosts: Iterable[str] = (), trusted_origins: Iterable[str] = ()
) -> str | None:
    """None when the portal may send credentials to `url`, which the data source at `base_url` named;
    otherwise the reason it may not."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        return NOT_A_URL
    # urlsplit silently drops tabs and newlines and HTTP clients read backslashes differently: refuse them.
    if any(char <= " " or char in "\\\x7f" for char in url):
        return ODD_CHARACTERS
    target = _parts(url)
    if isinstance(target, str):
        return target
    base = _parts(base_url)
    if isinstance(base, str):
        return BAD_BASE
    (parts, host, port), (base_parts, base_host, base_port) = target, base
    sandbox = base_parts.scheme == "http" and is_loopback(base_host)
    if (parts.scheme, host, port) in {normalise_origin(entry) for entry in trusted_origins}:
        # Listed by the operator; plain http still only from a local sandbox, to another one on this machine.
        return None if parts.scheme == "https" or sandbox else PLAIN_HTTP
    if parts.scheme == "https":
        trusted = {normalise_host(entry) for entry in trusted_hosts} - {None}
        return None if host == base_host or host in trusted else OTHER_HOST
    if not sandbox:
        return PLAIN_HTTP
    return None if (host, port) == (base_host, base_port) else PLAIN_HTTP_ELSEWHERE
