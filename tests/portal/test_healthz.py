from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def test_healthy_on_the_configured_broker(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"db": "ok", "broker": "ok"}
    assert "no-store" in response["Cache-Control"]


def test_unreachable_broker_gives_503_naming_it(client: Any, settings: Any) -> None:
    # Nothing listens on port 1: a Redis broker that is down.
    settings.CELERY_BROKER_URL = "redis://:hunter2@127.0.0.1:1/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"db": "ok", "broker": "unavailable"}


def test_unreachable_broker_does_not_log_its_password(client: Any, settings: Any, caplog: Any) -> None:
    settings.CELERY_BROKER_URL = "redis://:hunter2@127.0.0.1:1/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    client.get("/healthz")
    assert "broker unreachable" in caplog.text
    assert "hunter2" not in caplog.text


@pytest.mark.integration
def test_healthy_on_real_redis(client: Any, settings: Any, redis_url: str) -> None:
    settings.CELERY_BROKER_URL = redis_url
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["broker"] == "ok"


def test_unwritable_embedded_broker_gives_503(client: Any, settings: Any, tmp_path: Any) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the queue folder should be")
    settings.CELERY_BROKER_URL = "filesystem://localhost/"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(blocker / "queue")}
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"] == "unavailable"
