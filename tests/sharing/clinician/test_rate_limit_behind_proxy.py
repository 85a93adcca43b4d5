"""Behind the proxy (BEHIND_PROXY=1 sets these two settings) each client has its own link budget."""

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

LINK = "/shl/" + "Q" * 43


def test_clients_behind_the_proxy_count_apart(settings: Any) -> None:
    settings.SHL_RATE_LIMIT = "3/h"  # per hour: no window ends mid-test
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    settings.RATELIMIT_IP_META_KEY = "HTTP_X_FORWARDED_FOR"
    proxy = Client(REMOTE_ADDR="10.0.0.2")  # every request arrives from nginx's address
    first = [
        proxy.post(LINK, "{}", "application/json", HTTP_X_FORWARDED_FOR="192.0.2.1").status_code
        for _ in range(4)
    ]
    assert first == [404, 404, 404, 429]
    # Another client behind the same proxy still has its whole budget.
    assert proxy.post(LINK, "{}", "application/json", HTTP_X_FORWARDED_FOR="192.0.2.2").status_code == 404
