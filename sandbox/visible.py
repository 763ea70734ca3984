"""Text from the child made safe to show: terminal controls become visible escapes.

The code's stdout, stderr, value and traceback reach a client that may render
them in a terminal: an escape sequence there can recolour or clear the screen,
set the clipboard (OSC 52), hide a link behind other text (OSC 8), or reorder
what the reader sees (bidi overrides). Every C0 and C1 control but newline and
tab, DEL, and the invisible format characters that steer layout are written
as `\\x1b` / `\\u202e` (a carriage return, which would overwrite the line, as
`\\r`), so the text is shown, never obeyed.
"""

from __future__ import annotations

import re

__all__ = ["visible"]

_UNSAFE = re.compile(
    "["
    "\x00-\x08\x0b-\x1f\x7f-\x9f"  # C0 but \t and \n, DEL, C1 (0x9b is a one-byte CSI)
    "\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069"  # bidi marks, embeddings, overrides, isolates
    "\u2028\u2029\u2060-\u2064\ufeff\ufff9-\ufffb"  # line separators, invisible operators, BOM
    "]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x0D:
        return "\\r"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` with every control or layout-steering character written as an escape."""
    return _UNSAFE.sub(_escape, text)
