"""The OTLP/gRPC endpoint: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.

Many SDKs and every Collector export over gRPC by default (port 4317). This is the
same receiver as `http`, on another transport: the request bytes go through the
same `payload.decode` checks and the same `SpanStore` (so a span retried over
either transport is stored once), and the answers carry the same meaning in gRPC
status codes - INVALID_ARGUMENT for a body that is not a request, RESOURCE_EXHAUSTED
over the size cap, UNAUTHENTICATED without the bearer token (metadata
`authorization: Bearer …`), UNAVAILABLE (which exporters retry) when the spans
could not be stored, and `partial_success` when some spans were dropped.

The service is registered as a generic handler on raw bytes rather than through
generated stubs, so it needs `grpcio` alone (the `grpc` extra), not `grpcio-tools`.
gRPC decompresses gzip itself; `grpc.max_receive_message_length` caps each
message at `--max-body-bytes` (answered RESOURCE_EXHAUSTED by gRPC).
"""

from __future__ import annotations

import hmac
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from halo_mcp.receiver.limits import GRPC_WORKERS
from halo_mcp.receiver.payload import PROTOBUF, PayloadError, decode, success_body
from halo_mcp.receiver.sink import SinkError

if TYPE_CHECKING:
    import grpc

    from halo_mcp.receiver.limits import ReceiverSettings
    from halo_mcp.receiver.store import SpanStore

__all__ = ["SERVICE", "METHOD", "GrpcUnavailableError", "GrpcTransport"]

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
METHOD = "Export"

logger = logging.getLogger(__name__)


class GrpcUnavailableError(RuntimeError):
    """`grpcio` is not installed; the message says which extra brings it."""


def _grpc() -> Any:
    try:
        import grpc
    except ImportError:
        raise GrpcUnavailableError(
            "the OTLP/gRPC receiver needs grpcio: pip install 'halo-mcp[grpc]' (OTLP/HTTP needs nothing more)"
        ) from None
    return grpc


class GrpcTransport:
    """A gRPC server answering OTLP trace exports into a shared `SpanStore`."""

    def __init__(self, settings: ReceiverSettings, store: SpanStore, port: int) -> None:
        grpc = _grpc()
        self.settings = settings
        self.store = store
        self._server = grpc.server(
            ThreadPoolExecutor(max_workers=GRPC_WORKERS, thread_name_prefix="otlp-grpc"),
            options=[
                ("grpc.max_receive_message_length", settings.max_body_bytes),
                ("grpc.so_reuseport", 0),  # a port in use is an error, not a silently shared socket
            ],
        )
        handler = grpc.unary_unary_rpc_method_handler(self._export)  # raw bytes in and out
        self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {METHOD: handler}),))
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        try:
            self.port = self._server.add_insecure_port(f"{host}:{port}")
        except RuntimeError as exc:  # grpcio raises RuntimeError when it cannot bind
            raise OSError(f"cannot bind gRPC on {settings.host}:{port} ({exc})") from None
        if self.port == 0:
            raise OSError(f"cannot bind gRPC on {settings.host}:{port} (address in use or not available)")

    @property
    def url(self) -> str:
        host = self.settings.host
        return f"grpc://{'[' + host + ']' if ':' in host else host}:{self.port}"

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop(grace=None).wait()

    def _export(self, body: bytes, context: grpc.ServicerContext) -> bytes:
        grpc = _grpc()
        token = self.settings.token
        if token:
            sent = dict(context.invocation_metadata()).get("authorization", "")
            if not hmac.compare_digest(str(sent).encode(), f"Bearer {token}".encode()):
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            decoded = decode(body, PROTOBUF)
        except PayloadError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if decoded.accepted:
            try:
                stored = self.store.put(decoded.request)
            except SinkError as exc:
                logger.error("%s", exc)
                context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
            if stored.duplicates:
                logger.info("%d span(s) were already stored (a retried export): not stored again", stored.duplicates)
        if decoded.rejected:
            logger.warning("rejected %d span(s): %s", decoded.rejected, decoded.reason)
        return success_body(decoded, PROTOBUF)
