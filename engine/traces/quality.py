"""What was odd about a dataset's input, as every answer that reports it shows it.

A pydantic model, apart from `engine.traces.dataset` so that opening a dataset
does not import pydantic: the run_code child opens one on every call and must
stay small (sandbox/child.py).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["DataQuality"]


class DataQuality(BaseModel):
    """What was odd about the input; nothing here was dropped, only noted."""

    malformed_lines: int = 0
    malformed_samples: list[str] = Field(default_factory=list, description='"file:line: reason"')
    orphan_spans: int = Field(default=0, description="spans whose parent was never exported (kept as roots)")
    duplicate_span_ids: int = Field(default=0, description="spans sharing (trace id, span id) with another")
    duplicate_examples: list[str] = Field(default_factory=list, description='"trace_id/span_id"')
    traces_in_several_files: int = Field(default=0, description="trace ids found in more than one file")
    several_files_examples: list[str] = Field(default_factory=list, description='"trace_id: file, file"')
    skipped_files: list[str] = Field(
        default_factory=list, description='"path: reason" (not trace files), the first few'
    )
    skipped_total: int = Field(default=0, description="files skipped because they hold no trace shape")
    sources: list[str] = Field(
        default_factory=list, description="remote sources copied: fetched when, newest span, complete or not, why"
    )
