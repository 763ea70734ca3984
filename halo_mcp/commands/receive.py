"""`halo-mcp receive DIR`: receive OTLP/HTTP traces and append them to DIR, nothing else.

Point any OpenTelemetry exporter at it (`OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318`)
and read DIR with every other command while it grows. Binds 127.0.0.1 unless
told otherwise; bound anywhere else it refuses to start without a bearer token
(`--token` or $HALO_MCP_TOKEN), as `serve --http` does.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from halo_mcp.commands.access import LOCAL_HOSTS, TOKEN_ENV

if TYPE_CHECKING:
    from halo_mcp.receiver.http import Receiver
    from halo_mcp.receiver.limits import ReceiverSettings

__all__ = [
    "NAME", "HELP", "DEFAULT_PORT", "GRPC_DEFAULT_PORT", "add_arguments", "add_limit_arguments",
    "start_receiver", "started_line", "run",
]  # fmt: skip

NAME = "receive"
HELP = "receive OTLP traces (HTTP POST /v1/traces, and gRPC with --grpc-port) and append them to a dataset directory"

DEFAULT_PORT = 4318
"""The OTLP/HTTP port every SDK exporter sends to by default."""
GRPC_DEFAULT_PORT = 4317
"""The OTLP/gRPC port every SDK exporter and Collector sends to by default."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, metavar="DIR", help="dataset directory the spans are appended to")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks one)")
    parser.add_argument(
        "--token",
        default=None,
        help=f"bearer token senders must send (default ${TOKEN_ENV}); required off localhost",
    )
    parser.add_argument(
        "--grpc-port", type=int, default=None, metavar="PORT",
        help=f"also receive OTLP/gRPC on this port of --host (the SDKs' default is {GRPC_DEFAULT_PORT}; 0 picks one; "
        "needs the grpc extra)",
    )  # fmt: skip
    add_limit_arguments(parser)


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """The receiver's limits, shared with `serve --otlp`."""
    from halo_mcp.receiver.limits import MAX_BODY_BYTES, ROTATE_BYTES

    parser.add_argument(
        "--max-body-bytes", type=int, default=MAX_BODY_BYTES,
        help=f"largest request body accepted, larger is answered 413 (default {MAX_BODY_BYTES})",
    )  # fmt: skip
    parser.add_argument(
        "--rotate-bytes", type=int, default=ROTATE_BYTES,
        help=f"start a new file once the current one would pass this size (default {ROTATE_BYTES})",
    )  # fmt: skip


def token_of(args: argparse.Namespace) -> str | None:
    return args.token or os.environ.get(TOKEN_ENV) or None


def refusal(host: str, token: str | None, what: str) -> str | None:
    """Why a receiver may not start on `host`, or None."""
    if host not in LOCAL_HOSTS and not token:
        return (
            f"refusing to receive {what} on {host} without a bearer token; "
            f"pass --token or set ${TOKEN_ENV} (or bind 127.0.0.1)"
        )
    return None


def start_receiver(settings: ReceiverSettings, start: bool = False) -> Receiver | None:
    """The receiver, bound (and started in background threads with `start`); None after
    saying on stderr why it could not be (a port in use, no grpcio for gRPC)."""
    from halo_mcp.receiver.grpc_service import GrpcUnavailableError
    from halo_mcp.receiver.http import Receiver

    try:
        receiver = Receiver(settings)
    except GrpcUnavailableError as exc:
        print(f"halo-mcp: {exc}", file=sys.stderr)
        return None
    except OSError as exc:
        print(
            f"halo-mcp: cannot receive OTLP on {settings.host}:{settings.port} into {settings.directory}: "
            f"{exc.strerror or exc}",
            file=sys.stderr,
        )
        return None
    return receiver.start() if start else receiver


def started_line(receiver: Receiver) -> str:
    """The start-up line (tests and scripts read the HTTP URL from it, up to the first comma)."""
    line = f"receiving OTLP traces at {receiver.url}, writing {receiver.settings.directory}"
    return line + (f"; OTLP/gRPC at {receiver.grpc.url}" if receiver.grpc else "")


def run(args: argparse.Namespace) -> int:
    from halo_mcp.receiver.limits import ReceiverSettings

    token = token_of(args)
    why = refusal(args.host, token, "OTLP")
    if why:
        print(f"halo-mcp: {why}", file=sys.stderr)
        return 2
    if args.directory.exists() and not args.directory.is_dir():
        print(f"halo-mcp: {str(args.directory)!r} is not a directory", file=sys.stderr)
        return 2
    settings = ReceiverSettings(
        directory=args.directory, host=args.host, port=args.port, token=token,
        max_body_bytes=args.max_body_bytes, rotate_bytes=args.rotate_bytes, grpc_port=args.grpc_port,
    )  # fmt: skip
    receiver = start_receiver(settings)
    if receiver is None:
        return 2
    print(f"halo-mcp: {started_line(receiver)}", file=sys.stderr, flush=True)
    try:
        receiver.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
