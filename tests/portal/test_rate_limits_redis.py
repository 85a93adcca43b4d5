"""Rate limits as production keeps them: counters in Redis, shared by every web process."""

from typing import Any

import pytest
import redis
from django.test import Client

from portal.accounts.models import User
from tests.accounts.test_login import TOO_MANY_FAILURES
from tests.conftest import PASSWORD
from tests.sharing.conftest import store_example

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


@pytest.fixture
def redis_cache(redis_url: str, settings: Any) -> Any:
    """The default cache on Redis, under a prefix of this test's own, emptied before and after."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": "ratelimit-test",
        }
    }
    server = redis.Redis.from_url(redis_url)

    def clear() -> None:
        for key in server.scan_iter("ratelimit-test:*"):
            server.delete(key)

    clear()
    yield server
    clear()


def keys(server: redis.Redis) -> list[bytes]:
    return list(server.scan_iter("ratelimit-test:*"))


def test_share_creation_counts_in_redis(redis_cache: redis.Redis, citizen: User, settings: Any) -> None:
    store_example(citizen)
    settings.SHARE_CREATE_RATE = "2/h"
    web_one, web_two = Client(), Client()  # two sessions of one citizen, as two web processes would see
    web_one.force_login(citizen)
    web_two.force_login(citizen)
    assert web_one.post("/shares/", {"expires_in": 86400}).status_code == 302
    assert web_two.post("/shares/", {"expires_in": 86400}).status_code == 302
    assert web_one.post("/shares/", {"expires_in": 86400}).status_code == 429
    assert keys(redis_cache)  # the counter lives in Redis


def test_login_failures_count_in_redis(redis_cache: redis.Redis, citizen: User) -> None:
    # Each attempt from a fresh client, as if each came to another web process: only Redis can count them.
    for attempt in range(5):
        Client().post("/accounts/login/", {"login": citizen.email, "password": f"wrong {attempt}"})
    assert keys(redis_cache)
    blocked = Client().post("/accounts/login/", {"login": citizen.email, "password": PASSWORD})
    assert TOO_MANY_FAILURES in blocked.content.decode()
    assert "_auth_user_id" not in blocked.wsgi_request.session
