"""`halo-mcp serve`: run the MCP server over stdio (default) or streamable HTTP.

stdio is what Claude Code and Cursor launch. HTTP binds 127.0.0.1 unless told
otherwise; bound anywhere else it refuses to start without a bearer token
(`--token` or $HALO_MCP_TOKEN), and every request must carry it.

`--otlp [HOST:]PORT` also runs the OTLP/HTTP receiver of `halo-mcp receive`, in
its own threads beside the transport, appending to `--otlp-dir` (default: the
one dataset directory given), which the tools then read as it grows.
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from engine.errors import InvalidArgumentError
from halo_mcp.commands.access import LOCAL_HOSTS, TOKEN_ENV
from halo_mcp.settings import (
    add_dataset_arguments,
    add_engine_arguments,
    add_sandbox_arguments,
    diagnose_config_factory,
    llm_config,
    sandbox_policy,
)

__all__ = [
    "NAME",
    "HELP",
    "add_arguments",
    "run",
    "BearerTokenMiddleware",
    "http_app",
    "transport_security",
    "log_sandbox_protections",
    "otlp_settings",
]

NAME = "serve"
HELP = "run the MCP server (stdio by default; --http for streamable HTTP)"

DEFAULT_PORT = 8765

if TYPE_CHECKING:  # the server (mcp, openai, pandas) is imported by `run`, not by `--help`
    from mcp.server.transport_security import TransportSecuritySettings

    from halo_mcp.receiver.limits import ReceiverSettings
    from halo_mcp.server import HaloServer, ServerConfig
    from sandbox import Policy

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "datasets", nargs="*", metavar="DATASET", help="default dataset: trace files, directories or globs"
    )
    transport = parser.add_mutually_exclusive_group()
    transport.add_argument("--stdio", action="store_true", help="serve over stdin/stdout (the default)")
    transport.add_argument("--http", action="store_true", help="serve streamable HTTP at http://HOST:PORT/mcp")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"HTTP port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--token",
        default=None,
        help=f"bearer token HTTP clients must send (default ${TOKEN_ENV}); required off localhost",
    )
    parser.add_argument(
        "--root",
        action="append",
        default=[],
        metavar="DIR",
        help="another directory tools may read datasets from (repeatable)",
    )
    parser.add_argument(
        "--otlp",
        default=None,
        metavar="[HOST:]PORT",
        help="also receive OTLP/HTTP traces here (HOST defaults to 127.0.0.1; the token rule of --http applies)",
    )
    parser.add_argument(
        "--otlp-grpc",
        type=int,
        default=None,
        metavar="PORT",
        help="with --otlp, also receive OTLP/gRPC on this port of its host (4317 is the SDKs' default; grpc extra)",
    )
    parser.add_argument(
        "--otlp-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where --otlp appends spans (default: the one DATASET directory; added to the default dataset)",
    )
    from halo_mcp.commands.receive import add_limit_arguments

    add_limit_arguments(parser)
    add_dataset_arguments(parser)
    add_sandbox_arguments(parser)
    add_engine_arguments(parser)


def server_config(args: argparse.Namespace) -> ServerConfig:
    from halo_mcp.server import ServerConfig

    llm = llm_config(args)
    return ServerConfig(
        sandbox_policy=sandbox_policy(args),
        datasets=list(args.datasets),
        roots=list(args.root),
        llm=llm,
        diagnose_config=diagnose_config_factory(args, llm),
        runs_dir=args.runs_dir,
        cache_dir=args.cache_dir,
        shape=args.shape,
    )


def log_sandbox_protections(policy: Policy) -> None:
    """One stderr line: the kernel layers run_code gets here, and whether the policy refuses.

    WARNING when a layer is unavailable, so a weaker sandbox (macOS, old kernels,
    locked-down containers) is visible before the first model call finds out.
    """
    from sandbox import protections_available
    from sandbox.policy import is_active

    available = protections_available()
    unavailable = [layer for layer, status in available.items() if not is_active(status)]
    line = f"run_code sandbox (policy {policy.setting}): " + "; ".join(
        f"{layer} {status}" for layer, status in available.items()
    )
    missing = policy.missing(available)
    if missing:
        line += (
            f"; run_code will refuse: the policy requires {', '.join(missing)} "
            "(--sandbox-policy limits-only or none accepts less)"
        )
    logger.log(logging.WARNING if unavailable else logging.INFO, "%s", line)


class BearerTokenMiddleware:
    """Refuse every HTTP request that does not carry `Authorization: Bearer <token>`."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = b'{"error": "missing or wrong bearer token"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b"Bearer"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def transport_security(host: str) -> TransportSecuritySettings | None:
    """The DNS-rebinding defence of both `/mcp` and `/ui/`: bound to localhost, only
    requests whose Host (and Origin, when sent) is localhost, 127.0.0.1 or [::1] with
    a port are served, so a page of another site cannot reach the server through a
    DNS name it rebinds to 127.0.0.1. The mcp SDK's own default, made explicit so the
    two share it; bound elsewhere the bearer token is the guard."""
    from mcp.server.transport_security import TransportSecuritySettings

    if host not in LOCAL_HOSTS:
        return None
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )


