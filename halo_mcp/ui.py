"""`/ui/`: the viewer's pages over HTTP, beside `/mcp` and behind the same bearer token.

`/ui/` lists the default dataset's traces with filters and its charts;
`/ui/traces/<id>` draws one trace. Both are the `engine.viewer` pages the CLI
writes, rendered in a worker thread. Pages are read-only; an unknown trace id
is a 404 page naming it, a dataset that cannot be opened a 503 naming why.

Bound to localhost, `/ui/` checks the Host header as `/mcp` does, with the same
settings and the mcp SDK's own check (`TransportSecurityMiddleware`): a request
for another host name (DNS rebinding) gets 421, a foreign Origin 403.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio.to_thread
from mcp.server.transport_security import TransportSecurityMiddleware
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from engine.errors import HaloError, UnknownIdError
from engine.viewer.shell import esc

if TYPE_CHECKING:
    from mcp.server.transport_security import TransportSecuritySettings

__all__ = ["ui_app", "UI_PREFIX"]

UI_PREFIX = "/ui"
# Pages are never cached: the dataset may grow between two visits.
_HEADERS = {"cache-control": "no-store", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


def _problem(status: int, message: str) -> HTMLResponse:
    body = f"<!doctype html><meta charset=utf-8><title>halo-mcp</title><p>{esc(message)}</p>"
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def ui_app(catalog: Any, security: TransportSecuritySettings | None = None) -> ASGIApp:
    """The `/ui` pages over `catalog`'s datasets; with `security`, behind its Host/Origin check."""
    from engine.viewer import list_page, trace_page

    async def render(fn: Any) -> Response:
        try:
            html = await anyio.to_thread.run_sync(fn)
        except UnknownIdError as err:
            return _problem(404, str(err))
        except HaloError as err:
            return _problem(503, f"cannot open the dataset: {err}")
        return HTMLResponse(html, headers=_HEADERS)

    async def traces(request: Request) -> Response:
        query = dict(request.query_params)
        return await render(lambda: list_page(catalog.open(None), query))

    async def trace(request: Request) -> Response:
        trace_id = request.path_params["trace_id"]
        return await render(lambda: trace_page(catalog.open(None), trace_id, back="../"))

    async def root(_: Request) -> Response:
        return RedirectResponse(f"{UI_PREFIX}/")

    pages = Starlette(
        routes=[
            Route(UI_PREFIX, root),
            Route(f"{UI_PREFIX}/", traces),
            Route(UI_PREFIX + "/traces/{trace_id:path}", trace),
        ]
    )
    return pages if security is None else _guarded(pages, TransportSecurityMiddleware(security))


def _guarded(pages: ASGIApp, guard: TransportSecurityMiddleware) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope, receive)
            refused = await guard.validate_request(request)
            if refused is not None:
                header = "host" if refused.status_code == 421 else "origin"
                message = (
                    f"refused: {header.title()} header {request.headers.get(header, '')!r} "
                    "is not this server's address "
                    "(it serves localhost, 127.0.0.1 and [::1] only, against DNS rebinding)"
                )
                await _problem(refused.status_code, message)(scope, receive, send)
                return
        await pages(scope, receive, send)

    return app
