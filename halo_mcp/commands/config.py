"""`halo-mcp config claude-code|cursor`: the exact config that adds this server to a client.

Prints the JSON entry (and for Claude Code the `claude mcp add` command) with
absolute paths to this installation, so it works from any directory. With
`--write` it merges the entry into the project's `.mcp.json` (Claude Code) or
`.cursor/mcp.json` (Cursor; `~/.cursor/mcp.json` with `--global`), keeping every
other server in the file. API keys are never written: the entry always refers
to `OPENAI_API_KEY` instead, in the client's own interpolation syntax, whether
or not it is set when `config` runs (unset, it expands to nothing).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import orjson

__all__ = ["NAME", "HELP", "add_arguments", "run", "server_entry", "config_path", "merge_entry", "claude_command"]

NAME = "config"
HELP = "print (or --write) the config that adds halo-mcp to Claude Code or Cursor"

CLIENTS = ("claude-code", "cursor")
DEFAULT_SERVER_NAME = "halo"
# Model settings worth carrying into the client's config when set here.
PASSED_ENV = ("OPENAI_BASE_URL", "HALO_MODEL", "HALO_SYNTHESIS_MODEL", "HALO_COMPACTION_MODEL", "HALO_MCP_RUNS_DIR")
SECRET_ENV = "OPENAI_API_KEY"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("client", choices=CLIENTS, help="which client to configure")
    parser.add_argument(
        "--dataset", action="append", default=[], metavar="PATH", help="default dataset (repeatable)"
    )
    parser.add_argument("--root", action="append", default=[], metavar="DIR", help="extra readable directory")
    parser.add_argument("--name", default=DEFAULT_SERVER_NAME, help=f"server name (default {DEFAULT_SERVER_NAME})")
    parser.add_argument("--project-dir", type=Path, default=Path.cwd(), help="project to configure (default .)")
    parser.add_argument("--global", dest="global_", action="store_true", help="Cursor: ~/.cursor/mcp.json")
    parser.add_argument("--write", action="store_true", help="write the entry into the config file")


def _command() -> list[str]:
    """How to start this installation's server, independent of PATH."""
    script = Path(sys.executable).parent / "halo-mcp"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "halo_mcp"]


def _secret_ref(client: str) -> str:
    # Claude Code expands ${VAR:-default} in .mcp.json; Cursor expands ${env:VAR} in mcp.json.
    return f"${{{SECRET_ENV}:-}}" if client == "claude-code" else f"${{env:{SECRET_ENV}}}"


def server_entry(client: str, datasets: list[str], roots: list[str]) -> dict[str, Any]:
    """The `mcpServers` entry for `client` (stdio, absolute paths)."""
    command = _command()
    args = [*command[1:], "serve", "--stdio"]
    for root in roots:
        args += ["--root", str(Path(root).expanduser().resolve())]
    args += [str(Path(d).expanduser().resolve()) if not _is_glob(d) else d for d in datasets]
    env = {name: os.environ[name] for name in PASSED_ENV if os.environ.get(name)}
    # Always a reference, never the key: the key may be set in the client's
    # environment later, and an unset reference expands to nothing.
    env[SECRET_ENV] = _secret_ref(client)
    entry: dict[str, Any] = {"command": command[0], "args": args}
    if client == "claude-code":
        entry = {"type": "stdio", **entry}
    if env:
        entry["env"] = env
    return entry


def _is_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def config_path(client: str, project_dir: Path, global_: bool) -> Path:
    if client == "claude-code":
        return project_dir / ".mcp.json"
    return (Path.home() if global_ else project_dir) / ".cursor" / "mcp.json"


def merge_entry(path: Path, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """The file's JSON with `mcpServers[name]` set to `entry`; everything else kept."""
    data: dict[str, Any] = {}
    if path.is_file() and path.read_text(encoding="utf-8").strip():
        data = orjson.loads(path.read_bytes())
        if not isinstance(data, dict):
            raise ValueError(f"{path} does not hold a JSON object")
    servers = data.setdefault("mcpServers", {})
    if not isinstance(servers, dict):
        raise ValueError(f"{path}: mcpServers is not an object")
    servers[name] = entry
    return data


def claude_command(name: str, entry: dict[str, Any]) -> list[str]:
    """The `claude mcp add` argv for `entry`.

    The server name comes before `-e`: Claude Code's `-e/--env` takes every
    following word up to `--` as another variable, so a name after it is read
    as `KEY=VALUE` and refused ("Invalid environment variable format").
    """
    parts = ["claude", "mcp", "add", "--scope", "project", name]
    for key, value in entry.get("env", {}).items():
        parts += ["-e", f"{key}={value}"]
    return [*parts, "--", entry["command"], *entry["args"]]


def run(args: argparse.Namespace) -> int:
    entry = server_entry(args.client, args.dataset, args.root)
    path = config_path(args.client, args.project_dir.resolve(), args.global_)
    snippet = {"mcpServers": {args.name: entry}}
    out = sys.stdout
    if args.write:
        try:
            data = merge_entry(path, args.name, entry)
        except (ValueError, orjson.JSONDecodeError) as err:
            print(f"halo-mcp: cannot update {path}: {err}", file=sys.stderr)
            return 1
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"wrote server {args.name!r} to {path}", file=sys.stderr)
        if args.client == "claude-code":
            print("Claude Code asks you to approve project servers the first time it starts here.", file=sys.stderr)
        else:
            print("Cursor: enable the server under Settings → MCP if it is not on already.", file=sys.stderr)
        return 0
    if args.client == "claude-code":
        out.write("# Either run:\n" + shlex.join(claude_command(args.name, entry)) + "\n\n")
        out.write(f"# or put this in {path}:\n")
    else:
        out.write(f"# Put this in {path} (or ~/.cursor/mcp.json for every project):\n")
    out.write(orjson.dumps(snippet, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0
