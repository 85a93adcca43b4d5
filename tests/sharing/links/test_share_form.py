"""The share form: the passcode typed twice and never shown again, the "include" choices, required sections
always in, and the plain words on the page. Jobs run through ``job_run``, as a worker would."""

import re

import pytest
from django.test import Client

from portal.accounts.models import User
from portal.jobs.models import Job
from portal.jobs.services import job_run
from portal.records.models import StoredResource
from sharing.links.services import passcode_matches
from sharing.models import Share
from tests.sharing.conftest import store_example
from tests.sharing.exports.form_fields import form_on

pytestmark = pytest.mark.django_db

DAY = 24 * 60 * 60
PASSCODE = "Sesame-4711"
IMMUNIZATIONS = "11369-6"


@pytest.fixture
def patricia(citizen: User) -> User:
    store_example(citizen)
    return citizen


def test_two_different_passcodes_show_the_form_again_with_the_error_and_make_nothing(
    citizen_client: Client, patricia: User
) -> None:
    response = citizen_client.post(
        "/shares/",
        {"expires_in": DAY, "passcode": PASSCODE, "passcode_again": "Sesame-4712", "label": "For Dr Holm"},
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert not Share.objects.exists()
    assert not Job.objects.exists()
    # The error sits next to the second entry, which points at it; the choices stay, the passcodes do not.
    field = re.search(r'<input id="share-passcode-again"[^>]*>', page)
    assert field
    assert 'aria-invalid="true"' in field.group(0)
    assert 'aria-describedby="share-passcode-error"' in field.group(0)
    assert re.search(r'id="share-passcode-error"[^>]*>The two passcodes are not the same\.', page)
    assert 'value="For Dr Holm"' in page
    assert PASSCODE not in page
    assert "Sesame-4712" not in page


def test_a_passcode_typed_twice_alike_makes_the_link(citizen_client: Client, patricia: User) -> None:
    response = citizen_client.post(
        "/shares/", {"expires_in": DAY, "passcode": PASSCODE, "passcode_again": PASSCODE}
    )

    share = Share.objects.get()
    assert response["Location"] == f"/shares/{share.id}/"
    assert passcode_matches(share, PASSCODE)
    assert PASSCODE not in share.passcode_hash


def test_an_outside_client_without_the_second_entry_still_gets_its_passcode_link(
    citizen_client: Client, patricia: User
) -> None:
    response = citizen_client.post("/shares/", {"expires_in": DAY, "passcode": PASSCODE, "label": "script"})

    assert response.status_code == 302
    assert passcode_matches(Share.objects.get(), PASSCODE)


def test_the_share_page_says_a_passcode_protects_it_and_never_shows_the_passcode(
    citizen_client: Client, patricia: User
) -> None:
    citizen_client.post("/shares/", {"expires_in": DAY, "passcode": PASSCODE, "passcode_again": PASSCODE})
    share = Share.objects.get()
    job_run(job_id=share.job_id)

    for url in (f"/shares/{share.id}/", "/shares/"):
        page = citizen_client.get(url).content.decode()
        assert PASSCODE not in page
    detail = citizen_client.get(f"/shares/{share.id}/").content.decode()
    assert "Protected with a passcode you chose." in detail
    assert "Yes (" not in detail


def test_the_form_offers_a_show_toggle_and_a_second_entry(citizen_client: Client, patricia: User) -> None:
    page = citizen_client.get("/shares/").content.decode()

    assert re.search(r'<button type="button"[^>]*aria-pressed="false"[^>]*data-passcode-toggle', page)
    assert 'name="passcode_again"' in page
    assert '<label for="share-passcode-again">Type the passcode again</label>' in page
    assert 'src="/static/js/passcode.js"' in page
    assert "<script>" not in page  # no inline script: the Content-Security-Policy allows none


def test_an_unticked_item_is_left_out_of_the_link_and_required_sections_are_in(
    citizen_client: Client, patricia: User
) -> None:
    left_out = StoredResource.objects.filter(owner=patricia, section="immunizations").first()
    assert left_out is not None
    form = form_on(citizen_client.get("/shares/").content.decode(), "share-form")
    form.set("scope", "choose", checked=True)
    form.set("include", str(left_out.pk), checked=False)
    for box in form.boxes:
        if box["name"] == "sections" and not box["disabled"] and box["value"] != IMMUNIZATIONS:
            box["checked"] = False

    response = citizen_client.post("/shares/", form.sent())

    assert response.status_code == 302, response.content[:600]
    share = Share.objects.get()
    assert share.excluded_items == [left_out.pk]
    assert share.sections == sorted(["problems", "allergies", "medications", "immunizations"])


def test_an_outside_post_of_sections_alone_leaves_no_item_out(citizen_client: Client, patricia: User) -> None:
    response = citizen_client.post("/shares/", {"expires_in": DAY, "sections": [IMMUNIZATIONS]})

    assert response.status_code == 302
    share = Share.objects.get()
    assert share.excluded_items == []
    assert set(share.sections) == {"problems", "allergies", "medications", "immunizations"}


def test_the_page_speaks_plainly(citizen_client: Client, patricia: User) -> None:
    page = citizen_client.get("/shares/").content.decode()
    main = re.sub(r'<(p|span) class="fine-print">.*?</\1>', "", page, flags=re.S)

    assert "a link for a health professional" in main
    assert "SMART Health Link" not in main
    assert "SMART Health Link" in page  # in small print, for those who look for it
