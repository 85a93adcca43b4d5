"""Accessibility and layout checks for pages open in Chromium.

axe-core (the npm package pinned in package.json, installed by ``make setup``) is injected into the page
and run against the WCAG 2.1 A and AA rules; nothing is downloaded at test time.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

AXE_SCRIPT = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PHONE_WIDTHS = (320, 390)
DESKTOP = {"width": 1280, "height": 900}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@functools.cache
def _axe_source() -> str:
    return AXE_SCRIPT.read_text(encoding="utf-8")


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """The WCAG 2.1 A/AA violations axe-core finds on the page as it is now (an empty list when none)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated over the DevTools protocol, so the portal's Content-Security-Policy (no inline
        # scripts) stays as it is for the page under test.
        page.evaluate(_axe_source())
    result = page.evaluate(
        "async (tags) => await window.axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})",
        WCAG_21_AA,
    )
    return list(result["violations"])


def describe(violations: list[dict[str, Any]]) -> str:
    """A readable list of violations for an assertion message: rule, impact, and the first nodes."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation.get('impact')}): {violation['help']}")
        for node in violation["nodes"][:4]:
            lines.append(f"    {node['target']}: {node.get('failureSummary', '')[:300]!r}")
    return "\n".join(lines)


def sideways_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the viewport (0 when it does not scroll sideways)."""
    return int(page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"))


def widest_elements(page: Any) -> str:
    """The elements that reach past the viewport's right edge, for an assertion message."""
    found = page.evaluate(
        """() => {
          const limit = window.innerWidth;
          return [...document.querySelectorAll('body *')]
            .filter((el) => el.getBoundingClientRect().right > limit + 1)
            .slice(0, 6)
            .map((el) => {
              const named = typeof el.className === 'string' && el.className;
              const classes = named ? '.' + el.className.split(' ').join('.') : '';
              return `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${classes}` +
                ` right=${Math.round(el.getBoundingClientRect().right)}`;
            });
        }"""
    )
    return json.dumps(found)


def screenshot_name(name: str, language: str, width: int) -> Path:
    """Where a page's screenshot goes: var/screenshots/<name>-<language>-<width>.png."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{slug}-{language}-{width}.png"


def check_page(page: Any, name: str, language: str, *, screenshot: bool = True) -> list[str]:
    """Axe at desktop and 390 px, sideways scrolling at 320 and 390 px: the problems found, as text.

    The page is left at desktop width. Screenshots of both widths go under var/screenshots/.
    """
    problems = []
    page.set_viewport_size(DESKTOP)
    violations = axe_violations(page)
    if violations:
        problems.append(f"{name} [{language}, desktop]:\n{describe(violations)}")
    if screenshot:
        page.screenshot(path=str(screenshot_name(name, language, DESKTOP["width"])), full_page=True)
    for width in PHONE_WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        overflow = sideways_overflow(page)
        if overflow > 0:
            problems.append(
                f"{name} [{language}, {width} px] scrolls sideways by {overflow} px: {widest_elements(page)}"
            )
        if width == 390:
            violations = axe_violations(page)
            if violations:
                problems.append(f"{name} [{language}, 390 px]:\n{describe(violations)}")
            if screenshot:
                page.screenshot(path=str(screenshot_name(name, language, width)), full_page=True)
    page.set_viewport_size(DESKTOP)
    return problems
