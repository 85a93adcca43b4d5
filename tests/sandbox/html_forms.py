"""A browser's part in the sandboxes' sign-in pages, over plain HTTP: read the forms, press a button by its
text, follow redirects while they stay on the sandbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import requests


@dataclass
class Form:
    action: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)  # (text, name, value)


class FormParser(HTMLParser):
    """The forms of a page, with their hidden fields and the text of their submit buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, Form] = {}
        self.title = ""
        self.buttons: list[tuple[str, str, str, str]] = []  # (text, form id or action, name, value)
        self._form: Form | None = None
        self._button: dict[str, str] | None = None
        self._text: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._form = Form(action=attributes.get("action", ""))
            self.forms[attributes.get("id") or f"#{len(self.forms)}"] = self._form
        elif tag == "input" and self._form is not None and attributes.get("type") == "hidden":
            self._form.fields[attributes["name"]] = attributes.get("value", "")
        elif tag == "button":
            self._button = attributes
            self._text = []
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "button" and self._button is not None:
            text = "".join(self._text).strip()
            owner = self._button.get("form") or next(
                (key for key, form in self.forms.items() if form is self._form), ""
            )
            self.buttons.append((text, owner, self._button.get("name", ""), self._button.get("value", "")))
            self._button = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._text.append(data)
        if self._in_title:
            self.title += data


def parse(html: str) -> FormParser:
    parser = FormParser()
    parser.feed(html)
    return parser


def press(browser: requests.Session, page: requests.Response, text: str) -> requests.Response:
    """Submit the form of the button whose text is exactly `text`, as a browser would."""
    parsed = parse(page.text)
    matching = [button for button in parsed.buttons if button[0] == text]
    assert len(matching) == 1, f"no single button {text!r} in {parsed.buttons}"
    _, owner, name, value = matching[0]
    form = parsed.forms[owner]
    data = dict(form.fields)
    if name:
        data[name] = value
    return browser.post(urljoin(page.url, form.action), data=data, allow_redirects=False, timeout=10)


def follow_on(browser: requests.Session, response: requests.Response, origin: str) -> requests.Response:
    """Follow redirects while they stay on `origin`; stop at the first that leaves it."""
    for _ in range(10):
        location = response.headers.get("Location")
        if response.status_code not in (302, 303) or location is None:
            return response
        target = urljoin(response.url, location)
        if not target.startswith(origin + "/"):
            return response
        response = browser.get(target, allow_redirects=False, timeout=10)
    raise AssertionError("too many redirects")
