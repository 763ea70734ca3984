"""Write small HALO JSONL files span by span, for index and store tests."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["span", "jsonl"]


def span(
    trace: str,
    span_id: str,
    parent: str = "",
    *,
    name: str = "step",
    kind: str = "CHAIN",
    start: float = 0.0,
    end: float | None = None,
    status: str = "STATUS_CODE_OK",
    message: str = "",
    service: str = "svc",
    attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One HALO span object; times are seconds after 2026-04-23T05:00:00Z."""
    end = start + 1.0 if end is None else end
    return {
        "trace_id": trace,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name,
        "kind": "SPAN_KIND_INTERNAL",
        "start_time": _iso(start),
        "end_time": _iso(end),
        "status": {"code": status, "message": message},
        "resource": {"attributes": {"service.name": service}},
        "scope": {"name": "test", "version": "1"},
        "attributes": {"openinference.span.kind": kind, **(attributes or {})},
    }


def _iso(seconds: float) -> str:
    whole = int(seconds)
    ns = round((seconds - whole) * 1e9)
    minute, sec = divmod(whole, 60)
    hour, minute = divmod(minute, 60)
    return f"2026-04-23T{5 + hour:02d}:{minute:02d}:{sec:02d}.{ns:09d}Z"


def jsonl(*spans: dict[str, Any]) -> bytes:
    return b"".join(orjson.dumps(s) + b"\n" for s in spans)
