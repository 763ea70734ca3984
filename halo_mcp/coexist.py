"""halo-mcp beside halo-engine: both install a top-level package named `engine`.

pip puts both into the same `site-packages/engine/` folder, so whichever was
installed last overwrites the other's files, and on `sys.path` the first
`engine` found wins for every module under it. Renaming our `engine` package
would make them truly coexist but rewrite every import of the project; instead
the CLI checks at start which `engine` it got and says what to do, rather
than failing later with an ImportError deep in some module.
"""

from __future__ import annotations

import importlib
import importlib.metadata

__all__ = ["HALO_ENGINE", "FIX", "engine_conflict", "halo_engine_version"]

# The PyPI distribution that also ships a top-level `engine` package.
HALO_ENGINE = "halo-engine"
FIX = (
    "install halo-mcp and halo-engine in separate virtual environments "
    "(python3 -m venv .venv-halo-mcp && .venv-halo-mcp/bin/pip install halo-mcp), "
    f"or `pip uninstall {HALO_ENGINE}` and reinstall halo-mcp here"
)


def halo_engine_version() -> str | None:
    """halo-engine's version when it is installed in this environment, else None."""
    try:
        return importlib.metadata.version(HALO_ENGINE)
    except importlib.metadata.PackageNotFoundError:
        return None


def engine_conflict() -> tuple[str, bool] | None:
    """(message, fatal) when `engine` is not halo-mcp's or halo-engine shares it; None when all is well.

    Fatal: `import engine` finds another package (halo-engine's), so halo-mcp
    cannot run. Not fatal: ours is found but halo-engine is installed too, so
    its files under `engine/` may have been overwritten by ours.
    """
    other = halo_engine_version()
    try:
        engine = importlib.import_module("engine")
    except ImportError:
        engine = None
    where = getattr(engine, "__file__", None) or "nowhere"
    if engine is None or not getattr(engine, "HALO_MCP_ENGINE", False):
        owner = f"{HALO_ENGINE} {other}'s" if other else "another project's"
        return (
            f"the Python package `engine` found here ({where}) is {owner}, not halo-mcp's: both "
            f"projects install a top-level package named `engine`, and only one can be imported. To fix it, {FIX}.",
            True,
        )
    if other:
        return (
            f"{HALO_ENGINE} {other} is installed in this environment too and also installs a top-level "
            f"package `engine` ({where}); halo-mcp's files there may have replaced HALO's, so `halo` may "
            f"fail. To use both, {FIX}.",
            False,
        )
    return None
