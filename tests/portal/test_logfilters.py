"""Log lines built from request data: one record is one line, whatever the request held."""

import io
import json
import logging
from collections.abc import Iterator

import pytest
from django.test import Client

from portal.logfilters import EscapeLineBreaks


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the portal's console handler (configured from LOGGING) writes, for the test's duration."""
    handler = next(
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, EscapeLineBreaks) for f in handler.filters)
    )
    assert isinstance(handler, logging.StreamHandler)
    written = io.StringIO()
    old = handler.setStream(written)
    try:
        yield written
    finally:
        handler.setStream(old)


def test_a_forged_csp_report_writes_one_escaped_line(client: Client, console: io.StringIO) -> None:
    forged = "script-src\n2026-12-01 12:00:00,000 WARNING portal.accounts admin password reset for everyone"
    report = {"csp-report": {"effective-directive": forged, "blocked-uri": "https://x.test/\r\nfake"}}

    response = client.post("/csp-report/", json.dumps(report), content_type="application/csp-report")

    assert response.status_code == 204
    lines = [line for line in console.getvalue().splitlines() if line]
    violations = [line for line in lines if "csp violation" in line]
    assert len(violations) == 1
    assert "directive=script-src\\n2026" in violations[0]
    assert not any(line.startswith("2026-12-01 12:00:00,000 WARNING portal.accounts") for line in lines)


def test_gunicorn_writes_one_line_per_record_too() -> None:
    """gunicorn.conf.py's handlers (its own log, the access log, the root) escape line breaks as ours do."""
    import logging.config
    import runpy

    from tests.conftest import REPO

    config = runpy.run_path(str(REPO / "gunicorn.conf.py"))["logconfig_dict"]
    stream = io.StringIO()
    for handler in config["handlers"].values():
        handler["stream"] = stream
    logging.config.dictConfig({**config, "disable_existing_loggers": False, "root": {"handlers": []}})
    try:
        for name in ("gunicorn.access", "gunicorn.error"):
            logging.getLogger(name).info("GET /?x=1\r\nforged line %s", "value\nforged too")
        assert stream.getvalue().count("\n") == 2, stream.getvalue()
        assert "forged line" in stream.getvalue()
    finally:
        for name in ("gunicorn.access", "gunicorn.error"):
            logging.getLogger(name).handlers.clear()
