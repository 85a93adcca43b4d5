"""Logging filters that keep secrets out of every log line, whoever writes it (Django, servers, our code)."""

import logging
import re

# A SMART Health Link's manifest id and a file URL's token are capabilities: with the key, the id opens the
# summary. Django logs the path of every 4xx answer ("Not Found: /shl/…") and runserver every request line.
SHL_PATH = re.compile(r"/shl/[^\s\"'?#]+")


class RedactShareLinks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/shl/" in message:
            record.msg = SHL_PATH.sub("/shl/[redacted]", message)
            record.args = None
        return True
