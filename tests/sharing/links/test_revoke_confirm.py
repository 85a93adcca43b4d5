"""Revoking a link cannot be undone: the citizen is told so and asked first, and told afterwards."""

import pytest
from django.test import Client

from portal.accounts.models import User
from sharing.links.services import ShareStatus, share_status
from tests.sharing.links.test_shares import make_share, patricia  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db


def test_revoke_asks_first_and_the_page_then_says_the_link_is_revoked(
    citizen_client: Client,
    patricia: User,  # noqa: F811
) -> None:
    share = make_share(citizen_client)
    detail = citizen_client.get(f"/shares/{share.id}/").content.decode()
    # The control is a way to the question, not a form that revokes at once.
    assert f'href="/shares/{share.id}/revoke/" data-testid="revoke"' in detail
    assert f'action="/shares/{share.id}/revoke/"' not in detail

    question = citizen_client.get(f"/shares/{share.id}/revoke/")
    assert question.status_code == 200
    page = question.content.decode()
    assert "Revoke this link?" in page
    assert "This cannot be undone" in page
    assert 'data-testid="confirm-revoke"' in page
    assert f'href="/shares/{share.id}/" data-testid="keep-link"' in page
    share.refresh_from_db()
    assert share_status(share) == ShareStatus.ACTIVE  # asking changed nothing

    done = citizen_client.post(f"/shares/{share.id}/revoke/", follow=True)
    html = done.content.decode()
    assert done.redirect_chain == [(f"/shares/{share.id}/", 302)]
    assert "The link is revoked: nobody can open it any more" in html
    assert 'data-testid="share-revoked-at"' in html
    assert "Works until" not in html
    assert 'data-testid="revoke"' not in html
    share.refresh_from_db()
    assert share_status(share) == ShareStatus.REVOKED


def test_another_citizens_revoke_question_is_a_404(
    citizen_client: Client,
    patricia: User,  # noqa: F811
    other_citizen: User,
) -> None:
    share = make_share(citizen_client)
    stranger = Client()
    stranger.force_login(other_citizen)
    assert stranger.get(f"/shares/{share.id}/revoke/").status_code == 404
    assert stranger.post(f"/shares/{share.id}/revoke/").status_code == 404
    share.refresh_from_db()
    assert share_status(share) == ShareStatus.ACTIVE


def test_only_revoking_has_a_question_page(citizen_client: Client, patricia: User) -> None:  # noqa: F811
    share = make_share(citizen_client)
    assert citizen_client.get(f"/shares/{share.id}/pause/").status_code == 404
    assert citizen_client.post(f"/shares/{share.id}/pause/").status_code == 302
