"""One plain line of typed text: what the reader sees is all there is."""

import pytest

from core.text import one_line


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("Dr. Holm", "Dr. Holm"),
        ("Dr.\u202e mloH", "Dr. mloH"),  # right-to-left override
        ("\u2066Dr\u2069 \u200dHolm\ufeff", "Dr Holm"),  # isolates, zero-width joiner, BOM
        ("Dr.\r\nHolm\x00", "Dr. Holm"),
        ("\u00a0Æble\u3000grød ", "Æble grød"),  # other spaces become one space
        ("", ""),
    ],
)
def test_one_line_drops_what_cannot_be_seen(text: str, line: str) -> None:
    assert one_line(text) == line


def test_one_line_cuts_at_the_limit() -> None:
    assert one_line("ab  cd", 4) == "ab c"
    assert one_line("ab cd", 3) == "ab"
