"""The document's generated narratives, which the viewer shows: in the document's language, naming sources."""

import re
import uuid

import pytest

from portal.accounts.models import User
from sharing.document import document_build
from tests.sharing.conftest import store_example

ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
DECIMAL_POINT_MEASUREMENT = re.compile(r"\d\.\d+ ?[a-zA-Z%]")


def narratives(bundle: dict, codes: tuple[str, ...] = ()) -> str:
    sections = bundle["entry"][0]["resource"]["section"]
    return "\n".join(
        s["text"]["div"] for s in sections if not codes or s["code"]["coding"][0]["code"] in codes
    )


@pytest.mark.django_db
def test_a_danish_document_words_statuses_dates_and_numbers_in_danish(citizen: User) -> None:
    store_example(citizen)

    built = document_build(owner=citizen, document_id=uuid.uuid4(), language="da")

    assert built.problems == []
    text = narratives(built.bundle)
    assert "<td>Aktiv</td>" in text
    for english in (">active<", ">final<", ">completed<", ">Item<", ">Date<", ">Details<"):
        assert english not in text
    assert not ISO_MOMENT.search(text), ISO_MOMENT.search(text)
    # Measurements (the results and vital signs; a medicine's name may hold "0.5%" as the source wrote it).
    measured = narratives(built.bundle, codes=("30954-2", "8716-3"))
    assert re.search(r"\d,\d", measured)
    assert not DECIMAL_POINT_MEASUREMENT.search(measured), DECIMAL_POINT_MEASUREMENT.search(measured)


@pytest.mark.django_db
def test_an_english_document_words_them_in_english(citizen: User) -> None:
    store_example(citizen)

    built = document_build(owner=citizen, document_id=uuid.uuid4(), language="en")

    text = narratives(built.bundle)
    assert "<td>Active</td>" in text
    assert not ISO_MOMENT.search(text)


@pytest.mark.django_db
def test_every_section_with_items_names_the_source_they_came_from(citizen: User) -> None:
    source = store_example(citizen)

    built = document_build(owner=citizen, document_id=uuid.uuid4(), language="en")

    by_url = {entry["fullUrl"]: entry["resource"] for entry in built.bundle["entry"]}
    filled = [s for s in built.bundle["entry"][0]["resource"]["section"] if s.get("entry")]
    assert filled
    for section in filled:
        names = [by_url[author["reference"]].get("name") for author in section["author"]]
        assert names == [source.name], section["title"]
    assert built.source_names == [source.name]
