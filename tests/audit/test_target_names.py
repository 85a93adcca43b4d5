"""The activity page names what a row is about through the apps' describers: a link's label, a summary's
format, the data source of a pull or a connection; never another citizen's."""

from typing import Any

import pytest
from django.test import Client

from portal.accounts.models import User
from portal.audit.models import Action
from portal.audit.services import audit_record
from portal.records.models import Connection
from portal.records.services import pull_start
from sharing.exports.services import export_create
from sharing.links.services import share_create
from tests.records.conftest import link_identifier, make_source

pytestmark = pytest.mark.django_db


def about_cells(page: str) -> list[str]:
    return [
        part.split("</td>", 1)[0].removeprefix(">") for part in page.split('data-testid="activity-about"')[1:]
    ]


def test_links_summaries_and_sources_are_named(citizen_client: Client, citizen: User, settings: Any) -> None:
    settings.PORTAL_ORIGIN = "http://testserver"
    source = make_source("http://127.0.0.1:9/fhir", name="Regional lab")
    link_identifier(citizen)
    pull_start(owner=citizen)  # connects the source, starts a pull: both rows name the source
    share_create(owner=citizen, expires_in=86400, origin="http://testserver", label="For Dr Holm")
    share_create(owner=citizen, expires_in=86400, origin="http://testserver")
    export = export_create(owner=citizen, export_format="pdf")
    audit_record(action=Action.EXPORT_DOWNLOADED, owner=citizen, actor=citizen, target=export)

    page = citizen_client.get("/activity/").content.decode()

    cells = about_cells(page)
    assert "For Dr Holm" in cells
    assert any(cell.startswith("Link made ") for cell in cells), cells  # the unlabelled link, by its date
    assert "Summary: PDF to read and print" in cells
    assert cells.count("Regional lab") == 2  # source connected, fetching started
    assert Connection.objects.get(owner=citizen).source == source


def test_another_citizens_link_is_not_named(
    citizen_client: Client, citizen: User, other_citizen: User
) -> None:
    theirs = share_create(
        owner=other_citizen, expires_in=86400, origin="http://testserver", label="Secret label"
    )
    # A row of the citizen's own trail that names someone else's link (it cannot happen; the describer must
    # still look among the citizen's own rows only).
    audit_record(action=Action.SHARE_PAUSED, owner=citizen, actor=citizen, target=theirs)

    page = citizen_client.get("/activity/").content.decode()

    assert 'data-action="share.paused"' in page
    assert "Secret label" not in page


def test_the_names_are_danish_on_a_danish_page(citizen: User, settings: Any) -> None:
    share_create(owner=citizen, expires_in=86400, origin="http://testserver")
    export = export_create(owner=citizen, export_format="json")
    audit_record(action=Action.EXPORT_DOWNLOADED, owner=citizen, actor=citizen, target=export)
    client = Client()
    client.force_login(citizen)
    client.post("/language/", {"language": "da", "next": "/"})

    page = client.get("/activity/").content.decode()

    assert "<h1>Aktivitet</h1>" in page
    assert "Link oprettet " in page
    assert "Resumé: FHIR-dokument (JSON)" in page
