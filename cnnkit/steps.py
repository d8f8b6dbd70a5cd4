"""The step language shared by ``cnnkit stack`` (image steps) and ``--arch`` (network layers).

Both read ``step | step | ...``, a step being a word and its arguments separated by spaces
(``maxpool 2``, ``conv 32 3 relu``); sizes are ``N`` or ``HxW`` and options ``key=value``.
Syntax errors name the character position and what was expected, in the same words for both.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_TOKEN = re.compile(r"\s*(?:(?P<sep>[|,])|(?P<word>[^\s|,]+))")


def tokens(text: str) -> Iterator[tuple[str, str, int]]:
    """(kind, text, 1-based position) for each token; kind is "sep" ('|' or ',') or "word"."""
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:  # only trailing spaces are left
            return
        kind = "sep" if match.group("sep") else "word"
        yield kind, match.group(kind), match.start(kind) + 1
        position = match.end()


def syntax_message(language: str, position: int, found: str, expected: str,
                   hint: str = "") -> str:
    """``"<language> syntax, at character 12: expected X, found 'Y'"`` (hint appended)."""
    shown = found if len(found) <= 40 else found[:37] + "..."
    what = f"'{shown}'" if found else "the end"
    return f"{language} syntax, at character {position}: expected {expected}, found {what}{hint}"


def parse_pair(token: str) -> tuple[int, int] | None:
    """``"3"`` -> (3, 3), ``"2x3"`` -> (2, 3); None unless both are whole numbers >= 1."""
    match = re.fullmatch(r"(\d{1,6})(?:x(\d{1,6}))?", token)
    if not match:
        return None
    first = int(match.group(1))
    pair = (first, int(match.group(2) or first))
    return pair if min(pair) >= 1 else None
