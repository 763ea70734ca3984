"""The `datasets` tool: what this server may read, and what it has opened.

A model that was not told where the traces are needs a way to find them that
stays inside the allowed roots; this is it. Registered in the one registry,
hidden from the diagnose engine's agents (they work on one dataset).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel, Field

from engine.tools.context import ToolContext
from engine.tools.registry import REGISTRY, ToolResult, ToolSpec, register
from engine.traces.dataset import resolve_paths
from halo_mcp.tools import ServerState, server_context

__all__ = ["DatasetsArgs", "DatasetList", "FileEntry", "OpenedDataset"]

MAX_LISTED_FILES = 500


class DatasetsArgs(BaseModel):
    path: str | None = Field(
        default=None,
        description="directory or glob inside the allowed roots; omit for the default dataset and roots",
    )
    limit: int = Field(default=50, ge=1, le=MAX_LISTED_FILES, description="most files to list")


class FileEntry(BaseModel):
    path: str
    size: int


class OpenedDataset(BaseModel):
    files: int
    first_file: str
    traces: int
    spans: int


class DatasetList(ToolResult):
    default_dataset: list[str]
    roots: list[str]
    client_roots: list[str]
    files: list[FileEntry]
    total_files: int
    truncated: bool
    opened: list[OpenedDataset]

    def render(self) -> str:
        lines = [
            "default dataset: " + (", ".join(self.default_dataset) or "none (pass `dataset` to each tool)"),
            "allowed roots: " + (", ".join(self.roots + self.client_roots) or "none"),
        ]
        if self.files:
            lines.append(f"trace files ({len(self.files)} of {self.total_files}):")
            lines += [f"- {f.path} ({f.size:,} bytes)" for f in self.files]
            if self.truncated:
                lines.append("more files exist: raise limit or name a narrower path")
        for d in self.opened:
            lines.append(f"opened: {d.first_file} (+{d.files - 1} files): {d.traces:,} traces, {d.spans:,} spans")
        return "\n".join(lines)


def _list_files(state: ServerState, path: str | None, extra_roots: tuple[Path, ...]) -> list[Path]:
    catalog = state.catalog
    if path is not None:
        return list(catalog.resolve(path, extra_roots))
    if catalog.default:
        return list(catalog.resolve(None, extra_roots))
    dirs = [r for r in (*catalog.roots, *extra_roots) if r.is_dir()]
    return [path for path, _explicit in resolve_paths(dirs)] if dirs else []


async def _datasets(ctx: ToolContext, args: DatasetsArgs, budget: int) -> DatasetList:
    server, state = server_context(ctx)
    extra_roots = server.client_roots
    files = await anyio.to_thread.run_sync(_list_files, state, args.path, extra_roots)
    shown = files[: args.limit]
    entries = []
    for f in shown:
        try:
            size = f.stat().st_size
        except OSError:
            size = -1
        entries.append(FileEntry(path=str(f), size=size))
    opened = [
        OpenedDataset(files=len(paths), first_file=str(paths[0]), traces=int(ds.n_traces), spans=int(ds.n_spans))
        for paths, ds in state.catalog.opened()
    ]
    return DatasetList(
        default_dataset=list(state.catalog.default),
        roots=[str(r) for r in state.catalog.roots],
        client_roots=[str(r) for r in extra_roots],
        files=entries,
        total_files=len(files),
        truncated=len(files) > len(shown),
        opened=opened[-20:],
    )


SPEC: ToolSpec[Any, Any] = ToolSpec(
    name="datasets",
    title="List trace datasets",
    description=(
        "Where the traces are: the server's default dataset, the roots it may read, and the trace files "
        "under a directory or glob inside them. Call it when you do not know which `dataset` to pass."
    ),
    args=DatasetsArgs,
    result=DatasetList,
    handler=_datasets,
    agent_visible=False,
    extra={"path_args": ("path",)},
)

if SPEC.name not in REGISTRY:
    register(SPEC)
