"""Errors the engine raises on purpose, each with a message written for a model.

    HaloError
    ├── UnknownShapeError     a file whose content matches no supported trace shape
    ├── DatasetError          a dataset path that does not exist, matches nothing, or is refused
    │   └── PathNotAllowedError   a path outside the allowed roots
    ├── UnknownIdError        a trace or span id that is not in the dataset
    ├── InvalidPatternError   a regex that does not compile, or that ran past its time limit
    ├── InvalidArgumentError  an argument that makes no sense (and could not be clamped)
    ├── SandboxError          run_code could not run (not: the user's code failed)
    └── LLMError              the model endpoint failed after retries, or is not configured

The protocol edge (`halo_mcp`) turns every `HaloError` into the SDK's `ToolError`,
so the model reads the message; anything else is a bug and surfaces as one.
"""

from __future__ import annotations

__all__ = [
    "HaloError",
    "UnknownShapeError",
    "DatasetError",
    "PathNotAllowedError",
    "SourceError",
    "SourceChangedError",
    "UnreadableFileError",
    "CacheUnusableError",
    "UnknownIdError",
    "InvalidPatternError",
    "InvalidArgumentError",
    "SandboxError",
    "LLMError",
]


class HaloError(Exception):
    """Base of every anticipated failure; `str(err)` is shown to the model as is."""


class UnknownShapeError(HaloError):
    """Raised when a file's content matches none of the supported trace shapes."""


class DatasetError(HaloError):
    """Raised when a dataset path does not exist or matches no files."""


class SourceChangedError(DatasetError):
    """Raised when a trace file's bytes are no longer what its index points at; the index was dropped."""


class UnreadableFileError(DatasetError):
    """Raised when reading one trace file failed in a way no reader foresaw; the file is skipped, named."""


class CacheUnusableError(DatasetError):
    """Raised when the index cache directory cannot be created or written; names it and `--cache-dir`."""


class PathNotAllowedError(DatasetError):
    """Raised when a path lies outside the datasets and roots the server may read."""


class SourceError(DatasetError):
    """Raised when a trace source that is not a file (a Phoenix, Langfuse or ClickHouse URL) cannot
    answer: unreachable, refused credentials, a page failing mid-way, a schema missing columns.
    The message names the source (its URL without credentials) and what was not read."""


class UnknownIdError(HaloError):
    """Raised for a trace or span id that is not in the dataset; names the id."""


class InvalidPatternError(HaloError):
    """Raised for a regex that does not compile or that exceeded its time limit."""


class InvalidArgumentError(HaloError):
    """Raised for an argument that cannot be honoured or clamped."""


class SandboxError(HaloError):
    """Raised when run_code cannot run at all (policy refused, child failed to start)."""


class LLMError(HaloError):
    """Raised when the model endpoint is missing or keeps failing after retries."""
