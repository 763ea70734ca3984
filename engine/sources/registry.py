"""Which module answers for which source scheme, imported only when a URL of it is opened.

A Phoenix or ClickHouse client is a heavy optional package: a file-only user
never imports one, and a user who names `chdb:///...` without the extra gets a
sentence saying which extra to install, never an ImportError traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from engine.errors import SourceError
from engine.sources.base import SourceURL

__all__ = ["EXTRAS", "MODULES", "module_for"]

# scheme -> module implementing `fetch(url, dest, since_ns) -> Fetched`
MODULES = {
    "phoenix": "engine.sources.phoenix",
    "langfuse": "engine.sources.langfuse",
    "clickhouse": "engine.sources.clickhouse",
    "chdb": "engine.sources.clickhouse",
}
# scheme -> the pyproject extra that brings its client packages
EXTRAS = {"phoenix": "phoenix", "langfuse": "langfuse", "clickhouse": "clickhouse", "chdb": "clickhouse"}


def module_for(url: SourceURL) -> ModuleType:
    """The source module of `url`'s scheme; SourceError naming the extra when it cannot be imported."""
    name = MODULES[url.scheme]
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing = exc.name or name
        if missing == name:
            raise SourceError(f"{url.display}: this build of halo-mcp has no {url.scheme}:// source") from None
        raise SourceError(
            f"{url.display}: reading {url.scheme}:// sources needs {missing!r}, which is not installed; "
            f"install it with: pip install 'halo-mcp[{EXTRAS[url.scheme]}]'"
        ) from None
