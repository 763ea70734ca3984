"""Which trace shape a file holds, judged from its first records.

Detection reads at most `HEAD_BYTES` of (decompressed) content. It parses the
first JSON value it can - the first line (JSONL), or the whole head when the
file is one small document - and classifies it by its keys; a big pretty-printed
document that does not fit the head is classified by the key names it shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from engine.errors import DatasetError, UnknownShapeError
from engine.traces.readers._registry import BY_PRIORITY, SUPPORTED_SHAPES_TEXT
from engine.traces.readers._source import read_head

__all__ = ["EMPTY_FILE_SHAPE", "HEAD_BYTES", "detect_document", "detect_shape", "classify", "sniff_layout_is_lines"]

HEAD_BYTES = 1 << 20
# How many leading non-blank lines may fail to parse before a file is judged not JSONL.
PROBE_LINES = 5
# What an empty (or all-blank) file is read as: any shape gives no spans; this one
# lets it grow into JSONL lines.
EMPTY_FILE_SHAPE = "halo"


def classify(value: Any, depth: int = 0) -> str | None:
    """The shape of one parsed JSON value (a record, a list of records or a wrapper), or None."""
    if depth > 3:
        return None
    if isinstance(value, list):
        for item in value[:3]:
            found = classify(item, depth + 1)
            if found:
                return found
        return None
    if not isinstance(value, dict):
        return None
    for shape in BY_PRIORITY:
        if shape.claims(value):
            return shape.name
    for key in ("spans", "data", "traces", "items"):  # wrappers: any-agent, agents SDK list, TRAIL
        inner = value.get(key)
        if isinstance(inner, list) and inner:
            found = classify(inner, depth + 1)
            if found:
                return found
    return None


def _first_lines(text: str, n: int) -> list[str]:
    """The first `n` non-blank lines, stripped (found line by line: a head may hold thousands)."""
    out: list[str] = []
    start, size = 0, len(text)
    while start <= size and len(out) < n:
        stop = text.find("\n", start)
        if stop < 0:
            stop = size
        line = text[start:stop].strip()
        if line:
            out.append(line)
        start = stop + 1
    return out


def _parses(line: str) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


def _container(line: str) -> Any:
    """The object or list a stripped line parses to, else None (what detection asks of a line).

    Only a line that starts with `{` or `[` and ends with `}` or `]` can be one: the
    other lines of a pretty document are not handed to the parser to fail.
    """
    if line[0] in "{[" and line[-1] in "}]":
        return _parses(line)
    return None


def sniff_layout_is_lines(head: str) -> bool:
    """True when the content is JSONL (one value per line) rather than one document.

    The first line parsing on its own decides it; a pretty document starts with a
    lone `{` or `[` that never does. A first line that is neither (a corrupt first
    record) counts as JSONL when one of the next lines parses.
    """
    lines = _first_lines(head, PROBE_LINES + 1)
    if not lines:
        return True
    if isinstance(_container(lines[0]), (dict, list)):
        return True
    if lines[0] in ("{", "[") or lines[0].startswith(("[{", "[\n", "{\n")) or lines[0].endswith(("{", "[")):
        return False
    return any(isinstance(_container(ln), dict) for ln in lines[1:])


def _decoded(head: bytes, path: Path) -> str:
    if b"\x00" in head:
        raise UnknownShapeError(
            f"{path} is a binary file (it contains NUL bytes), not a trace file. {SUPPORTED_SHAPES_TEXT}"
        )
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a character cut by the head limit
            return head[: exc.start].decode("utf-8")
        raise UnknownShapeError(
            f"{path} is not UTF-8 text (undecodable byte at offset {exc.start}), so it is not a trace file. "
            f"{SUPPORTED_SHAPES_TEXT}"
        ) from None


def detect_shape(path: Path, head: bytes | None = None) -> str:
    """The name of one of the registry's `SHAPES` for the file at `path`; an empty file
    reads as `EMPTY_FILE_SHAPE` (no spans).

    `head` is the file's first `HEAD_BYTES` when the caller has read them already
    (a plain file: what `read_head` gives), so the file is not read again.
    Raises UnknownShapeError naming the supported shapes for binary content,
    text that is not JSON, and JSON that matches no shape.
    """
    path = Path(path)
    if head is not None:
        head_bytes = head
    else:
        try:
            head_bytes = read_head(path, HEAD_BYTES)
        except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            raise DatasetError(f"cannot read trace file {path}: {exc.strerror or exc}") from None
    text = _decoded(head_bytes.lstrip(b"\xef\xbb\xbf"), path)
    stripped = text.lstrip()
    if not stripped:
        return EMPTY_FILE_SHAPE
    if stripped[0] not in "{[":
        raise UnknownShapeError(
            f"{path} is not JSON (it starts with {stripped[:30]!r}); trace files are JSON or JSONL. "
            f"{SUPPORTED_SHAPES_TEXT}"
        )
    candidates: list[Any] = []
    if len(head_bytes) < HEAD_BYTES:  # the whole file: parsed whole first (one document, usually)
        candidates.append(_parses(text))
        found = classify(candidates[0])
        if found:
            return found
    lines = [_container(ln) for ln in _first_lines(text, PROBE_LINES)]
    candidates += lines
    for value in lines:
        found = classify(value)
        if found:
            return found
    for shape in BY_PRIORITY:  # key names that give a shape away in a document too big to parse
        if shape.sniff.search(text):
            return shape.name
    raise UnknownShapeError(
        f"{path} is JSON but matches no supported trace shape (first keys seen: {_first_keys(candidates)}). "
        f"{SUPPORTED_SHAPES_TEXT}"
    )


def detect_document(path: Path, content: bytes) -> tuple[str, Any]:
    """`detect_shape` of a plain file the caller read whole, and the document orjson made of it
    when that decided the shape (else None), so that a reader need not parse the file again.

    Bytes orjson parses into an object or a list hold no byte order mark, NUL or undecodable
    byte and start with `{` or `[`: the checks `detect_shape` makes before it parses the
    decoded head would pass, and that parse would give this same value.
    """
    if len(content) < HEAD_BYTES:
        try:
            document = orjson.loads(content)
        except orjson.JSONDecodeError:
            document = None
        if isinstance(document, (dict, list)):
            found = classify(document)
            if found:
                return found, document
    return detect_shape(path, content[:HEAD_BYTES]), None


def _first_keys(candidates: list[Any]) -> str:
    for value in candidates:
        while isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, dict):
            return ", ".join(list(value)[:8]) or "none"
    return "none"
