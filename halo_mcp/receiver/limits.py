"""The receiver's limits, each a named setting, and the settings a receiver starts with.

Stdlib only: the CLI reads them for `--help`, and both transports (HTTP, gRPC) take
`ReceiverSettings` without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ReceiverSettings",
    "GRPC_WORKERS",
    "MAX_BODY_BYTES",
    "MAX_DECODED_BYTES",
    "READ_TIMEOUT_S",
    "ROTATE_BYTES",
    "DEDUPE_WINDOW_SPANS",
    "SEED_TAIL_BYTES",
]

MAX_BODY_BYTES = 16 * 1024 * 1024
"""Largest request body accepted, as sent (compressed or not); larger is answered 413.

The SDKs' batch processors send 512 spans per export by default, far below this.
"""
MAX_DECODED_BYTES = 64 * 1024 * 1024
"""Largest body once decompressed: a small gzip body cannot expand past this (413)."""
READ_TIMEOUT_S = 30.0
"""Seconds a connection may sit idle mid-request before it is dropped (no thread waits forever)."""

ROTATE_BYTES = 64 * 1024 * 1024
"""A file is closed and a new one started once the next line would take it past this size.

Big enough that a day of one agent's traces is a few files, small enough that
re-indexing one file after a cache loss stays quick.
"""

DEDUPE_WINDOW_SPANS = 200_000
"""Span ids remembered to drop retried exports (about 30 MB): minutes of a busy agent fleet."""
SEED_TAIL_BYTES = 32 * 1024 * 1024
"""How much of the newest files is read at start to remember what the last run stored."""

GRPC_WORKERS = 8
"""Threads answering OTLP/gRPC exports at once; more wait in gRPC's queue (exporters send one batch at a time)."""


@dataclass(frozen=True)
class ReceiverSettings:
    """Where the receiver listens and writes, and its limits (see the module constants)."""

    directory: Path
    host: str = "127.0.0.1"
    port: int = 4318
    token: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    max_decoded_bytes: int = MAX_DECODED_BYTES
    rotate_bytes: int = ROTATE_BYTES
    dedupe_window_spans: int = DEDUPE_WINDOW_SPANS
    grpc_port: int | None = None
    """Also answer OTLP/gRPC on this port (0 picks one), into the same store; None: HTTP only."""
