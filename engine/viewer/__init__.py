"""The viewer: diagnose reports and traces as self-contained HTML pages.

One renderer for every surface: `halo-mcp diagnose --html`, `halo-mcp report
--html`, `halo-mcp view`, `halo-mcp compare --html`, the `halo://runs/{id}/report.html` resource, the
`/ui/` pages of `serve --http` and the MCP App of `view_trace` and
`diagnose_status` all call these functions. Pages need no network (assets
inline, a hash-based Content-Security-Policy) and treat every trace string as
hostile text (see `shell`).
"""

from __future__ import annotations

from engine.viewer.compare_page import compare_page
from engine.viewer.data import APP_LIMITS, REPORT_LIMITS, REPORT_MAX_TRACES, TRACE_PAGE_LIMITS, Limits
from engine.viewer.list_page import list_page
from engine.viewer.report_page import report_page
from engine.viewer.trace_page import app_page, trace_page

__all__ = [
    "report_page",
    "trace_page",
    "list_page",
    "compare_page",
    "app_page",
    "Limits",
    "TRACE_PAGE_LIMITS",
    "REPORT_LIMITS",
    "REPORT_MAX_TRACES",
    "APP_LIMITS",
]
