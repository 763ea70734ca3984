"""synthesize: a model reads the traces' real content (map), then sums up (reduce);
without a model, the deterministic digests and how to enable one."""

from __future__ import annotations

import pytest
from support.scripted_llm import ScriptedLLM, reply

from engine.errors import LLMError
from engine.llm import LLMConfig
from engine.tools.synthesize import trace_digest

pytestmark = pytest.mark.anyio
HIDDEN = ["000000000000000000000000a000006f", "000000000000000000000000a0000070"]
MAP = "You are reading one trace"
REDUCE = "You are given notes on several traces"


async def test_without_a_model_it_returns_the_digests_and_says_how_to_enable_one(
    context_for, tool, fixture_dir
) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    answer = await tool("synthesize", ctx, trace_ids=HIDDEN)
    r = answer.result
    assert r.produced_by == "deterministic" and r.model is None
    assert "OPENAI_API_KEY" in r.summary
    assert [t.trace_id for t in r.traces] == HIDDEN
    assert all(t.source == "digest" for t in r.traces)
    assert "Order 8812 not found" in r.traces[0].note  # the tool's actual output, not just metadata


async def test_the_model_reads_each_trace_then_writes_one_summary(context_for, tool, fixture_dir) -> None:
    with ScriptedLLM() as llm:
        llm.script_for(MAP, reply.text("note A [span 0000006f00000003]"), reply.text("note B [span 0000007000000003]"))
        llm.script_for(REDUCE, reply.text("2 of 2 traces: lookup_order says not found (a000006f/0000006f00000003)"))
        config = LLMConfig(base_url=llm.base_url, api_key="test", model="agent-m", synthesis_model="synth-m")
        ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl", llm=config)
        answer = await tool("synthesize", ctx, trace_ids=HIDDEN, question="Why can't users find orders?")
        maps, reduces = llm.requests_matching(MAP), llm.requests_matching(REDUCE)
    r = answer.result
    assert r.produced_by == "model" and r.model == "synth-m"
    assert r.summary.startswith("2 of 2 traces")
    assert sorted(t.note for t in r.traces) == ["note A [span 0000006f00000003]", "note B [span 0000007000000003]"]
    assert len(maps) == 2 and len(reduces) == 1
    assert all(m.model == "synth-m" for m in maps + reduces)
    sent = " ".join(m.first_user for m in maps)
    assert "Why can't users find orders?" in sent
    assert "Order 8812 not found" in sent and "Order 9050 not found" in sent  # content, not metadata
    assert "note A" in reduces[0].first_user and "note B" in reduces[0].first_user


async def test_a_model_endpoint_that_keeps_failing_is_an_llm_error(context_for, tool, fixture_dir) -> None:
    with ScriptedLLM() as llm:
        llm.respond(lambda request: reply.error(400, "bad request"))
        config = LLMConfig(base_url=llm.base_url, api_key="test", model="m", max_retries=0)
        ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl", llm=config)
        with pytest.raises(LLMError):
            await tool("synthesize", ctx, trace_ids=HIDDEN[:1])


async def test_too_many_traces_are_cut_and_said(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "halo" / "medium_traces.jsonl")
    ds = ctx.open_dataset(None)
    ids = [ds.traces.trace_id[i] for i in range(25)]
    answer = await tool("synthesize", ctx, trace_ids=ids, digest_tokens=100)
    assert len(answer.result.traces) + len(answer.result.missing) == 20
    assert "25 traces asked; read the first 20" in answer.result.notes
    assert "digest_tokens=100 is below the minimum; used 500" in answer.result.notes


def test_a_digest_fits_its_budget_and_keeps_errors_when_spans_must_go(context_for, fixture_dir) -> None:
    ds = context_for(fixture_dir / "analytics" / "patterns.jsonl").open_dataset(None)
    loose = trace_digest(ds, "000000000000000000000000a0000065", 20_000)
    tight = trace_digest(ds, "000000000000000000000000a0000065", 600)
    assert len(tight) <= 600 < len(loose)
    assert "Timeout after 30s" in loose and "get_weather" in tight


async def test_one_trace_failing_keeps_the_others_and_shows_its_digest(context_for, tool, fixture_dir) -> None:
    with ScriptedLLM() as llm:
        llm.script_for(MAP, reply.text("note A"), reply.error(400, "too long"))
        llm.script_for(REDUCE, reply.text("summary"))
        config = LLMConfig(base_url=llm.base_url, api_key="test", model="m", max_retries=0)
        ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl", llm=config)
        answer = await tool("synthesize", ctx, trace_ids=HIDDEN)
    sources = sorted(t.source for t in answer.result.traces)
    assert sources == ["digest", "model"]
    assert any("the model failed on trace" in n for n in answer.result.notes)


def test_a_huge_trace_digest_keeps_the_error_span_and_fits(context_for, tmp_path) -> None:
    import json

    lines = []
    for i in range(400):
        failing = i == 200
        lines.append(json.dumps({
            "trace_id": "big", "span_id": f"s{i:04d}", "parent_span_id": "" if i == 0 else "s0000", "name": "fetch",
            "start_time": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z",
            "status": {"code": "STATUS_CODE_ERROR" if failing else "STATUS_CODE_OK",
                       "message": "disk full" if failing else ""},
            "attributes": {"openinference.span.kind": "TOOL", "tool.name": "fetch", "output.value": "y" * 3000},
        }))  # fmt: skip
    (tmp_path / "big.jsonl").write_text("\n".join(lines) + "\n")
    ds = context_for(tmp_path / "big.jsonl").open_dataset(None)
    digest = trace_digest(ds, "big", 8000)
    assert len(digest) <= 8000
    assert "s0200" in digest and "disk full" in digest
    assert "spans omitted]" in digest
