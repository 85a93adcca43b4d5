"""The record page over the demo record: its contents list and filter, where things came from, and every value
in the reader's language (statuses through the one table, dates and numbers in Django's formats)."""

import re
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from core.fhir.wording import FIXED_CODES
from core.ips.sections import SECTION_BY_KEY
from portal.accounts.models import User
from portal.records.models import AuthMode, DataSource, StoredResource
from tests.sharing.conftest import store_example, stored_row

pytestmark = pytest.mark.django_db

ENGLISH_WORDS = {msgid for codes in FIXED_CODES.values() for msgid in codes.values()}
# A FHIR dateTime/instant, an ISO date, or a time with seconds and a zone.
ISO_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d|\b)|\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2})")
DECIMAL_POINT = re.compile(r"\d\.\d")


class Page(HTMLParser):
    """The page's text by part: badges, item details, the contents list, and everything else that is shown,
    leaving out the source's own text (upstream prose, which the portal shows as the source wrote it)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.badges: list[str] = []
        self.details: list[str] = []
        self.dates: list[str] = []
        self.feed(html[html.index("<main") : html.index("</main>")])

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in {"br", "input", "img", "hr", "col", "link", "meta"}:
            self.stack.append((tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def _inside(self, class_name: str) -> bool:
        return any(class_name in attributes.get("class", "").split() for _tag, attributes in self.stack)

    def handle_data(self, data: str) -> None:
        if self._inside("narrative-body"):
            return
        self.text.append(data)
        if self.stack and "badge" in self.stack[-1][1].get("class", "").split():
            self.badges.append(data.strip())
        if self._inside("item-details"):
            self.details.append(data)
        if self._inside("item-date"):
            self.dates.append(data.strip())

    @property
    def shown(self) -> str:
        return " ".join(" ".join(self.text).split())


def to_danish(client: Client) -> None:
    client.post("/language/", {"language": "da", "next": "/"})


def record_page(client: Client, **query: str) -> str:
    response = client.get("/records/", query)
    assert response.status_code == 200
    return response.content.decode()


# ---------------------------------------------------------------------------- language


def test_english_page_words_statuses_dates_and_numbers(citizen: User, citizen_client: Client) -> None:
    store_example(citizen)
    page = Page(record_page(citizen_client))
    assert {"Active", "Stopped", "Completed", "Final", "Resolved"} <= set(page.badges)
    assert not {"active", "stopped", "completed", "final"} & set(page.badges)  # no raw codes
    assert "Oct. 31, 2023, 4:06 p.m." in page.dates  # 15:06 UTC in Copenhagen, Django's English format
    assert "May 25, 2016" in page.dates
    assert "91.5 kg" in page.details
    assert not ISO_TIMESTAMP.search(page.shown), ISO_TIMESTAMP.search(page.shown)


def test_danish_page_has_no_english_status_no_iso_timestamp_and_no_decimal_point(
    citizen: User, citizen_client: Client
) -> None:
    """Needs the compiled catalogue with the "record value" msgids (locale/da, `make messages`)."""
    store_example(citizen)
    to_danish(citizen_client)
    html = record_page(citizen_client)
    assert '<html lang="da">' in html
    page = Page(html)

    assert page.badges, "the demo record shows statuses"
    assert not set(page.badges) & ENGLISH_WORDS, set(page.badges) & ENGLISH_WORDS
    assert not {badge for badge in page.badges if badge.islower()}  # nor a raw code
    assert {"Aktiv", "Stoppet", "Afsluttet", "Endelig", "Overstået"} <= set(page.badges)
    assert not ISO_TIMESTAMP.search(page.shown), ISO_TIMESTAMP.search(page.shown)
    assert "31. oktober 2023 16:06" in page.dates
    assert "25. maj 2016" in page.dates
    measurements = " ".join(page.details)
    assert "91,5 kg" in measurements
    assert not DECIMAL_POINT.search(measurements), DECIMAL_POINT.search(measurements)
    # The Important panel uses the same words.
    panel = html[html.index('data-testid="important"') : html.index("</section>", html.index("important"))]
    assert "Aktiv" in panel
    assert "1. september 2021" in panel  # the advance directive's date


# ---------------------------------------------------------------------------- contents and filter


def contents_of(html: str) -> dict[str, str]:
    """Section key → the count text of its contents entry; each entry's link must jump to its section."""
    entries = re.findall(
        r'<li data-testid="contents-entry" data-contents="([a-z_]+)">'
        r'<a href="#section-([a-z_]+)">[^<]*</a>\s*'
        r'<span class="muted contents-count">([^<]*)</span>',
        html,
    )
    for key, target, _count in entries:
        assert key == target
        assert f'id="section-{key}"' in html
    return {key: unescape(count) for key, _target, count in entries}


def test_contents_list_names_every_section_with_its_count_and_a_jump_link(
    citizen: User, citizen_client: Client
) -> None:
    store_example(citizen)
    html = record_page(citizen_client)
    rows = StoredResource.objects.filter(owner=citizen).exclude(section="")
    expected = {key: rows.filter(section=key).count() for key in set(rows.values_list("section", flat=True))}

    contents = contents_of(html)
    assert set(contents) == set(expected)
    for key, count in expected.items():
        assert contents[key] == (f"{count} item" if count == 1 else f"{count} items"), key
    # Listed in the page's (IPS) order, after the Important panel and before the sections.
    keys = list(contents)
    assert keys == [key for key in SECTION_BY_KEY if key in expected]
    assert html.index('data-testid="important"') < html.index('data-testid="contents"')
    assert html.index('data-testid="contents"') < html.index('class="record-section"')


