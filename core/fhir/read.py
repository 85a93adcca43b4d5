"""Tolerant readers of FHIR JSON: upstream data mixes lists and single objects and can be odd in any field,
so nothing here trusts a type or raises."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

HISTORY: Final = "/_history/"


def mappings_of(value: object) -> Iterator[Mapping[str, Any]]:
    """The objects in a field that holds one object or a list of them; anything else is skipped.

    FHIR fields of cardinality 0..* arrive as lists, 0..1 ones as a single object, and upstream data
    mixes the two up: every reader in the core takes either.
    """
    if isinstance(value, Mapping):
        yield value
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, Mapping):
                yield item


def codes_of(value: object, system: str | None = None, *, or_no_system: bool = False) -> set[str]:
    """The codes of every coding in one or more CodeableConcepts, optionally of one system only (and, with
    ``or_no_system``, of codings that name no system)."""
    codes: set[str] = set()
    for concept in mappings_of(value):
        codings = concept.get("coding")
        if not isinstance(codings, list):
            continue
        for coding in codings:
            if not isinstance(coding, Mapping):
                continue
            code = coding.get("code")
            if not isinstance(code, str) or not code.strip():
                continue
            named = coding.get("system")
            if system is not None and named != system and not (or_no_system and named is None):
                continue
            codes.add(code.strip())
    return codes


def without_version(reference: str) -> str:
    """A reference or fullUrl without its version: ".../Patient/1/_history/2" → ".../Patient/1"."""
    return reference.split(HISTORY, 1)[0]


def text_of(value: object, limit: int | None = None) -> str | None:
    """A non-blank string with its whitespace collapsed (and cut to ``limit`` with an ellipsis), else None."""
    if not isinstance(value, str):
        return None
    collapsed = " ".join(value.split())
    if not collapsed:
        return None
    return clip(collapsed, limit) if limit is not None else collapsed


def clip(text: str, limit: int) -> str:
    """The text, cut to at most ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
