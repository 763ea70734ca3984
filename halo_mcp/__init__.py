"""halo-mcp: MCP server and CLI that find out why LLM agents fail, from their traces."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("halo-mcp")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
