"""`/ui/`: the viewer's pages over HTTP, beside `/mcp` and behind the same bearer token.

`/ui/` lists the default dataset's traces with filters and its charts;
`/ui/traces/<id>` draws one trace. A server started with several datasets (or
`--root` directories) offers each on its own beside the default (all of them),
chosen by `?dataset=N`, an index into `dataset_choices`. Both are the `engine.viewer` pages the CLI
writes, rendered in a worker thread. Pages are read-only; an unknown trace id
is a 404 page naming it, a dataset that cannot be opened a 503 naming why.

Bound to localhost, `/ui/` checks the Host header as `/mcp` does, with the same
settings and the mcp SDK's own check (`TransportSecurityMiddleware`): a request
for another host name (DNS rebinding) gets 421, a foreign Origin 403.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import anyio.to_thread
from mcp.server.transport_security import TransportSecurityMiddleware
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from engine.errors import HaloError, UnknownIdError
from engine.sources.base import SourceURL, is_source_url
from engine.viewer.shell import esc

if TYPE_CHECKING:
    from mcp.server.transport_security import TransportSecuritySettings

__all__ = ["ui_app", "UI_PREFIX", "dataset_choices"]

UI_PREFIX = "/ui"
# Pages are never cached: the dataset may grow between two visits.
_HEADERS = {"cache-control": "no-store", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


def _problem(status: int, message: str) -> HTMLResponse:
    body = f"<!doctype html><meta charset=utf-8><title>halo-mcp</title><p>{esc(message)}</p>"
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def _label(spec: str) -> str:
    """A dataset as a person reads it: a path, or a source URL without its secrets."""
    if is_source_url(spec):
        try:
            return SourceURL.parse(spec).display
        except ValueError:
            return "(source URL)"
    return spec


def dataset_choices(catalog: Any) -> list[tuple[str | None, str]]:
    """(spec, label) of every dataset the pages offer: the default (None) first, then
    each dataset the server was started with and each `--root` directory no dataset
    lies in; just the default when that is all there is, just the roots when the
    server has no default dataset."""
    default: tuple[str, ...] = tuple(catalog.default)
    covered = {os.path.realpath(s) for s in default if not is_source_url(s)}
    singles = list(default) if len(default) > 1 else []
    for root in catalog.roots:
        real = os.path.realpath(root)
        if real not in covered and not any(s.startswith(real + os.sep) for s in covered) and os.path.isdir(real):
            singles.append(str(root))
    if not default:  # only roots: the first is shown first
        return [(spec, _label(spec)) for spec in singles] or [(None, "default")]
    head = f"all {len(default)} datasets" if len(default) > 1 else _label(default[0])
    return [(None, head)] + [(spec, _label(spec)) for spec in singles]


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

    choices = dataset_choices(catalog)
    labels = [label for _spec, label in choices] if len(choices) > 1 else []

    def chosen(request: Request) -> tuple[str | None, str]:
        """The chosen dataset's spec and the query string that keeps it (raises UnknownIdError)."""
        raw = request.query_params.get("dataset") or "0"
        if not raw.isdigit() or int(raw) >= len(choices):
            raise UnknownIdError(f"no dataset {raw!r} here: this server offers datasets 0-{len(choices) - 1}")
        return choices[int(raw)][0], ("?" + urlencode({"dataset": raw}) if raw != "0" else "")

    async def traces(request: Request) -> Response:
        query = dict(request.query_params)

        def draw() -> str:
            spec, _keep = chosen(request)
            return list_page(catalog.open(spec), query, datasets=labels)

        return await render(draw)

    async def trace(request: Request) -> Response:
        trace_id = request.path_params["trace_id"]

        def draw() -> str:
            spec, keep = chosen(request)
            return trace_page(catalog.open(spec), trace_id, back="../" + keep)

        return await render(draw)

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
