"""The page shell every viewer page shares: one self-contained HTML document.

Styles and the script are package data files (`assets/`), inlined, so a page
needs no network and works from `file://`. A Content-Security-Policy meta tag
allows nothing but that one style sheet and that one script, named by their
SHA-256 hashes: even if trace text ever slipped into the markup as a tag, no
injected script, handler attribute, `javascript:` URL or remote fetch could run.
Trace data travels as JSON in a `<script type="application/json">` block (data,
never executed) with `<`, `>`, `&` and U+2028/2029 escaped, and the script puts
it on the page as text nodes only. Server-side markup escapes with `html.escape`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from html import escape
from importlib import resources
from typing import Any

__all__ = ["page", "json_block", "asset", "csp", "esc"]

_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def esc(text: Any) -> str:
    """Text for HTML content or a quoted attribute value."""
    return escape("" if text is None else str(text), quote=True)


@cache
def asset(name: str) -> str:
    """A file of `engine/viewer/assets/` as text."""
    return (resources.files("engine.viewer") / "assets" / name).read_text("utf-8")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def csp(style: str, script: str) -> str:
    """The policy: only these exact inline blocks; images only as data: URIs; no fetches, frames or forms elsewhere."""
    return (
        f"default-src 'none'; style-src {_sha256(style)}; script-src {_sha256(script)}; "
        "img-src data:; base-uri 'none'; form-action 'self'"
    )


def json_block(data: Any) -> str:
    """`data` as JSON safe inside `<script type="application/json">` (no `</script>`, no `<!--`)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)
    for char, replacement in _JSON_ESCAPES.items():
        text = text.replace(char, replacement)
    return text


def page(title: str, body: str, data: Any) -> str:
    """A whole document: `body` is markup already escaped by its maker; `data` is what the script draws."""
    style, script = asset("viewer.css"), asset("viewer.js")
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{esc(csp(style, script))}\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta name=\"referrer\" content=\"no-referrer\">"
        f"<title>{esc(title)}</title><style>{style}</style></head>\n"
        f"<body>{body}\n"
        f"<script type=\"application/json\" id=\"halo-data\">{json_block(data)}</script>\n"
        f"<script>{script}</script></body></html>\n"
    )
