"""A form on a rendered page, read as a browser would send it (for tests of the download and share forms)."""

from html.parser import HTMLParser
from typing import Any


class FormFields(HTMLParser):
    """The inputs of one form (by data-testid) as a browser sends them: hidden ones, and ticked boxes and
    radios that are not disabled. ``boxes`` keeps every input with its state, to change before sending."""

    def __init__(self, testid: str) -> None:
        super().__init__()
        self.testid, self.inside = testid, False
        self.boxes: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "form":
            self.inside = named.get("data-testid") == self.testid
        if (
            tag == "input"
            and self.inside
            and named.get("name")
            and named.get("name") != "csrfmiddlewaretoken"
        ):
            self.boxes.append(
                {
                    "name": named["name"],
                    "value": named.get("value", ""),
                    "type": named.get("type", "text"),
                    "checked": "checked" in named,
                    "disabled": "disabled" in named,
                }
            )

    def sent(self) -> dict[str, list[str]]:
        fields: dict[str, list[str]] = {}
        for box in self.boxes:
            if box["disabled"] or (box["type"] in ("checkbox", "radio") and not box["checked"]):
                continue
            if box["type"] == "password":
                continue
            fields.setdefault(box["name"], []).append(box["value"])
        return fields

    def set(self, name: str, value: str, *, checked: bool) -> None:
        for box in self.boxes:
            if box["name"] == name and (box["value"] == value or box["type"] == "radio"):
                box["checked"] = (box["value"] == value) if box["type"] == "radio" else checked


def form_on(page: str, testid: str) -> FormFields:
    parser = FormFields(testid)
    parser.feed(page)
    assert parser.boxes, f"no form {testid}"
    return parser
