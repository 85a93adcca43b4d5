"""Text a person typed that others will read (a link's label, a recipient's name): one plain line."""


def one_line(text: str, limit: int | None = None) -> str:
    """The text on one line with nothing hidden in it: whitespace of any kind becomes one space, and
    characters that are not printable are dropped (NUL and other controls, bidi overrides such as U+202E that
    make text read backwards, zero-width characters); cut to ``limit`` characters."""
    spaced = "".join(" " if char.isspace() else char for char in text)
    printable = "".join(char for char in spaced if char.isprintable())
    collapsed = " ".join(printable.split())
    return collapsed[:limit].rstrip() if limit is not None else collapsed
