"""The OTLP/HTTP endpoint: `POST /v1/traces`, in the standard library's threading HTTP server.

It runs in its own threads, so `serve --otlp` keeps the MCP transport's event
loop free, and `receive` needs nothing beyond the receiver. Answers follow the
OTLP/HTTP spec: 200 with an `ExportTraceServiceResponse` (and `partial_success`
when spans were dropped), 400 with a `google.rpc.Status` for a body that is not
a request, 413 over the size cap, 415 for another media type, 401 without the
bearer token, 503 (retryable) when the spans could not be stored. Every answer
is in the request's encoding. A retried export's spans are stored once (`store`).
"""

from __future__ import annotations

import hmac
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from halo_mcp.receiver.limits import READ_TIMEOUT_S, ReceiverSettings
from halo_mcp.receiver.payload import (
    JSON,
    PROTOBUF,
    PayloadError,
    TooLargeError,
    decode,
    decompress,
    encoding_of,
    status_body,
    success_body,
)
from halo_mcp.receiver.sink import SinkError
from halo_mcp.receiver.store import SpanStore

if TYPE_CHECKING:
    from halo_mcp.receiver.grpc_service import GrpcTransport

__all__ = ["TRACES_PATH", "Receiver"]

TRACES_PATH = "/v1/traces"
# google.rpc.Code values
_INVALID_ARGUMENT, _RESOURCE_EXHAUSTED, _UNAUTHENTICATED, _UNAVAILABLE = 3, 8, 16, 14

logger = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, settings: ReceiverSettings, store: SpanStore) -> None:
        self.settings = settings
        self.store = store
        if ":" in settings.host:
            self.address_family = socket.AF_INET6
        super().__init__((settings.host, settings.port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = READ_TIMEOUT_S
    protocol_version = "HTTP/1.1"
    server_version = "halo-mcp-otlp"

    def do_POST(self) -> None:  # the stdlib names the method
        settings = self.server.settings
        encoding = encoding_of(self.headers.get("Content-Type"))
        answer_in = encoding or JSON
        if self.path.split("?", 1)[0] != TRACES_PATH:
            return self._error(
                404, _INVALID_ARGUMENT, f"no such endpoint; OTLP traces go to POST {TRACES_PATH}", answer_in
            )
        if settings.token and not hmac.compare_digest(
            (self.headers.get("Authorization") or "").encode(), f"Bearer {settings.token}".encode()
        ):
            return self._error(401, _UNAUTHENTICATED, "missing or wrong bearer token", answer_in, close=True)
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            return self._error(411, _INVALID_ARGUMENT, "send a Content-Length header", answer_in, close=True)
        if int(length) > settings.max_body_bytes:
            return self._error(
                413, _RESOURCE_EXHAUSTED,
                f"the body is {length} bytes, over the {settings.max_body_bytes}-byte cap; export smaller batches",
                answer_in, close=True,
            )  # fmt: skip
        body = self.rfile.read(int(length))
        if encoding is None:
            return self._error(
                415, _INVALID_ARGUMENT,
                f"Content-Type {self.headers.get('Content-Type')!r} is not OTLP; send {PROTOBUF} or {JSON}", JSON,
            )  # fmt: skip
        try:
            raw = decompress(body, self.headers.get("Content-Encoding"), settings.max_decoded_bytes)
            decoded = decode(raw, encoding)
        except TooLargeError as exc:
            return self._error(413, _RESOURCE_EXHAUSTED, str(exc), encoding)
        except PayloadError as exc:
            return self._error(400, _INVALID_ARGUMENT, str(exc), encoding)
        if decoded.accepted:
            try:
                stored = self.server.store.put(decoded.request)
            except SinkError as exc:
                logger.error("%s", exc)
                return self._error(503, _UNAVAILABLE, str(exc), encoding)
            if stored.duplicates:
                logger.info("%d span(s) were already stored (a retried export): not stored again", stored.duplicates)
        if decoded.rejected:
            logger.warning("rejected %d span(s): %s", decoded.rejected, decoded.reason)
        self._send(200, success_body(decoded, encoding), encoding)

    def do_GET(self) -> None:
        self._error(405, _INVALID_ARGUMENT, f"OTLP traces are sent with POST {TRACES_PATH}", JSON)

    def _error(self, status: int, code: int, message: str, encoding: str, close: bool = False) -> None:
        if close:  # the body was not read: the connection cannot carry another request
            self.close_connection = True
        self._send(status, status_body(code, message, encoding), encoding)

    def _send(self, status: int, body: bytes, encoding: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", encoding)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # the stdlib's signature
        logger.debug("%s %s", self.address_string(), format % args)


class Receiver:
    """An OTLP/HTTP receiver (and OTLP/gRPC with `grpc_port`) serving from background threads
    until `close()`. Both transports write through one `SpanStore`."""

    def __init__(self, settings: ReceiverSettings) -> None:
        self.settings = settings
        self.store = SpanStore(settings.directory, settings.rotate_bytes, settings.dedupe_window_spans)
        self.grpc: GrpcTransport | None = None
        try:
            self._server = _Server(settings, self.store)
            if settings.grpc_port is not None:
                from halo_mcp.receiver.grpc_service import GrpcTransport

                self.grpc = GrpcTransport(settings, self.store, settings.grpc_port)
        except BaseException:
            if hasattr(self, "_server"):
                self._server.server_close()
            self.store.close()
            raise
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-receiver", daemon=True)

    @property
    def port(self) -> int:
        """The bound port (the real one when asked for port 0)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self.settings.host
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}{TRACES_PATH}"

    @property
    def urls(self) -> str:
        """Where exports are answered, for the start-up line."""
        return self.url + (f" and {self.grpc.url}" if self.grpc else "")

    def start(self) -> Receiver:
        if self.grpc:
            self.grpc.start()
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread (the `receive` command)."""
        if self.grpc:
            self.grpc.start()
        try:
            self._server.serve_forever()
        finally:
            if self.grpc:
                self.grpc.stop()
            self._server.server_close()
            self.store.close()

    def close(self) -> None:
        if self.grpc:
            self.grpc.stop()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self.store.close()
