"""The one list of trace shapes: a new shape is its reader module plus one line here.

Each module named in `SHAPE_MODULES` declares `SHAPE = Shape(...)` (see `_shape`).
The order is the order the help and the errors list them in; detection orders
them by their own `priority`. Everything else (the names `--shape` accepts, the
supported-shapes text, detection, the reader used) is derived from `SHAPES`.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from engine.errors import InvalidArgumentError
from engine.traces.readers._shape import Shape

__all__ = ["BY_PRIORITY", "SHAPES", "SHAPE_NAMES", "SUPPORTED_SHAPES_TEXT", "declared_attributes", "shape_named"]

SHAPE_MODULES = (
    "halo",
    "otlp",
    "otel_sdk",
    "openinference_nested",
    "openai_agents",
    "langfuse",
)


def _declared(module: str) -> Shape:
    shape = getattr(import_module(f"engine.traces.readers.{module}"), "SHAPE", None)
    if not isinstance(shape, Shape):
        raise TypeError(f"engine.traces.readers.{module} declares no SHAPE = Shape(...)")
    return shape


SHAPES: tuple[Shape, ...] = tuple(_declared(m) for m in SHAPE_MODULES)
SHAPE_NAMES: tuple[str, ...] = tuple(s.name for s in SHAPES)
BY_PRIORITY: tuple[Shape, ...] = tuple(sorted(SHAPES, key=lambda s: s.priority))
_BY_NAME = {s.name: s for s in SHAPES}
if len(_BY_NAME) != len(SHAPES):
    raise TypeError(f"two shape modules declare the same name: {SHAPE_NAMES}")

SUPPORTED_SHAPES_TEXT = (
    "Supported trace shapes (pass one with `--shape`, or `shape=` in Python, to skip detection): "
    + "; ".join(s.describe() for s in SHAPES)
    + ". Files may be gzip-compressed."
)


def declared_attributes(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The flat attributes a shape's own `attributes` gives one raw record, or None when none claims it."""
    for shape in _WITH_ATTRIBUTES:
        found = shape.attributes(raw) if shape.attributes else None
        if found is not None:
            return found
    return None


_WITH_ATTRIBUTES = tuple(s for s in SHAPES if s.attributes is not None)


def shape_named(name: str) -> Shape:
    """The shape called `name`; InvalidArgumentError listing the shapes for any other name."""
    found = _BY_NAME.get(name)
    if found is None:
        raise InvalidArgumentError(f"unknown shape {name!r}. {SUPPORTED_SHAPES_TEXT}")
    return found
