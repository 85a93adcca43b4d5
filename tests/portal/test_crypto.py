"""Secrets at rest: encrypted with rotatable keys, never stored or shown in the clear."""

from typing import Any

import pytest
from django.db import connection
from django.test import Client

from portal import crypto
from portal.records.models import AuthMode, DataSource


def test_round_trip_and_rotation(settings: Any) -> None:
    old_key, new_key = crypto.generate_key(), crypto.generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    token = crypto.encrypt("client-secret-value")
    assert "client-secret-value" not in token

    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert crypto.decrypt(token) == "client-secret-value"

    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)


def test_empty_stays_empty() -> None:
    assert crypto.encrypt("") == ""
    assert crypto.decrypt("") == ""


# The admin's form for a new backend-services source, with a client secret to be stored encrypted.
NEW_SOURCE_FORM = {
    "name": "Region",
    "base_url": "https://fhir.region.test/r4",
    "enabled": "on",
    "auth_mode": AuthMode.BACKEND_SERVICES,
    "patient_identifier_system": "urn:oid:1.2.3",
    "connect_timeout": "5",
    "read_timeout": "30",
    "page_size": "100",
    "client_id": "portal",
    "client_secret": "very-secret-value",
    "signing_algorithm": "RS384",
}


@pytest.mark.django_db
def test_admin_stores_the_secret_encrypted_and_never_shows_it(admin_user: Any, client: Client) -> None:
    client.force_login(admin_user)
    response = client.post("/admin/records/datasource/add/", NEW_SOURCE_FORM)
    assert response.status_code == 302, response.content.decode()[:2000]
    source = DataSource.objects.get(name="Region")
    assert source.client_secret() == "very-secret-value"
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret_encrypted FROM records_datasource")
        (stored,) = cursor.fetchone()
    assert stored
    assert "very-secret-value" not in stored

    page = client.get(f"/admin/records/datasource/{source.pk}/change/").content.decode()
    assert "very-secret-value" not in page
    assert stored not in page

    # Saving again without typing a secret keeps the stored one.
    client.post(
        f"/admin/records/datasource/{source.pk}/change/",
        {
            "name": "Region",
            "base_url": "https://fhir.region.test/r4",
            "enabled": "on",
            "auth_mode": AuthMode.BACKEND_SERVICES,
            "connect_timeout": "5",
            "read_timeout": "30",
            "page_size": "100",
            "client_id": "portal",
            "signing_algorithm": "RS384",
        },
    )
    source.refresh_from_db()
    assert source.client_secret() == "very-secret-value"


@pytest.mark.django_db
def test_admin_refuses_a_key_that_is_not_a_pem_private_key(admin_user: Any, client: Client) -> None:
    client.force_login(admin_user)
    response = client.post(
        "/admin/records/datasource/add/",
        {
            "name": "Region",
            "base_url": "https://fhir.region.test/r4",
            "auth_mode": AuthMode.BACKEND_SERVICES,
            "connect_timeout": "5",
            "read_timeout": "30",
            "page_size": "100",
            "private_key_pem": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----",
            "signing_algorithm": "RS384",
        },
    )
    assert response.status_code == 200
    assert "not an unencrypted PEM private key" in response.content.decode()
    assert not DataSource.objects.exists()
