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

from halo_mcp.commands.serve import LOCAL_HOSTS, TOKEN_ENV

__all__ = ["NAME", "HELP", "DEFAULT_PORT", "add_arguments", "add_limit_arguments", "run"]

NAME = "receive"
HELP = "receive OTLP/HTTP traces (POST /v1/traces) and append them to a dataset directory"

DEFAULT_PORT = 4318
"""The OTLP/HTTP port every SDK exporter sends to by default."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, metavar="DIR", help="dataset directory the spans are appended to")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks one)")
    parser.add_argument(
        "--token",
        default=None,
        help=f"bearer token senders must send (default ${TOKEN_ENV}); required off localhost",
    )
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


def run(args: argparse.Namespace) -> int:
    from halo_mcp.receiver.http import Receiver, ReceiverSettings

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
        max_body_bytes=args.max_body_bytes, rotate_bytes=args.rotate_bytes,
    )  # fmt: skip
    try:
        receiver = Receiver(settings)
    except OSError as exc:
        print(f"halo-mcp: cannot receive on {args.host}:{args.port} into {args.directory}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"halo-mcp: receiving OTLP traces at {receiver.url}, writing {args.directory}", file=sys.stderr, flush=True)
    try:
        receiver.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
