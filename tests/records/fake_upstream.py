"""A hostile FHIR upstream for fault injection: a real HTTP server whose answers each test scripts.

Only for faults a real server will not produce on demand (timeouts, 429, loops, foreign links, other people's
data). Everything else runs against the real FHIR sandbox.
"""

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

PATIENT_SYSTEM = "urn:oid:2.16.840.1.113883.2.4.6.3"
PATIENT_VALUE = "CITIZEN-0001"
PATIENT_ID = "p1"


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # dict → JSON, bytes → as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # Instead of a body: pieces written one by one (chunk_delay apart) until they end or the client leaves,
    # with no Content-Length unless `headers` declares one. For answers that never end or only drip.
    chunks: Callable[[], Iterable[bytes]] | None = None
    chunk_delay: float = 0.0


@dataclass
class SeenRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    at: float
    body: bytes = b""


Route = Callable[[SeenRequest], Answer]


def searchset(resources: list[dict[str, Any]], *, next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": resource, "search": {"mode": "match"}} for resource in resources],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def patient(patient_id: str = PATIENT_ID, value: str = PATIENT_VALUE) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": patient_id,
        "identifier": [{"system": PATIENT_SYSTEM, "value": value}],
        "name": [{"family": "Testesen", "given": ["Tove"]}],
    }


def condition(condition_id: str, *, patient_id: str = PATIENT_ID, text: str = "Asthma") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": condition_id,
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "code": {"text": text},
        "subject": {"reference": f"Patient/{patient_id}"},
    }


def capability(*operations: str, token_url: str | None = None) -> dict[str, Any]:
    rest: dict[str, Any] = {
        "mode": "server",
        "resource": [
            {
                "type": "Patient",
                "operation": [{"name": name, "definition": f"urn:op:{name}"} for name in operations],
            }
        ],
    }
    if token_url:
        rest["security"] = {
            "extension": [
                {
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [{"url": "token", "valueUri": token_url}],
                }
            ]
        }
    return {"resourceType": "CapabilityStatement", "status": "active", "kind": "instance", "rest": [rest]}


class FakeUpstream:
    """Routes match "METHOD /path" (no query); unmatched type searches answer an empty searchset."""

    def __init__(self) -> None:
        self.routes: dict[str, Route | list[Answer] | Answer] = {}
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = SeenRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={key.lower(): value for key, value in self.headers.items()},
                    at=time.monotonic(),
                    body=self.rfile.read(length) if length else b"",
                )
                with upstream._lock:
                    upstream.requests.append(seen)
                answer = upstream._answer(seen)
                if answer.delay:
                    time.sleep(answer.delay)
                if answer.chunks is not None:
                    self._stream(answer)
                    return
                body = answer.body
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/fhir+json")
                    self.send_header("Content-Length", str(len(raw)))
                    for key, value in answer.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def _stream(self, answer: Answer) -> None:
                assert answer.chunks is not None
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/fhir+json")
                    for key, value in answer.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    for piece in answer.chunks():
                        self.wfile.write(piece)
                        self.wfile.flush()
                        if answer.chunk_delay:
                            time.sleep(answer.chunk_delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading: what these answers are for

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/fhir"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        self.set_default_routes()

    def set_default_routes(self) -> None:
        self.routes["GET /fhir/metadata"] = Answer(body=capability())
        self.routes["GET /fhir/Patient"] = Answer(body=searchset([patient()]))
        self.routes[f"GET /fhir/Patient/{PATIENT_ID}"] = Answer(body=patient())

    def _answer(self, seen: SeenRequest) -> Answer:
        route = self.routes.get(f"{seen.method} {seen.path}")
        if route is None:
            if seen.path.count("/") == 2:  # a type-level search: nothing found
                return Answer(body=searchset([]))
            return Answer(status=404, body={"resourceType": "OperationOutcome", "issue": []})
        if isinstance(route, Answer):
            return route
        if isinstance(route, list):
            with self._lock:
                return route.pop(0) if len(route) > 1 else route[0]
        return route(seen)

    def requests_to(self, path: str) -> list[SeenRequest]:
        return [seen for seen in self.requests if seen.path == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_upstream() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    yield upstream
    upstream.stop()
