"""synthesize: a model reads the actual content of chosen traces and sums them up.

Map, then reduce: each trace becomes a digest of its real inputs, outputs and
errors cut to fit the model's budget, the synthesis model writes a note per
trace citing span ids, and one more call merges the notes into a summary citing
trace and span ids. Without a configured model the tool still answers: it says
so and returns the deterministic digests.
"""

from __future__ import annotations

from typing import Any, Literal

import anyio
from pydantic import BaseModel, Field

from engine.errors import LLMError
from engine.texts import load_text
from engine.tools import render
from engine.tools.budget import clamp, cut, fit
from engine.tools.common import ToolArgs, dataset_field, description, in_thread, open_dataset
from engine.tools.content import fold_flat_messages, input_of, output_of, readable
from engine.tools.context import ToolContext
from engine.tools.registry import ToolResult, ToolSpec, register
from engine.tools.spans import details_of, get, span_head
from engine.tools.traced_chat import recorder, traced_chat, traced_span
from engine.tools.view_trace import trace_spans

__all__ = ["SynthesizeArgs", "SynthesizeResult", "TraceNote", "SPEC", "trace_digest"]

MAX_TRACES = 20
DEFAULT_DIGEST_TOKENS = 6_000
MIN_DIGEST_TOKENS = 500
MAX_DIGEST_TOKENS = 100_000
MAP_MAX_TOKENS = 600
REDUCE_MAX_TOKENS = 1_200
DEFAULT_PARALLEL = 4
MIN_CONTENT_CHARS = 60
# Length of a cut marker in a digest ("[… 12,345 chars cut; cut for the digest]" plus spaces).
CUT_MARKER_CHARS = 45
DEFAULT_QUESTION = "What went wrong in these runs, and why?"
NO_MODEL = (
    "No model is configured, so nothing was synthesised. To enable it, set OPENAI_API_KEY "
    "(OpenAI, OpenRouter) or OPENAI_BASE_URL (vLLM, llama.cpp, Ollama), and HALO_MODEL or "
    "HALO_SYNTHESIS_MODEL. Below is the deterministic digest of each trace: its actual "
    "inputs, outputs and errors, cut to fit."
)


class SynthesizeArgs(ToolArgs):
    trace_ids: list[str] = Field(min_length=1, description=f"traces to read (1-{MAX_TRACES})")
    question: str = Field(default=DEFAULT_QUESTION, max_length=2000, description="what to look for across the traces")
    digest_tokens: int = Field(
        default=DEFAULT_DIGEST_TOKENS,
        description=f"tokens of trace content the model reads per trace ({MIN_DIGEST_TOKENS}-{MAX_DIGEST_TOKENS})",
    )
    dataset: str | None = dataset_field()


class TraceNote(BaseModel):
    trace_id: str
    note: str
    source: Literal["model", "digest"]


class SynthesizeResult(ToolResult):
    produced_by: Literal["model", "deterministic"]
    question: str
    model: str | None = None
    summary: str
    traces: list[TraceNote] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list, description="traces whose notes did not fit the answer")
    notes: list[str] = Field(default_factory=list)

    def render(self) -> str:
        by = f"model {self.model}" if self.produced_by == "model" else "no model: deterministic digests"
        lines = [f"synthesis of {len(self.traces) + len(self.missing)} traces ({by}); question: {self.question}"]
        lines.append(self.summary)
        if self.traces:
            lines.append("per trace:")
            for t in self.traces:
                lines.append(f"## {t.trace_id} ({t.source})\n{t.note}")
        if self.missing:
            lines.append("not shown (budget): " + render.call("synthesize", trace_ids=self.missing))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _prompt(name: str) -> str:
    return load_text("engine.tools", f"prompts/{name}.md")


