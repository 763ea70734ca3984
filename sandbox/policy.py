"""Which isolation layers must be active before a model's code may run.

The child applies every layer the kernel offers and reports each one; the
policy decides whether what it got is enough. The default (`strict`) needs all
three kernel layers, so on macOS or an old kernel run_code refuses with a
message naming what is missing and the setting that would accept it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict

from engine.errors import InvalidArgumentError
from sandbox.layers import LAYER_NAMES

__all__ = ["Policy", "KERNEL_LAYERS", "PARENT_LAYERS", "POLICY_ENV", "BWRAP_ENV", "is_active"]

# Layers the child applies in the kernel (`sandbox.layers`); a policy may require any of them.
KERNEL_LAYERS = LAYER_NAMES
# Always applied by the parent, on every platform: never missing, never required.
PARENT_LAYERS = ("wall_timeout", "output_cap", "scratch_cap", "clean_env", "bwrap")

POLICY_ENV = "HALO_SANDBOX_POLICY"
BWRAP_ENV = "HALO_SANDBOX_BWRAP"

_NAMED = {
    "strict": ("rlimits", "landlock", "seccomp"),
    "limits-only": ("rlimits",),
    "none": (),
}


def is_active(status: str) -> bool:
    """An entry reads "active ..." once applied, "available ..." when the probe found it."""
    return status.startswith(("active", "available"))


class Policy(BaseModel):
    """The layers that must be active; anything less makes run_code refuse.

    `Policy.from_setting` reads a level name (`strict`, `limits-only`, `none`)
    or a comma list of layer names (`rlimits,seccomp`). `bwrap` decides when the
    child is wrapped in `bwrap --unshare-all` (where bubblewrap is installed and
    works; it is never required): `auto` only when Landlock is unavailable (then
    bwrap's mount namespace hides the filesystem instead), `always` as an extra
    layer (each call then starts cold: no warm spares), `never`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    required: frozenset[str] = frozenset(_NAMED["strict"])
    bwrap: Literal["auto", "always", "never"] = "auto"

    @classmethod
    def from_setting(cls, text: str) -> Policy:
        text = text.strip().lower()
        if text in _NAMED:
            return cls(required=frozenset(_NAMED[text]))
        layers = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [layer for layer in layers if layer not in KERNEL_LAYERS]
        if unknown or not layers:
            raise InvalidArgumentError(
                f"unknown sandbox policy {text!r}: use one of {', '.join(_NAMED)} "
                f"or a comma list of layers from {', '.join(KERNEL_LAYERS)}"
            )
        return cls(required=frozenset(layers))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Policy:
        """`HALO_SANDBOX_POLICY` if set, else strict; `HALO_SANDBOX_BWRAP` if set, else auto."""
        environ = os.environ if environ is None else environ
        text = environ.get(POLICY_ENV, "").strip()
        policy = cls.from_setting(text) if text else cls()
        bwrap = environ.get(BWRAP_ENV, "").strip().lower()
        if bwrap:
            if bwrap not in ("auto", "always", "never"):
                raise InvalidArgumentError(f"{BWRAP_ENV} must be auto, always or never, not {bwrap!r}")
            policy = policy.model_copy(update={"bwrap": bwrap})
        return policy

    @property
    def setting(self) -> str:
        """The setting that gives this policy: a level name when one matches, else the layers."""
        for name, layers in _NAMED.items():
            if self.required == frozenset(layers):
                return name
        return ",".join(layer for layer in KERNEL_LAYERS if layer in self.required)

    def missing(self, protections: Mapping[str, str]) -> list[str]:
        """Required layers that the report does not show as active, in a stable order."""
        return [
            layer for layer in KERNEL_LAYERS
            if layer in self.required and not is_active(protections.get(layer, "unavailable"))
        ]

    def refusal(self, protections: Mapping[str, str]) -> str:
        """The message a caller sees when the policy refuses: what is missing and why."""
        missing = self.missing(protections)
        lines = [
            "run_code refused: the sandbox policy requires "
            + ", ".join(sorted(self.required))
            + " but these protections are not available here:"
        ]
        lines += [f"  {layer}: {protections.get(layer, 'unavailable')}" for layer in missing]
        lines.append(
            f"To run with weaker isolation, set {POLICY_ENV}=limits-only (resource limits, "
            "wall-clock timeout and output cap only) or a comma list of the layers you require."
        )
        return "\n".join(lines)

