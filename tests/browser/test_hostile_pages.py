"""The hostile corpus (tests/hostile_corpus.py) in Chromium: on the record page and in the clinician viewer,
nothing runs (``window.__pwned`` stays undefined, no dialog opens), nothing loads (the attacker's server sees
no request) and the text around every payload is still there.

Every check runs twice: as served, with the page's Content-Security-Policy, and with the policy switched off
(Playwright's ``bypass_csp``), so the sanitiser (nh3 on the record page, DOMPurify in the viewer) is proven
on its own too, not only behind the second wall.
"""

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from portal.accounts.models import User
from portal.jobs.models import JobStatus
from sharing.document import document_build
from tests.browser.conftest import CHROMIUM_ARGS
from tests.browser.test_login_and_job_page import sign_in
from tests.hostile_corpus import (
    NARRATIVE_VECTORS,
    AttackerServer,
    attacker_server,
    fill,
    foreign_document,
    marked_numbers,
    marked_text,
    narrative_markers,
    patient_name,
    serve_hostile_record,
    text_vector,
)
from tests.records.conftest import link_identifier, make_source, pull_now
from tests.records.fake_upstream import FakeUpstream
from tests.sharing.clinician.foreign_shl import (
    ForeignShlServer,
    b64url_decode,
    encrypt_json,
    new_key,
    running_foreign_shl_server,
    shlink,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Every event an inline handler of the corpus listens for, sent to every element of the hostile content.
# A click on a link with an http(s) or mailto target is left out (it would only leave the page); a link to
# anything else is clicked, so a javascript: URL that survived would run.
FIRE_EVENTS = """(selector) => {
  const types = ["mouseover", "mouseenter", "mousemove", "mousedown", "mouseup", "click", "dblclick",
    "focus", "focusin", "blur", "load", "error", "toggle", "begin", "start", "animationstart",
    "transitionend", "input", "change", "keydown", "pointerover", "pointerdown", "wheel", "scroll", "copy"];
  let sent = 0;
  for (const element of document.querySelectorAll(`${selector}, ${selector} *`)) {
    for (const type of types) {
      const link = element.closest("a[href]");
      if (type === "click" && link && /^(https?|mailto):$/.test(link.protocol)) continue;
      element.dispatchEvent(new MouseEvent(type, { bubbles: true, cancelable: true }));
      sent += 1;
    }
    if (typeof element.focus === "function") element.focus();
  }
  document.querySelectorAll("details").forEach((details) => { details.open = true; });
  window.scrollTo(0, document.body.scrollHeight);
  return sent;
}"""

# What the content left in the page: elements that run or load, handler and style attributes, link targets.
SURVEY = """(selector) => {
  const scope = [...document.querySelectorAll(selector)];
  const inside = scope.flatMap((root) => [root, ...root.querySelectorAll("*")]);
  const unwanted = "script, iframe, frame, object, embed, svg, math, style, link, meta, base, form, input, " +
    "button, textarea, select, video, audio, source, picture, template, noscript, marquee, image";
  return {
    unwanted: scope.flatMap((root) => [...root.querySelectorAll(unwanted)].map((e) => e.outerHTML)),
    handlers: [...document.querySelectorAll("*")].flatMap((e) =>
      [...e.attributes].filter((a) => a.name.startsWith("on")).map((a) => `${e.tagName} ${a.name}`)),
    styled: inside.filter((e) => e.hasAttribute("style")).map((e) => e.outerHTML),
    sources: inside.filter((e) => e.hasAttribute("src") || e.hasAttribute("srcset") ||
      e.hasAttribute("background") || e.hasAttribute("ping")).map((e) => e.outerHTML),
    links: inside.filter((e) => e.matches("a[href]")).map((e) => e.protocol),
    pwned: typeof window.__pwned,
    location: location.href,
  };
}"""


@pytest.fixture
def attacker() -> Iterator[AttackerServer]:
    with attacker_server() as server:
        yield server


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream()
    yield server
    server.stop()


@pytest.fixture
def browser(chromium_path: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    monkeypatch.setitem(os.environ, "DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Watched:
    """A page in a fresh context, with every dialog it opens recorded (and dismissed)."""

    def __init__(self, browser: Any, *, bypass_csp: bool) -> None:
        self.context = browser.new_context(locale="en-GB", bypass_csp=bypass_csp)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.dialogs: list[str] = []
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def provoke_and_survey(self, selector: str, content: str) -> dict[str, Any]:
        """Fire every event at everything under ``selector``, then survey the upstream ``content``."""
        assert self.page.evaluate(FIRE_EVENTS, selector) > 10_000
        self.page.wait_for_timeout(800)  # for lazy images, timers, refreshes, frames
        survey: dict[str, Any] = self.page.evaluate(SURVEY, content)
        return survey

    def close(self) -> None:
        self.context.close()


def assert_inert(
    watched: Watched,
    survey: dict[str, Any],
    attacker: AttackerServer,
    url: str,
    leftovers: frozenset[str] = frozenset(),
) -> None:
    assert survey["pwned"] == "undefined"
    assert watched.dialogs == []
    assert attacker.hits == []
    assert survey["location"] == url
    unwanted = [element for element in survey["unwanted"] if element not in leftovers]
    assert unwanted == [], "\n".join(unwanted)
    assert survey["handlers"] == []
    assert survey["styled"] == []
    assert survey["sources"] == []
    assert set(survey["links"]) <= {"https:", "http:", "mailto:"}


def hostile_record(upstream: FakeUpstream, citizen: User, attacker: AttackerServer) -> None:
    link_identifier(citizen)
    make_source(upstream.base_url, name="Regional endpoint")
    expected = serve_hostile_record(upstream, attacker.origin)
    job, pull = pull_now(citizen)
    assert job.status == JobStatus.SUCCEEDED, job.detail
    assert pull.skipped_invalid == 0
    assert pull.added == expected


@pytest.mark.parametrize("bypass_csp", [False, True], ids=["with-csp", "sanitiser-alone"])
def test_the_record_page_shows_the_corpus_inert(
    browser: Any,
    live_server: Any,
    upstream: FakeUpstream,
    citizen: User,
    attacker: AttackerServer,
    bypass_csp: bool,
) -> None:
    hostile_record(upstream, citizen, attacker)
    watched = Watched(browser, bypass_csp=bypass_csp)
    try:
        page = watched.page
        sign_in(page, live_server.url, citizen.email)
        records = f"{live_server.url}/records/"
        page.goto(records)
        survey = watched.provoke_and_survey(".record-item", ".record-item")
        assert_inert(watched, survey, attacker, records)

        text = page.locator("main").inner_text()
        for number, vector in enumerate(NARRATIVE_VECTORS, start=1):
            before, after = narrative_markers(number)
            assert f"{before} before" in text, vector.name
            if vector.keeps_rest:
                assert f"{after} after" in text, vector.name
        for number in marked_numbers():
            assert marked_text(attacker.origin, number) in text, number
    finally:
        watched.close()


@pytest.fixture
def foreign() -> Iterator[ForeignShlServer]:
    with running_foreign_shl_server() as server:
        yield server


@pytest.mark.parametrize("bypass_csp", [False, True], ids=["with-csp", "sanitiser-alone"])
def test_the_viewer_shows_the_corpus_inert(
    browser: Any,
    live_server: Any,
    upstream: FakeUpstream,
    citizen: User,
    attacker: AttackerServer,
    foreign: ForeignShlServer,
    bypass_csp: bool,
) -> None:
    """Two documents in one link: ours, made from the hostile record (generated narrative, escaped text),
    and another party's with the narrative corpus as it came, in a section narrative each."""
    hostile_record(upstream, citizen, attacker)
    ours = document_build(owner=citizen, document_id=uuid.uuid4())
    assert ours.problems == []
    theirs = foreign_document(attacker.origin)
    key = new_key()
    files = [
        {"contentType": "application/fhir+json", "embedded": encrypt_json(document, b64url_decode(key))}
        for document in (ours.bundle, theirs)
    ]
    manifest = foreign.add_manifest("/manifests/hostile", files)
    label = fill("<img src={A}/label.png onerror={J}>", attacker.origin, 0)
    viewer = f"{live_server.url}/viewer/"

    watched = Watched(browser, bypass_csp=bypass_csp)
    try:
        page = watched.page
        page.goto(f"{viewer}#{shlink({'url': manifest, 'key': key, 'label': label})}")
        assert page.get_by_test_id("link-label").inner_text() == label
        page.get_by_test_id("recipient-input").fill(fill("<b>Dr. {J}</b>", attacker.origin, 0))
        page.get_by_test_id("open-button").click()
        page.get_by_test_id("document").nth(1).wait_for()
        survey = watched.provoke_and_survey("[data-testid=viewer-result]", "[data-testid=narrative]")
        assert_inert(watched, survey, attacker, viewer, frozenset())

        documents = page.get_by_test_id("document")
        ours_text, theirs_text = documents.nth(0).inner_text(), documents.nth(1).inner_text()
        for number in marked_numbers():
            assert marked_text(attacker.origin, number) in ours_text, number
        for number, vector in enumerate(NARRATIVE_VECTORS, start=1):
            before, after = narrative_markers(number)
            assert f"{before} {text_vector(attacker.origin, number)}" in theirs_text, vector.name  # its title
            assert f"{before} before" in theirs_text, vector.name
            if vector.keeps_rest:
                assert f"{after} after" in theirs_text, vector.name
        assert page.get_by_test_id("patient-name").nth(0).inner_text() == patient_name(attacker.origin)
        assert page.get_by_test_id("patient-name").nth(1).inner_text() == patient_name(attacker.origin)
        title = theirs["entry"][0]["resource"]["title"]
        assert page.get_by_test_id("document-title").nth(1).inner_text() == title
    finally:
        watched.close()
