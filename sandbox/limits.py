"""How much one run_code call may use, as one settings object per server.

Every limit is named here with its default, so the README, the server's
settings and the tests all read the same numbers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from engine.errors import InvalidArgumentError

__all__ = [
    "Limits",
    "DEFAULT_WALL_S",
    "DEFAULT_CPU_S",
    "DEFAULT_MEMORY_BYTES",
    "DEFAULT_OUTPUT_BYTES",
    "ENV_PREFIX",
]

GIB = 1 << 30
MIB = 1 << 20

DEFAULT_WALL_S = 30.0
DEFAULT_CPU_S = 20
DEFAULT_MEMORY_BYTES = 2 * GIB
DEFAULT_OUTPUT_BYTES = 1 * MIB
DEFAULT_SCRATCH_BYTES = 256 * MIB
DEFAULT_OPEN_FILES = 256
DEFAULT_MAX_PARALLEL = 4
DEFAULT_WARM_SPARES = 1
DEFAULT_CODE_BYTES = 1 * MIB

# Environment variables that override a default: HALO_SANDBOX_WALL_S=10, ...
ENV_PREFIX = "HALO_SANDBOX_"


class Limits(BaseModel):
    """Resource limits for one call, and how many calls may run at once.

    `output_bytes` caps stdout, stderr and the shown value each; whatever is
    cut sets `RunResult.truncated`. `scratch_bytes` caps the per-run scratch
    directory (each file via RLIMIT_FSIZE, the whole directory by the parent
    watching it). `warm_spares` children are kept started with pandas already
    imported, each used for exactly one call, so a call does not pay the import.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    wall_s: float = Field(DEFAULT_WALL_S, gt=0, le=3600)
    cpu_s: int = Field(DEFAULT_CPU_S, gt=0, le=3600)
    memory_bytes: int = Field(DEFAULT_MEMORY_BYTES, ge=256 * MIB)
    output_bytes: int = Field(DEFAULT_OUTPUT_BYTES, ge=1024)
    scratch_bytes: int = Field(DEFAULT_SCRATCH_BYTES, ge=0)
    open_files: int = Field(DEFAULT_OPEN_FILES, ge=32, le=65536)
    max_parallel: int = Field(DEFAULT_MAX_PARALLEL, ge=1, le=256)
    warm_spares: int = Field(DEFAULT_WARM_SPARES, ge=0, le=16)
    code_bytes: int = Field(DEFAULT_CODE_BYTES, ge=1024)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """Defaults overridden by `HALO_SANDBOX_<FIELD>` variables (e.g. HALO_SANDBOX_CPU_S)."""
        environ = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for name in cls.model_fields:
            text = environ.get(ENV_PREFIX + name.upper())
            if text is not None and text.strip():
                values[name] = text.strip()
        try:
            return cls.model_validate(values)
        except ValueError as err:
            raise InvalidArgumentError(f"invalid {ENV_PREFIX}* setting: {err}") from None
