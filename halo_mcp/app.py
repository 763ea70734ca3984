"""The MCP App (`io.modelcontextprotocol/ui`): `view_trace` and `diagnose_status` carry a `ui://` page.

Hosts that render MCP Apps load `APP_URI` (the viewer's page, `engine.viewer.app_page`)
in a sandboxed frame and hand it the tool's result; the page draws the waterfall
or the report from the result's structured content. The tools themselves stay
as the registry defines them, and answer the same text to every client: the
only addition is `_meta.ui.resourceUri` on their listing, which clients without
Apps ignore.
"""

from __future__ import annotations

from typing import Any

from mcp.server.apps import Apps

__all__ = ["APP_URI", "APP_TOOLS", "apps", "tool_meta"]

APP_URI = "ui://halo-mcp/viewer.html"
# Registry tools whose results the app page can draw.
APP_TOOLS = frozenset({"view_trace", "diagnose_status"})


def apps() -> Apps:
    """The extension with the viewer page registered."""
    from engine.viewer import app_page

    extension = Apps()
    extension.add_html_resource(
        APP_URI,
        app_page(),
        name="halo-viewer",
        title="Trace and report viewer",
        description="Draws a view_trace result as a waterfall and a diagnose_status report as ranked findings.",
    )
    return extension


def tool_meta(name: str) -> dict[str, Any] | None:
    """The `_meta` of a registry tool's listing: the app page for the tools it can draw."""
    return {"ui": {"resourceUri": APP_URI}} if name in APP_TOOLS else None
