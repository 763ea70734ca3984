"""Serve MCP over stdin/stdout, answering every request and leaving quietly.

The SDK's stdio transport reads each line with a strict JSON parser and, when
it fails, hands the dispatcher an exception the dispatcher drops: a request
whose text the strict parser refuses is never answered, and the client waits
forever. A lone UTF-16 surrogate (`"\\ud800"`, legal JSON syntax but not
Unicode) is the usual case. `ScreenedReader` sits between the transport and
the server: when the line still parses as a JSON-RPC request it answers with
an error naming the offending argument; anything else is passed on as before.

A client that goes away mid-call closes the pipe under the next answer; that is
the end of the session, not a crash, so `serve_stdio` returns without a
traceback and the process exits 0.
"""

from __future__ import annotations

import contextvars
import json
import logging
from types import TracebackType
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage
from mcp_types import INVALID_PARAMS, PARSE_ERROR, ErrorData, JSONRPCError
from pydantic import ValidationError

__all__ = ["ScreenedReader", "serve_stdio", "lone_surrogate_at", "CLIENT_GONE"]

logger = logging.getLogger(__name__)

# What a write to a client that has gone away raises.
CLIENT_GONE = (BrokenPipeError, ConnectionResetError)


def lone_surrogate_at(value: Any, where: str = "") -> str | None:
    """The dotted path of the first string in `value` holding a lone surrogate, or None."""
    if isinstance(value, str):
        return where if any("\ud800" <= ch <= "\udfff" for ch in value) else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        # A key is written escaped: the path goes into the answer, which must be UTF-8.
        shown = key.encode("utf-8", "backslashreplace").decode() if isinstance(key, str) else str(key)
        inner = f"{where}.{shown}" if where else shown
        if isinstance(key, str) and lone_surrogate_at(key) is not None:
            return inner
        found = lone_surrogate_at(item, inner)
        if found is not None:
            return found
    return None


def _refusal(exc: Exception) -> JSONRPCError | None:
    """An error answer for a line the strict parser refused, when it is a request we can name."""
    if not isinstance(exc, ValidationError):
        return None
    errors = exc.errors()
    line = errors[0].get("input") if errors else None
    if not isinstance(line, str):
        return None
    try:
        message = json.loads(line)
    except ValueError:
        return None  # not JSON at all: there is no id to answer
    if not isinstance(message, dict) or not isinstance(message.get("method"), str):
        return None
    request_id = message.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, (str, int)):
        return None  # a notification: nothing may be answered
    where = lone_surrogate_at(message.get("params"), "params")
    if where is not None:
        error = ErrorData(
            code=INVALID_PARAMS,
            message=(
                f"the string at {where} holds a lone UTF-16 surrogate (an escape such as \\ud800 without "
                "its pair), which is not Unicode text; send the text as valid UTF-8, or drop that character"
            ),
        )
    else:
        error = ErrorData(
            code=PARSE_ERROR,
            message="the request is not strict JSON (e.g. NaN, Infinity or a bad escape); send it as RFC 8259 JSON",
        )
    if isinstance(request_id, str) and lone_surrogate_at(request_id) is not None:
        return None  # an id we cannot write back
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=error)


class ScreenedReader:
    """The transport's read stream, with refused-but-answerable requests answered on `answers`."""

    def __init__(self, inner: ReadStream[SessionMessage | Exception], answers: WriteStream[SessionMessage]) -> None:
        self._inner = inner
        self._answers = answers

    @property
    def last_context(self) -> contextvars.Context | None:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        while True:
            item = await self._inner.receive()
            refusal = _refusal(item) if isinstance(item, Exception) else None
            if refusal is None:
                return item
            logger.info("answered request %r with an error: %s", refusal.id, refusal.error.message)
            await self._answers.send(SessionMessage(refusal))

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> ScreenedReader:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def __aenter__(self) -> ScreenedReader:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        await self.aclose()
        return None


async def serve_stdio(mcp: MCPServer) -> None:
    """`MCPServer.run_stdio_async`, with screened input and a quiet end when the client leaves."""
    lowlevel = mcp._lowlevel_server  # the SDK's own run_stdio_async reaches it the same way
    try:
        async with stdio_server() as (read_stream, write_stream):
            await lowlevel.run(
                ScreenedReader(read_stream, write_stream),
                write_stream,
                lowlevel.create_initialization_options(),
            )
    except* CLIENT_GONE:
        logger.info("the client closed the connection; stopping")
