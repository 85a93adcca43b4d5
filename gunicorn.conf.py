"""Gunicorn reads this file from the working directory (the image and `make run` both start there).

Its access log writes every request path, and a SMART Health Link's manifest path is a capability: the same
filter as the portal's own logs masks it. (Gunicorn replaces its logging defaults key by key, so the whole
configuration is spelled out.)
"""

# Threads, not one request per process: a client that sends its request slowly holds one thread, not a whole
# worker, and kept-alive connections wait in the worker's poller without holding any. That only raises the
# number of slow clients it takes (workers x threads); the real defence is a buffering proxy in front
# (deploy/nginx/portal.conf.template), which passes gunicorn complete requests only. Each thread may keep a
# database connection (CONN_MAX_AGE), so workers x threads is also the connections one web process opens.
worker_class = "gthread"
threads = 8
# A worker whose main loop is silent this long is restarted (with threads, a slow request is not "silent").
timeout = 30
graceful_timeout = 30
# Idle kept-alive connections (from the proxy) close after this; the proxy's own idle limit is shorter.
keepalive = 5
# No `gunicornc` control socket: its default path is shared by every gunicorn of the user (tests, `make run`),
# and nothing here manages workers at run time.
control_socket_disable = True

# One record, one line: request data cannot forge lines (CR/LF escaped), as in the portal's own logs.
_redact = ["redact_share_links", "escape_line_breaks"]

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_share_links": {"()": "portal.logfilters.RedactShareLinks"},
        "escape_line_breaks": {"()": "portal.logfilters.EscapeLineBreaks"},
    },
    "formatters": {
        "generic": {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s"},
        "access": {"format": "%(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler", "formatter": "generic", "filters": _redact, "stream": "ext://sys.stdout",
        },
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
