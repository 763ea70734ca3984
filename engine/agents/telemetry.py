"""Trace our own runs: OpenInference spans of a diagnose run, as JSONL halo-mcp reads.

With `telemetry` set (`diagnose --telemetry PATH`), a run writes one span per
model call (LLM), tool call (TOOL), agent (AGENT: the root, each subagent) and
the run itself (CHAIN), in the HALO flat shape (one span object per line), so
`halo-mcp overview PATH` and `diagnose PATH` read a diagnose run like any
agent's traces. A span is written, appended and flushed, when it ends; a run
killed midway leaves the spans that ended. Nesting follows the tasks: a
subagent's spans sit under the `call_subagent` tool call that started it.

The lines are written directly rather than through the OpenTelemetry SDK: the
shape is a dozen fields, and the SDK would become a main dependency for them.
Texts (prompts, tool results) are cut to `MAX_VALUE_CHARS`.

With a collector as the target (`--telemetry otlp://HOST:PORT`, or an
`http://…/v1/traces` URL) the same spans go over OTLP/HTTP instead
(`otlp_export`), in the background; `close` ends the export at the run's end.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

__all__ = ["Telemetry", "OpenSpan", "NO_TELEMETRY", "MAX_VALUE_CHARS", "SERVICE_NAME"]

# Characters of one input or output text a span keeps (the rest is cut, and the span says so).
MAX_VALUE_CHARS = 20_000
# service.name of every span a run writes.
SERVICE_NAME = "halo-mcp-diagnose"

_current: ContextVar[str] = ContextVar("telemetry_parent", default="")


def _iso(ns: int) -> str:
    whole, frac = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode("utf-8")
    if len(text) <= MAX_VALUE_CHARS:
        return text
    return text[:MAX_VALUE_CHARS] + f" [… {len(text) - MAX_VALUE_CHARS:,} chars cut]"


@dataclass
class OpenSpan:
    """A span being recorded; set attributes, input, output or an error before it ends."""

    name: str
    kind: str
    span_id: str
    parent_id: str
    start_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def set(self, **attributes: Any) -> None:
        """Attributes by OpenInference name with '.' written as '__' (llm__model_name=...)."""
        for key, value in attributes.items():
            if value is not None:
                self.attributes[key.replace("__", ".")] = value

    def io(self, *, input: Any = None, output: Any = None) -> None:  # OpenInference's words
        if input is not None:
            self.attributes["input.value"] = _value(input)
        if output is not None:
            self.attributes["output.value"] = _value(output)

    def fail(self, message: str) -> None:
        self.error = message


class Telemetry:
    """Writes the spans of one run (one trace) to a JSONL file, appending."""

    def __init__(self, target: Path | str | None, run_id: str) -> None:
        from engine.agents.otlp_export import OtlpExporter, is_endpoint

        self.exporter = OtlpExporter(target) if isinstance(target, str) and is_endpoint(target) else None
        path = Path(target) if target is not None and self.exporter is None else None
        self.path = path
        self.run_id = run_id
        self.trace_id = secrets.token_hex(16)
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def close(self) -> str | None:
        """End the export to a collector (bounded wait); a sentence when spans were lost."""
        return self.exporter.close() if self.exporter is not None else None

    @contextmanager
    def span(self, name: str, kind: str, **attributes: Any) -> Iterator[OpenSpan]:
        """Record the block as a span, a child of the span the caller's task is in."""
        span = OpenSpan(name, kind, secrets.token_hex(8), _current.get(), time.time_ns())
        span.set(**attributes)
        token = _current.set(span.span_id)
        try:
            yield span
        except BaseException as exc:
            if span.error is None:
                span.fail(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            raise
        finally:
            _current.reset(token)
            self._write(span, time.time_ns())

    def _write(self, span: OpenSpan, end_ns: int) -> None:
        if self.path is None and self.exporter is None:
            return
        line = {
            "trace_id": self.trace_id,
            "span_id": span.span_id,
            "parent_span_id": span.parent_id,
            "name": span.name,
            "kind": "SPAN_KIND_CLIENT" if span.kind in ("LLM", "TOOL") else "SPAN_KIND_INTERNAL",
            "start_time": _iso(span.start_ns),
            "end_time": _iso(end_ns),
            "status": {"code": "STATUS_CODE_ERROR" if span.error else "STATUS_CODE_OK", "message": span.error or ""},
            "resource": {"attributes": {"service.name": SERVICE_NAME, "halo.run_id": self.run_id}},
            "scope": {"name": "engine.agents", "version": "1"},
            "attributes": {"openinference.span.kind": span.kind, **span.attributes},
        }
        if self.exporter is not None:
            self.exporter.add({**line, "start_ns": span.start_ns, "end_ns": end_ns})
            return
        assert self.path is not None
        data = orjson.dumps(line) + b"\n"
        with self._lock, self.path.open("ab") as fh:
            fh.write(data)
            fh.flush()


NO_TELEMETRY = Telemetry(None, "")
