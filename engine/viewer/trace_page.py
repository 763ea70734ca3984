"""The trace page: one trace as a waterfall, any trace id, bounded by `TRACE_PAGE_LIMITS`.

Also the MCP App page: the same shell and script with no data of its own; it
draws what the host hands it (the `view_trace` or `diagnose_status` result).
"""

from __future__ import annotations

from typing import Any

from engine.viewer.data import TRACE_PAGE_LIMITS, Limits, trace_data
from engine.viewer.shell import esc, page

__all__ = ["trace_page", "trace_body", "app_page"]


def trace_body(
    ds: Any, trace_id: str, limits: Limits = TRACE_PAGE_LIMITS, back: str | None = None
) -> tuple[str, dict[str, Any]]:
    """Markup and data of one trace's page (`back`: a relative link to the trace list)."""
    data = trace_data(ds, trace_id, limits)
    nav = f'<a class="back" href="{esc(back)}">← all traces</a>' if back else ""
    body = (
        f'<header class="top">{nav}<h1>Trace <code>{esc(trace_id)}</code></h1>'
        f'<p class="meta">{data["total"]:,} spans · {data["errors"]:,} errors</p></header>'
        '<main><p class="hint">Click a span for its input, output and conversation; ▸ opens a subtree.</p>'
        '<div class="trace" id="trace-0" data-t="0"></div></main>'
    )
    return body, {"view": "trace", "traces": [data]}


def trace_page(ds: Any, trace_id: str, limits: Limits = TRACE_PAGE_LIMITS, back: str | None = None) -> str:
    """The whole self-contained trace document; raises UnknownIdError for an unknown id."""
    body, data = trace_body(ds, trace_id, limits, back)
    return page(f"Trace {trace_id[:80]}", body, data)


def app_page() -> str:
    """The MCP App document: waits for the host's tool result and draws it."""
    body = (
        '<header class="top"><h1 id="app-title">halo-mcp</h1><p class="meta" id="app-meta">waiting for a result…</p>'
        '</header><main id="app"></main>'
    )
    return page("halo-mcp viewer", body, {"view": "app", "traces": []})
