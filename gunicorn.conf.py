"""Gunicorn reads this file from the working directory (the image and `make run` both start there).

Its access log writes every request path, and a SMART Health Link's manifest path is a capability: the same
filter as the portal's own logs masks it. (Gunicorn replaces its logging defaults key by key, so the whole
configuration is spelled out.)
"""

_redact = ["redact_share_links"]

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_share_links": {"()": "portal.logfilters.RedactShareLinks"}},
    "formatters": {
        "generic": {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s"},
        "access": {"format": "%(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "generic", "stream": "ext://sys.stdout"},
        "error_console": {
            "class": "logging.StreamHandler", "formatter": "generic", "filters": _redact, "stream": "ext://sys.stderr",
        },
        "access_console": {
            "class": "logging.StreamHandler", "formatter": "access", "filters": _redact, "stream": "ext://sys.stdout",
        },
    },
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["access_console"], "propagate": False},
    },
}  # fmt: skip
