"""A stand-in for somebody else's SMART Health Links server, for testing the clinician viewer.

Deliberately independent of the portal's own SHL code: the compact JWE is put together by hand from
`cryptography`'s AES-GCM (the protected header, base64url, is the additional authenticated data), so the
viewer is checked against a second implementation of the specification, not against ours.

The server is a ThreadingHTTPServer on a free loopback port, in a background thread. Every answer allows any
origin (CORS), as an SHL server must for browser-based viewers, and every request it sees is recorded.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.sandbox_fixtures import free_port

# ------------------------------------------------------------------------------------------ encoding


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def raw_deflate(data: bytes) -> bytes:
    """RFC 1951 DEFLATE without the zlib header and checksum (what JWE `zip: "DEF"` means)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def encrypt_jwe(plaintext: bytes, key: bytes, *, cty: str, deflate: bool = False) -> str:
    """Compact JWE with alg "dir" and enc "A256GCM": header..iv.ciphertext.tag (no encrypted key)."""
    header: dict[str, str] = {"alg": "dir", "enc": "A256GCM", "cty": cty}
    if deflate:
        header["zip"] = "DEF"
        plaintext = raw_deflate(plaintext)
    protected = b64url(json.dumps(header, separators=(",", ":")).encode("utf-8"))
    iv = os.urandom(12)
    sealed = AESGCM(key).encrypt(iv, plaintext, protected.encode("ascii"))
    ciphertext, tag = sealed[:-16], sealed[-16:]
    return f"{protected}..{b64url(iv)}.{b64url(ciphertext)}.{b64url(tag)}"


def encrypt_json(
    document: dict[str, Any], key: bytes, *, cty: str = "application/fhir+json", deflate: bool = False
) -> str:
    return encrypt_jwe(json.dumps(document).encode("utf-8"), key, cty=cty, deflate=deflate)


def shlink(payload: dict[str, Any]) -> str:
    """`shlink:/` + base64url of the minified JSON payload."""
    return "shlink:/" + b64url(json.dumps(payload, separators=(",", ":")).encode("utf-8"))


def new_key() -> str:
    """A fresh link key: 32 random bytes, base64url (43 characters)."""
    return b64url(os.urandom(32))


# ------------------------------------------------------------------------------------------ the server


@dataclass
class SeenRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[SeenRequest], Answer]

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    # Retry-After is not a CORS-safelisted response header: without this a browser script cannot read it.
    "Access-Control-Expose-Headers": "Retry-After",
}


def json_answer(status: int, document: Any, **headers: str) -> Answer:
    return Answer(status, json.dumps(document).encode("utf-8"), "application/json", dict(headers))


class ForeignShlServer:
    """Routes by exact path; answers 404 to anything it does not know (and records it all the same)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -------------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="foreign-shl", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.origin}{path}"

    # -------------------------------------------------------------------------------- routes

    def add_route(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.url(path)

    def add_file(self, path: str, jwe: str) -> str:
        """A file URL (a manifest `location`, or the url of a `U` link): GET answers the compact JWE."""

        def answer(request: SeenRequest) -> Answer:
            if request.method != "GET":
                return Answer(405)
            return Answer(200, jwe.encode("ascii"), "application/jose")

        return self.add_route(path, answer)

    def add_manifest(
        self, path: str, files: list[dict[str, Any]], *, passcode: str | None = None, attempts: int = 3
    ) -> str:
        """A manifest URL: POST {recipient, passcode?} answers {files}; wrong passcodes count down."""
        state = {"remaining": attempts}

        def answer(request: SeenRequest) -> Answer:
            if request.method != "POST":
                return Answer(405)
            if not request.headers.get("content-type", "").startswith("application/json"):
                return json_answer(415, {"error": "content-type must be application/json"})
            try:
                body = request.json()
            except ValueError:
                return json_answer(400, {"error": "body is not JSON"})
            if (
                not isinstance(body, dict)
                or not isinstance(body.get("recipient"), str)
                or not body["recipient"]
            ):
                return json_answer(400, {"error": "recipient is required"})
            if passcode is not None:
                with self._lock:
                    if state["remaining"] <= 0:
                        return Answer(404)
                    if body.get("passcode") != passcode:
                        state["remaining"] -= 1
                        return json_answer(401, {"remainingAttempts": state["remaining"]})
            return json_answer(200, {"files": files})

        return self.add_route(path, answer)

    def add_status(self, path: str, status: int, **headers: str) -> str:
        return self.add_route(path, lambda request: Answer(status, b"", "text/plain", dict(headers)))

    def requests_to(self, path: str) -> list[SeenRequest]:
        with self._lock:
            return [
                request for request in self.requests if request.path == path and request.method != "OPTIONS"
            ]

    def paths_seen(self) -> list[str]:
        with self._lock:
            return [request.path for request in self.requests]

    # -------------------------------------------------------------------------------- HTTP

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the tests read owner.requests instead

            def _record(self) -> SeenRequest:
                parts = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                request = SeenRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=body,
                )
                with owner._lock:
                    owner.requests.append(request)
                return request

            def _send(self, answer: Answer) -> None:
                self.send_response(answer.status)
                for name, value in {**CORS_HEADERS, **answer.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(answer.body)

            def _route(self) -> None:
                request = self._record()
                route = owner.routes.get(request.path)
                self._send(route(request) if route else Answer(404, b"", "text/plain"))

            def do_GET(self) -> None:
                self._route()

            def do_POST(self) -> None:
                self._route()

            def do_OPTIONS(self) -> None:  # the CORS preflight of a JSON POST
                self._record()
                self._send(
                    Answer(
                        204,
                        headers={
                            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                            "Access-Control-Allow-Headers": "content-type",
                            "Access-Control-Max-Age": "600",
                        },
                    )
                )

        return Handler


@contextmanager
def running_foreign_shl_server() -> Iterator[ForeignShlServer]:
    server = ForeignShlServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
