"""Logging filters that keep secrets out of every log line, whoever writes it (Django, servers, our code)."""

import logging
import re

# A SMART Health Link's manifest id and a file URL's token are capabilities: with the key, the id opens the
# summary. Django logs the path of every 4xx answer ("Not Found: /shl/…") and runserver every request line.
SHL_PATH = re.compile(r"/shl/[^\s\"'?#]+")


class EscapeLineBreaks(logging.Filter):
    """One log record, one line: CR and LF in a message (a value from a request, say a CSP report's
    directive) are written escaped, so nobody can forge a line of their own. Tracebacks are not messages."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "\n" in message or "\r" in message:
            record.msg = message.replace("\r", "\\r").replace("\n", "\\n")
            record.args = None
        return True


class RedactShareLinks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/shl/" in message:
            record.msg = SHL_PATH.sub("/shl/[redacted]", message)
            record.args = None
        return True


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,30}):")


def _scheme_of(url: str) -> str:
    match = _SCHEME.match(url)
    return match[1].lower() if match else "relative"


class UrlSchemesOnly(logging.Filter):
    """Keeps only the scheme of the URLs in WeasyPrint's own log lines (installed from LOGGING).

    WeasyPrint logs every stylesheet it loads and every resource it fails to load, with the URL; a URL in
    a document handed to the PDF renderer could carry personal data ("…/pixel.png?cpr=…"). In the lines
    about resources every string argument is a URL, or the name of an inline source ("CSS string").
    """

    RESOURCE_WORDS = ("load", "Fetching", "URL", "URI", "SVG")
    INLINE = frozenset({"CSS string", "HTML string"})

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        if isinstance(record.args, tuple) and any(word in message for word in self.RESOURCE_WORDS):
            record.args = tuple(
                f"<{_scheme_of(arg)} URL>" if isinstance(arg, str) and arg not in self.INLINE else arg
                for arg in record.args
            )
        return True
