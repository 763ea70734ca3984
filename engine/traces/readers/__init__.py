"""Trace readers: every supported file shape read into canonical `Span`s.

    detect_shape(path) -> str                  one of model.SHAPES, or UnknownShapeError
    FileReader(path, shape=None, start=0, end=None, first_line=1)
        iterate: Span | Malformed in file order; then .end, .lines; .shape, .line_based

One module per shape (`halo`, `otlp`, `otel_sdk`, `openinference_nested`,
`openai_agents`); `_source` holds gzip, line splitting and malformed samples,
`_values` time and id conversions, `_detect` shape detection.
"""

from __future__ import annotations

from engine.traces.readers._detect import SUPPORTED_SHAPES_TEXT, detect_shape
from engine.traces.readers._file import FileReader

__all__ = ["detect_shape", "FileReader", "SUPPORTED_SHAPES_TEXT"]
