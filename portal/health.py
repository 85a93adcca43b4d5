"""Liveness of the parts the portal cannot work without: the database and the broker."""

import logging
from pathlib import Path

from django.conf import settings
from django.db import connection
from kombu import Connection

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2


def database_check() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.exception("health: database unreachable")
        return False


def broker_check() -> bool:
    url = settings.CELERY_BROKER_URL
    options = dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
    try:
        if url.startswith("filesystem://"):
            # The embedded broker is a folder: it works when the worker and the portal can write there.
            folder = Path(str(options["data_folder_in"]))
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / ".healthz"
            probe.write_text("ok", encoding="utf-8")
            probe.unlink()
            return True
        with Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS, transport_options=options) as broker:
            broker.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_SECONDS
            )
            return True
    except Exception as error:
        # The URL may hold a password: log the error's type only.
        logger.warning("health: broker unreachable (%s)", type(error).__name__)
        return False
