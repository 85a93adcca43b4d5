"""Safety first: the record page opens with every allergy, alert and advance directive of the record."""

from typing import Any

import pytest
from django.test import Client
from django.utils.html import escape

from core.fhir.summary import summarize
from portal.accounts.models import User
from portal.records.models import StoredResource
from tests.sharing.conftest import store_example

pytestmark = pytest.mark.django_db

IMPORTANT = ("allergies", "alerts", "advance_directives")


def test_the_important_panel_lists_every_allergy_alert_and_directive_before_anything_else(
    citizen: User, citizen_client: Client
) -> None:
    store_example(citizen)
    rows = StoredResource.objects.filter(owner=citizen, section__in=IMPORTANT, missing_since__isnull=True)
    expected: dict[str, Any] = {row.section: [] for row in rows}
    for row in rows:
        expected[row.section].append(summarize(row.data).title)
    assert set(expected) == set(IMPORTANT), "the demo record has each kind"

    html = citizen_client.get("/records/").content.decode()

    start, end = (
        html.index('data-testid="important"'),
        html.index("</section>", html.index('data-testid="important"')),
    )
    panel = html[start:end]
    assert panel.count('data-testid="important-item"') == rows.count()
    for titles in expected.values():
        for title in titles:
            assert escape(title) in panel
    # Allergies come first, and the panel comes before the sources and every section.
    assert panel.index(expected["allergies"][0]) < panel.index(expected["alerts"][0])
    assert start < html.index('id="sources-title"')
    assert start < html.index('class="record-section"')


def test_no_important_items_no_panel(citizen: User, citizen_client: Client) -> None:
    html = citizen_client.get("/records/").content.decode()
    assert 'data-testid="important"' not in html
