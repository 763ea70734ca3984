"""Where a span sits in a whole JSON document: the line a bad record is reported at.

A document (one pretty-printed export, an OTLP request) is parsed whole, so the
parser gives no line numbers; the readers ask a `DocumentLocator` (a `Locate`
of `_source`) for the line of each span's id instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

__all__ = ["DocumentLocator"]


class DocumentLocator:
    """Line numbers inside a whole JSON document, found by searching for span ids.

    Spans are met in document order, so each search starts where the previous
    one matched and newlines are counted incrementally: linear in the document.
    `newlines`, the sorted offsets of the text's newlines when the caller has
    them, turns the counting into a binary search.
    """

    def __init__(self, text: str, first_line: int = 1, newlines: np.ndarray | None = None) -> None:
        self.text = text
        self.first_line = first_line
        self._newlines = newlines
        self._pos = 0
        self._line = first_line

    def line_at(self, pos: int) -> int:
        """The line of character offset `pos`."""
        if self._newlines is not None:
            self._pos = pos
            return self.first_line + int(self._newlines.searchsorted(pos))
        if pos < self._pos:
            self._pos, self._line = 0, self.first_line
        self._line += self.text.count("\n", self._pos, pos)
        self._pos = pos
        return self._line

    def __call__(self, key: str, value: Any, default: int) -> int:
        """The line where `"key": value` (an id as the source spells it) next appears, else `default`."""
        if value is None or value == "":
            return default
        needle = orjson.dumps(value).decode() if isinstance(value, str) else str(value)
        for start in (self._pos, 0):
            spaced = self._find(f'"{key}": {needle}', start, len(self.text))
            tight = f'"{key}":{needle}'  # looked for only before the spaced one: the first of the two counts
            at = self._find(tight, start, len(self.text) if spaced < 0 else spaced + len(tight))
            hits = [i for i in (spaced, at) if i >= 0]
            if hits:
                return self.line_at(min(hits))
        return default

    def _find(self, needle: str, start: int, stop: int) -> int:
        """str.find in [start, stop), skipping numeric matches that are the prefix of a longer number."""
        text = self.text
        while (at := text.find(needle, start, stop)) >= 0:
            end = at + len(needle)
            if not (needle[-1].isdigit() and end < len(text) and text[end].isdigit()):
                return at
            start = at + 1
        return -1