def trace_digest(ds: Any, trace_id: str, max_chars: int) -> str:
    """One trace as text a model can read: span headers in tree order, then under
    each its error, input and output, with values cut so the whole fits `max_chars`."""
    views = trace_spans(ds, trace_id)
    starts = [s for v in views if (s := get(v, "start_ns", default=0))]
    t0 = min(starts) if starts else None
    heads = [span_head(v, t0, error_chars=1000) for v in views]
    # Spans that can fit at all (header plus two minimal values each); only their content is read.
    per_span = [len(h.line()) + 2 * (MIN_CONTENT_CHARS + CUT_MARKER_CHARS) for h in heads]
    keep = len(heads)
    while keep > 1 and sum(per_span[i] for i, _ in _keep(heads, keep)) > max_chars:
        keep = keep * 3 // 4
    shown = _keep(heads, keep)
    details = details_of(ds, trace_id, [h.span_id for _, h in shown])
    content: dict[str, list[tuple[str, str]]] = {}
    for d in details:
        attrs, _ = fold_flat_messages(get(d, "attributes", default={}) or {})
        parts = []
        for label, found in (("in", input_of(attrs)), ("out", output_of(attrs))):
            if found:
                parts.append((label, readable(found[1])))
        content[get(d, "span_id")] = parts

    def text(chars: int, spans: list[tuple[int, Any]]) -> str:
        lines = [f"trace {trace_id} ({len(heads)} spans)"]
        last = -1
        for i, h in spans:
            if i != last + 1:
                lines.append(f"[… {i - last - 1} spans omitted]")
            last = i
            lines.append(h.line())
            pad = "  " * min(h.depth, 12) + "  "
            for label, value in content.get(h.span_id, []):
                lines.append(f"{pad}{label}: {render.quote(cut(value, chars, 'cut for the digest'))}")
        if last < len(heads) - 1:
            lines.append(f"[… {len(heads) - 1 - last} spans omitted]")
        return "\n".join(lines)

    while len(shown) > 1 and len(text(MIN_CONTENT_CHARS, shown)) > max_chars:
        shown = _keep(heads, len(shown) * 3 // 4)
    low, high = MIN_CONTENT_CHARS, max(MIN_CONTENT_CHARS, max_chars)
    while low < high:  # the largest per-value cap that fits
        mid = (low + high + 1) // 2
        low, high = (mid, high) if len(text(mid, shown)) <= max_chars else (low, mid - 1)
    out = text(low, shown)
    return out if len(out) <= max_chars else out[: max_chars - 1] + "…"


def _keep(heads: list[Any], keep: int) -> list[tuple[int, Any]]:
    """The spans worth keeping when not all fit: errors first, then first and last spans."""
    chosen = {i for i, h in enumerate(heads) if h.error}
    i, j = 0, len(heads) - 1
    while len(chosen) < keep and i <= j:
        chosen.add(i)
        if len(chosen) < keep:
            chosen.add(j)
        i, j = i + 1, j - 1
    if keep >= len(heads):
        return list(enumerate(heads))
    return [(i, heads[i]) for i in sorted(chosen)[: max(keep, 1)]]


async def synthesize(ctx: ToolContext, args: SynthesizeArgs, budget: int) -> SynthesizeResult:
    notes: list[str] = []
    ids = list(dict.fromkeys(args.trace_ids))
    if len(ids) > MAX_TRACES:
        notes.append(f"{len(ids)} traces asked; read the first {MAX_TRACES}")
        ids = ids[:MAX_TRACES]
    tokens = clamp(args.digest_tokens, MIN_DIGEST_TOKENS, MAX_DIGEST_TOKENS, "digest_tokens", notes)
    ds = await open_dataset(ctx, args.dataset)
    digest_chars = tokens * 4
    digests = {t: await in_thread(trace_digest, ds, t, digest_chars) for t in ids}
    config = ctx.llm
    if config is None or not getattr(config, "configured", False):
        summary = NO_MODEL
        trace_notes = [TraceNote(trace_id=t, note=d, source="digest") for t, d in digests.items()]
        return _fit(args.question, "deterministic", None, summary, trace_notes, notes, budget)

    model = config.model_for("synthesis")
    telemetry = recorder(ctx)  # a traced diagnose run: the model calls become LLM spans
    with traced_span(telemetry, "synthesize", "CHAIN", halo__traces=len(ids)) as chain:
        if chain is not None:
            chain.io(input=args.question)
        result = await _synthesized(ctx, args, ids, digests, notes, model, telemetry, budget)
        if chain is not None:
            chain.io(output=result.summary)
        return result


async def _synthesized(
    ctx: ToolContext,
    args: SynthesizeArgs,
    ids: list[str],
    digests: dict[str, str],
    notes: list[str],
    model: str,
    telemetry: Any | None,
    budget: int,
) -> SynthesizeResult:
    """Map each digest to a note, reduce the notes to a summary (the model part of synthesize)."""
    from engine.llm import LLMConfig, open_client

    config = ctx.llm
    assert isinstance(config, LLMConfig)  # checked configured by the caller
    parallel = ctx.synthesis_parallel or DEFAULT_PARALLEL
    limiter = anyio.CapacityLimiter(max(1, parallel))
    written: dict[str, str] = {}
    failed: dict[str, LLMError] = {}
    async with open_client(config) as client:

        async def note_for(trace_id: str) -> None:
            async with limiter:
                try:
                    reply = await traced_chat(
                        telemetry, f"synthesize note on {trace_id}", config,
                        [
                            {"role": "system", "content": _prompt("synthesize_map")},
                            {"role": "user", "content": f"Question: {args.question}\n\n{digests[trace_id]}"},
                        ],
                        model=model, max_tokens=MAP_MAX_TOKENS, client=client,
                    )  # fmt: skip
                except LLMError as exc:  # one trace failing does not lose the others
                    failed[trace_id] = exc
                    return
                written[trace_id] = (reply.choices[0].message.content or "").strip() or "(the model wrote nothing)"
            if ctx.progress is not None:
                await ctx.progress(len(written) / (len(ids) + 1), f"read {len(written)}/{len(ids)} traces")

        async with anyio.create_task_group() as group:
            for trace_id in ids:
                group.start_soon(note_for, trace_id)
        if not written:
            raise next(iter(failed.values()))
        for trace_id, exc in failed.items():
            notes.append(f"the model failed on trace {trace_id} ({exc}); its digest is shown instead")
        joined = "\n\n".join(f"### trace {t}\n{written[t]}" for t in ids if t in written)
        reply = await traced_chat(
            telemetry, "synthesize summary", config,
            [
                {"role": "system", "content": _prompt("synthesize_reduce")},
                {
                    "role": "user",
                    "content": f"Question: {args.question}\n\nNotes on {len(written)} traces:\n\n{joined}",
                },
            ],
            model=model, max_tokens=REDUCE_MAX_TOKENS, client=client,
        )  # fmt: skip
    summary = (reply.choices[0].message.content or "").strip() or "(the model wrote no summary)"
    trace_notes = [
        TraceNote(trace_id=t, note=written[t], source="model")
        if t in written
        else TraceNote(trace_id=t, note=digests[t], source="digest")
        for t in ids
    ]
    return _fit(args.question, "model", model, summary, trace_notes, notes, budget)


def _fit(
    question: str,
    produced_by: Literal["model", "deterministic"],
    model: str | None,
    summary: str,
    trace_notes: list[TraceNote],
    notes: list[str],
    budget: int,
) -> SynthesizeResult:
    def build(n: int, chars: int) -> SynthesizeResult:
        return SynthesizeResult(
            produced_by=produced_by,
            question=question,
            model=model,
            summary=cut(summary, max(chars * 2, 2000), "ask synthesize about fewer traces"),
            traces=[
                t.model_copy(
                    update={"note": cut(t.note, chars, render.call("view_trace", trace_id=t.trace_id))}
                )
                for t in trace_notes[:n]
            ],
            missing=[t.trace_id for t in trace_notes[n:]],
            notes=notes,
        )

    return fit(build, items=len(trace_notes), chars=20_000, limit=budget, min_items=0, prefer="chars")


SPEC = register(
    ToolSpec(
        name="synthesize",
        title="Model synthesis across chosen traces",
        description=description("synthesize"),
        args=SynthesizeArgs,
        result=SynthesizeResult,
        handler=synthesize,
        # Its model calls are spans of their own: a server with --telemetry records each call as a trace.
        extra={"traced": True},
    )
)