def test_text_filter_shows_matching_items_with_honest_counts(citizen: User, citizen_client: Client) -> None:
    store_example(citizen)
    html = record_page(citizen_client, q="covid-19 MRNA")
    contents = contents_of(html)

    assert contents["immunizations"] == "5 of 8 shown"  # the five COVID-19 doses of the eight vaccinations
    assert contents["problems"] == "0 of 3 shown"
    assert 'data-testid="filter-result"' in html
    items = StoredResource.objects.filter(owner=citizen).exclude(section="").count()
    assert f"5 of {items} items shown." in Page(html).shown
    immunizations = html[html.index('id="section-immunizations"') :]
    immunizations = immunizations[: immunizations.index("</section>")]
    assert immunizations.count('data-testid="record-item"') == 5
    assert "Influenza" not in immunizations
    assert "None of the items in this section match the filter." in html  # e.g. problems, still listed
    assert '<a href="/records/" class="secondary-button" data-testid="show-all">Show all</a>' in html
    assert 'value="covid-19 MRNA"' in html  # the form keeps what was typed
    # The Important panel never filters: the allergy is still first.
    panel = html[html.index('data-testid="important"') : html.index("</section>", html.index("important"))]
    assert "Penicillin" in panel
    assert panel.count('data-testid="important-item"') == 3


def test_text_filter_matches_statuses_and_details_in_the_page_language(
    citizen: User, citizen_client: Client
) -> None:
    store_example(citizen)
    contents = contents_of(record_page(citizen_client, q="stopped"))
    assert contents["medications"] == "1 of 3 shown"  # cilazapril, by its worded status
    contents = contents_of(record_page(citizen_client, q="deltoid"))
    assert contents["immunizations"] == "5 of 8 shown"  # by the body site detail


def test_date_filter_keeps_items_dated_within_the_period(citizen: User, citizen_client: Client) -> None:
    store_example(citizen)
    html = record_page(citizen_client, **{"from": "2024-01-01", "to": "2024-12-31"})
    contents = contents_of(html)
    assert contents["immunizations"] == "2 of 8 shown"  # 10 April and 18 February 2024
    assert contents["medications"] == "2 of 3 shown"  # lisinopril and Ultraproct, not cilazapril (2023)
    assert contents["vital_signs"] == "3 of 3 shown"
    assert contents["allergies"] == "0 of 1 shown"  # undated items are left out while a date is set
    assert "Items without a date are left out while a date is set." in html
    # An open period (a care plan until June 2017) counts as dated up to its end.
    assert contents_of(record_page(citizen_client, to="2017-12-31"))["plan_of_care"] == "1 of 1 shown"
    assert (
        contents_of(record_page(citizen_client, **{"from": "2018-01-01"}))["plan_of_care"] == "0 of 1 shown"
    )


def test_a_date_that_cannot_be_read_is_said_and_left_out(citizen: User, citizen_client: Client) -> None:
    store_example(citizen)
    html = record_page(citizen_client, **{"from": "31/12/2020"})
    assert 'data-testid="filter-date-error"' in html
    assert 'aria-invalid="true"' in html
    assert contents_of(html)["immunizations"] == "8 items"  # nothing else asked: the whole record


def test_show_all_is_the_page_without_a_filter(citizen: User, citizen_client: Client) -> None:
    store_example(citizen)
    html = record_page(citizen_client)
    assert 'data-testid="show-all"' not in html
    assert 'data-testid="filter-result"' not in html
    assert (
        html.count('data-testid="record-item"')
        == StoredResource.objects.filter(owner=citizen).exclude(section="").count()
    )


# ---------------------------------------------------------------------------- provenance


def test_the_source_and_fetch_time_are_said_once_and_without_a_double_full_stop(
    citizen: User, citizen_client: Client
) -> None:
    store_example(citizen)
    html = record_page(citizen_client)
    page = Page(html)

    items = StoredResource.objects.filter(owner=citizen).exclude(section="").count()
    assert page.shown.count("Example source") == 1  # in the list of data sources, not on every card
    assert 'data-testid="item-provenance"' not in html
    held = re.search(r'data-testid="source-held">([^<]*)<', html)
    assert held is not None
    assert held[1].startswith(f"{items} items in your record, fetched ")
    assert ".." not in page.shown


def test_with_two_sources_each_card_names_its_own(citizen: User, citizen_client: Client) -> None:
    store_example(citizen)
    second = DataSource.objects.create(
        name="Regional hospital", base_url="https://hospital.example/fhir", auth_mode=AuthMode.OPEN
    )
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": "asthma",
        "code": {"text": "Asthma"},
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "category": [{"coding": [{"code": "problem-list-item"}]}],
        "onsetDateTime": "2020-02-03",
    }
    stored_row(citizen, second, resource, now=timezone.now()).save()
    html = record_page(citizen_client)

    items = StoredResource.objects.filter(owner=citizen).exclude(section="").count()
    assert html.count('data-testid="item-provenance"') == items
    assert "From Regional hospital" in html
    assert html.count("From Example source") == items - 1
    assert ".." not in Page(html).shown
