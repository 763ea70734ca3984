"""Trace readers: every supported file shape read into canonical `Span`s.

    detect_shape(path) -> str                  one of SHAPE_NAMES, or UnknownShapeError
    FileReader(path, shape=None, start=0, end=None, first_line=1)
        iterate: Span | Malformed in file order; then .end, .lines; .shape, .line_based

One module per shape, each declaring `SHAPE = Shape(...)` (`_shape`), listed once
in `_registry`; `_source` holds gzip, line splitting and malformed samples,
`_values` time and id conversions, `_detect` shape detection.
"""

from __future__ import annotations

from engine.traces.readers._detect import detect_shape
from engine.traces.readers._file import FileReader
from engine.traces.readers._registry import SHAPE_NAMES, SHAPES, SUPPORTED_SHAPES_TEXT, shape_named
from engine.traces.readers._shape import Shape

__all__ = ["detect_shape", "FileReader", "SHAPE_NAMES", "SHAPES", "Shape", "SUPPORTED_SHAPES_TEXT", "shape_named"]
