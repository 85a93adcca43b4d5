"""A real SMTP server process (aiosmtpd) keeping what it receives in a Maildir; the portal sends to it."""

import mailbox
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import VENV_BIN, ProcessHandle, child_env, start_process, wait_for


@dataclass
class SmtpServer:
    port: int
    maildir: Path
    process: ProcessHandle

    def messages(self) -> list[Message]:
        return list(mailbox.Maildir(self.maildir, create=False))


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def smtp_server(tmp_path: Path, settings: Any) -> Iterator[SmtpServer]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    maildir = tmp_path / "maildir"
    process = start_process(
        [str(VENV_BIN / "python"), "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
         "-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
        env=child_env(),
        log_path=tmp_path / "smtp.log",
    )  # fmt: skip
    try:
        wait_for(
            lambda: _answers(port) or process.process.poll() is not None, timeout=30, what="the SMTP server"
        )
        if process.process.poll() is not None:
            raise AssertionError(f"the SMTP server exited:\n{process.log()}")
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = port
        settings.EMAIL_HOST_USER = ""
        settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_USE_SSL = False
        yield SmtpServer(port=port, maildir=maildir, process=process)
    finally:
        process.stop()
