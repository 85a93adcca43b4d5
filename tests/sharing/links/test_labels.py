"""A link's label is what the clinician reads first: nothing hidden in it may change what it says."""

from typing import Any

import pytest
from django.test import Client

from portal.accounts.models import User
from sharing.models import Share
from tests.sharing.conftest import store_example

pytestmark = pytest.mark.django_db

DAY = 24 * 60 * 60


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("For Dr \u202eknip\u202c Holm", "For Dr knip Holm"),  # a right-to-left override would show "pink"
        ("Dr\u200b Holm\u2060", "Dr Holm"),  # zero-width space and word joiner
        ("Dr\x00 Holm\x07", "Dr Holm"),  # NUL and other controls
        ("  Dr\t\nHolm  ", "Dr Holm"),
    ],
)
def test_a_label_keeps_only_what_a_reader_sees(
    citizen_client: Client, citizen: User, settings: Any, typed: str, kept: str
) -> None:
    store_example(citizen)
    response = citizen_client.post("/shares/", {"expires_in": DAY, "label": typed})

    assert response.status_code == 302
    assert Share.objects.get(owner=citizen).label == kept