def http_app(server: HaloServer, host: str, token: str | None) -> ASGIApp:
    """The streamable HTTP app and the `/ui/` pages, both behind the bearer-token check when a token is set
    and both behind the same Host check (`transport_security`)."""
    from halo_mcp.ui import UI_PREFIX, ui_app

    security = transport_security(host)
    mcp_app: ASGIApp = server.mcp.streamable_http_app(host=host, transport_security=security)
    pages = ui_app(server.state.catalog, security)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == UI_PREFIX or path.startswith(UI_PREFIX + "/"):
            await pages(scope, receive, send)
        else:
            await mcp_app(scope, receive, send)

    return BearerTokenMiddleware(app, token) if token else app


async def _serve_http(server: HaloServer, host: str, port: int, token: str | None) -> None:
    import uvicorn

    config = uvicorn.Config(http_app(server, host, token), host=host, port=port, log_level="warning")
    await uvicorn.Server(config).serve()


async def _warm(server: HaloServer) -> None:
    """Index the default dataset before the first call needs it."""
    if not server.state.catalog.default:
        return
    try:
        await anyio.to_thread.run_sync(server.state.catalog.open, None, abandon_on_cancel=True)
    except Exception as exc:  # the first tool call reports it properly
        logger.warning("could not open the default dataset: %s", exc)


async def _serve(server: HaloServer, args: argparse.Namespace, token: str | None) -> None:
    # Runs belong to the process, not to a connection: enter the manager here.
    async with server.runs, anyio.create_task_group() as tg:
        tg.start_soon(_warm, server)
        await _transport(server, args, token)
        tg.cancel_scope.cancel()


async def _transport(server: HaloServer, args: argparse.Namespace, token: str | None) -> None:
    if args.http:
        print(f"halo-mcp: serving http://{args.host}:{args.port}/mcp (trace viewer at /ui/)", file=sys.stderr)
        await _serve_http(server, args.host, args.port, token)
    else:
        from halo_mcp.stdio import serve_stdio

        await serve_stdio(server.mcp)


def run(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get(TOKEN_ENV) or None
    try:
        otlp = otlp_settings(args, token)
    except InvalidArgumentError as err:
        print(f"halo-mcp: {err}", file=sys.stderr)
        return 2
    if args.http and args.host not in LOCAL_HOSTS and not token:
        print(
            f"halo-mcp: refusing to serve HTTP on {args.host} without a bearer token; "
            f"pass --token or set ${TOKEN_ENV} (or bind 127.0.0.1)",
            file=sys.stderr,
        )
        return 2
    for root in args.root:
        if not Path(root).expanduser().is_dir():
            print(f"halo-mcp: --root {root!r} is not a directory", file=sys.stderr)
            return 2
    from engine.sources.base import is_source_url
    from halo_mcp.datasets import is_glob

    for dataset in args.datasets:
        if not is_glob(dataset) and not is_source_url(dataset) and not Path(dataset).expanduser().exists():
            # A typo here would only surface at the first tool call, inside the client.
            print(
                f"halo-mcp: dataset {dataset!r} does not exist; pass a trace file, a directory or a glob",
                file=sys.stderr,
            )
            return 2
    from halo_mcp.server import build_server

    try:
        config = server_config(args)
    except InvalidArgumentError as err:  # a bad HALO_SANDBOX_* setting
        print(f"halo-mcp: {err}", file=sys.stderr)
        return 2
    if config.sandbox_policy is not None:  # server_config always sets it
        log_sandbox_protections(config.sandbox_policy)
    server = build_server(config)
    receiver = None
    if otlp is not None:
        from halo_mcp.commands.receive import start_receiver, started_line

        receiver = start_receiver(otlp, start=True)
        if receiver is None:
            return 2
        print(f"halo-mcp: {started_line(receiver)}", file=sys.stderr)
    try:
        anyio.run(_serve, server, args, token)
    except KeyboardInterrupt:
        pass
    finally:
        if receiver is not None:
            receiver.close()
    return 0


def otlp_settings(args: argparse.Namespace, token: str | None) -> ReceiverSettings | None:
    """The `--otlp` receiver's settings (None without `--otlp`); its directory joins the datasets."""
    if args.otlp is None:
        if args.otlp_grpc is not None:
            raise InvalidArgumentError("--otlp-grpc PORT goes with --otlp [HOST:]PORT (the HTTP receiver it joins)")
        return None
    from halo_mcp.commands.receive import refusal
    from halo_mcp.receiver.limits import ReceiverSettings

    host, _, port = args.otlp.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit():
        raise InvalidArgumentError(f"--otlp {args.otlp!r} is not [HOST:]PORT, e.g. 4318 or 0.0.0.0:4318")
    why = refusal(host, token, "OTLP")
    if why:
        raise InvalidArgumentError(why)
    directory = args.otlp_dir
    if directory is None:
        from halo_mcp.datasets import is_glob

        only = Path(args.datasets[0]).expanduser() if len(args.datasets) == 1 else None
        if only is None or is_glob(args.datasets[0]) or (only.exists() and not only.is_dir()):
            raise InvalidArgumentError(
                "--otlp needs --otlp-dir DIR, or exactly one DATASET that is a directory (created if missing)"
            )
        directory = only
    directory = directory.expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidArgumentError(f"--otlp-dir {str(directory)!r} cannot be created: {exc.strerror or exc}") from None
    if not any(Path(d).expanduser().resolve() == directory.resolve() for d in args.datasets):
        args.datasets.append(str(directory))
    return ReceiverSettings(
        directory=directory, host=host, port=int(port), token=token,
        max_body_bytes=args.max_body_bytes, rotate_bytes=args.rotate_bytes, grpc_port=args.otlp_grpc,
    )  # fmt: skip
