"""A link to a very large record: its PDF is the bounded summary a download gives, its FHIR document whole."""

import base64
import subprocess
from typing import Any

import pytest
from django.test import Client

from portal.accounts.models import User
from tests.jobs.real_processes import store_large_record
from tests.sharing.conftest import store_example
from tests.sharing.exports.test_bounded_export import problems_in
from tests.sharing.links.test_shares import link_of, make_share, open_files

pytestmark = pytest.mark.django_db


def test_a_shared_pdf_is_bounded_and_the_shared_document_complete(
    citizen_client: Client, citizen: User, settings: Any
) -> None:
    settings.PDF_MAX_ROWS_PER_SECTION = 4
    store_large_record(citizen, source=store_example(citizen), conditions=10)
    share = make_share(citizen_client)

    files = open_files(citizen_client, link_of(citizen_client, share))

    assert problems_in(files["Bundle"]) == 10 + 3  # the document: every problem
    pdf = base64.b64decode(files["DocumentReference"]["content"][0]["attachment"]["data"])
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    text = " ".join(text.split())
    assert "This PDF summarises a very large record" in text
    assert "9 more entries of this section are left out of this PDF." in text
