"""run_code: Python over the dataset's span and trace tables, in the sandbox.

For the questions the other tools cannot phrase: joins, group-bys, custom
heuristics. The sandbox (`sandbox.run_code`) does the isolation; this module only
passes the code and fits the answer into the budget.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from engine.errors import InvalidArgumentError, SandboxError
from engine.sources.bounded_sql import SQL_MAX_CHARS, SQL_MAX_ROWS
from engine.tools.budget import cut, fit
from engine.tools.common import ToolArgs, dataset_field, description, in_thread, open_dataset
from engine.tools.context import ToolContext
from engine.tools.registry import ToolResult, ToolSpec, register

__all__ = ["RunCodeArgs", "RunCodeResult", "SPEC"]

MAX_CODE_CHARS = 50_000
OUTPUT_CHARS = 12_000
_MORE = "print less: aggregate in the code (value_counts, head(20), describe()) and run again"


class RunCodeArgs(ToolArgs):
    code: str = Field(
        max_length=MAX_CODE_CHARS,
        description="Python 3 source. The last expression's value is returned (like a notebook cell); "
        "print() output is returned too.",
    )
    sql: str | None = Field(
        default=None,
        max_length=SQL_MAX_CHARS,
        description="ClickHouse datasets only: one SELECT run read-only over otel_traces first; "
        f"its first {SQL_MAX_ROWS:,} rows are the DataFrame `sql` in the code",
    )
    dataset: str | None = dataset_field()


class RunCodeResult(ToolResult):
    ok: bool
    value: str | None = Field(default=None, description="repr of the last expression, if any")
    stdout: str = ""
    stderr: str = ""
    error: str | None = Field(default=None, description="traceback when the code failed")
    truncated: bool = Field(default=False, description="output was cut, by the sandbox or to fit the budget")
    duration_s: float = 0.0
    protections: dict[str, str] = Field(default_factory=dict)
    policy: str | None = Field(default=None, description="the sandbox policy the run was held to")
    notes: list[str] = Field(default_factory=list)

    @property
    def failed(self) -> bool:
        return not self.ok

    def render(self) -> str:
        head = f"{'ok' if self.ok else 'FAILED'} in {self.duration_s:.2f}s"
        if self.truncated:
            head += " (output truncated)"
        lines = [head]
        if self.value is not None:
            lines.append(f"value:\n{self.value}")
        if self.stdout:
            lines.append(f"stdout:\n{self.stdout}")
        if self.stderr:
            lines.append(f"stderr:\n{self.stderr}")
        if self.error:
            lines.append(f"error:\n{self.error}")
        if self.protections:
            lines += _protection_lines(self.protections, self.policy)
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _protection_lines(protections: dict[str, str], policy: str | None) -> list[str]:
    """One line naming the active layers; a line of detail for each layer that is not.

    The full statuses stay in `protections`; the text only spells out what is
    missing, so a model reading many calls does not pay for the same lines each time.
    """
    active = [name for name, status in protections.items() if status.startswith("active")]
    off = [name for name, status in protections.items() if status.startswith("off")]  # by choice
    missing = {n: s for n, s in protections.items() if n not in active and n not in off}
    head = f"sandbox (policy {policy}): " if policy else "sandbox: "
    head += ", ".join(active) + " active" if active else "no layer active"
    if off:
        head += "; off: " + ", ".join(off)
    return [head] + [f"  {name} NOT active: {status}" for name, status in missing.items()]


async def run_code(ctx: ToolContext, args: RunCodeArgs, budget: int) -> RunCodeResult:
    if ctx.run_code is None:
        raise SandboxError(
            "run_code is not available here: this server was started without a sandbox. "
            "Use query, search, view_trace and patterns instead."
        )
    ds = await open_dataset(ctx, args.dataset)
    notes: list[str] = []
    extra: dict[str, Any] = {}
    if args.sql is not None:
        extra["sql"] = await in_thread(_select, ds, args.sql, notes)
    out: Any = await ctx.run_code(args.code, dataset=ds, **extra)

    def build(_: int, chars: int) -> RunCodeResult:
        fields = {}
        truncated = bool(getattr(out, "truncated", False))
        for name in ("value", "stdout", "stderr", "error"):
            text = getattr(out, name, None)
            if text is not None and len(text) > chars:
                truncated = True
                text = cut(text, chars, _MORE)
            fields[name] = text
        return RunCodeResult(
            ok=bool(out.ok),
            value=fields["value"],
            stdout=fields["stdout"] or "",
            stderr=fields["stderr"] or "",
            error=fields["error"],
            truncated=truncated,
            duration_s=float(getattr(out, "duration_s", 0.0) or 0.0),
            protections=dict(getattr(out, "protections", {}) or {}),
            policy=getattr(out, "policy", None),
            notes=notes,
        )

    return fit(build, items=1, chars=OUTPUT_CHARS, limit=budget, min_items=1, prefer="chars")


def _select(ds: Any, statement: str, notes: list[str]) -> dict[str, Any]:
    """The bounded SELECT's answer for the child, from the dataset's one ClickHouse source."""
    from engine.sources.base import SourceURL
    from engine.sources.bounded_sql import select_rows
    from engine.sources.in_source import source_specs

    specs = source_specs(ds)
    if len(specs) != 1:
        raise InvalidArgumentError(
            "sql runs in the dataset's ClickHouse: give a dataset that is one clickhouse:// or chdb:// source"
            + (f" (this one has {len(specs)})" if specs else "")
        )
    url = SourceURL.parse(specs[0])
    answer = select_rows(url, statement)
    notes.append(f"sql: {len(answer.rows):,} rows from {url.display}" + (
        f", cut at {SQL_MAX_ROWS:,} (aggregate in the SELECT)" if answer.truncated else ""))
    return {"columns": answer.columns, "rows": answer.rows}


SPEC = register(
    ToolSpec(
        name="run_code",
        title="Run Python over the trace tables",
        description=description("run_code"),
        args=RunCodeArgs,
        result=RunCodeResult,
        handler=run_code,
        read_only=True,
    )
)
