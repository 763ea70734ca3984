"""view_spans: chosen spans in detail; any value readable to its end in pieces."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine.errors import InvalidArgumentError, UnknownIdError

pytestmark = pytest.mark.anyio
ERROR_TRACE, ERROR_SPAN = "000000000000000000000000a0000065", "0000006500000003"
LLM_TRACE, LLM_SPAN = "000000000000000000000000a0000079", "0000007900000002"


def _long_value_trace(path: Path, text: str) -> Path:
    span = {
        "trace_id": "t1", "span_id": "s1", "parent_span_id": "", "name": "read_file", "kind": "SPAN_KIND_INTERNAL",
        "start_time": "2026-01-01T00:00:00.000000000Z", "end_time": "2026-01-01T00:00:01.000000000Z",
        "status": {"code": "STATUS_CODE_OK", "message": ""},
        "attributes": {"openinference.span.kind": "TOOL", "tool.name": "read_file", "output.value": text},
    }  # fmt: skip
    path.write_text(json.dumps(span) + "\n")
    return path


async def test_shows_every_attribute_and_the_exception_event(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    answer = await tool("view_spans", ctx, trace_id=ERROR_TRACE, span_ids=[ERROR_SPAN])
    (span,) = answer.result.spans
    assert span.status == "error" and span.error.startswith("TimeoutError: Timeout after 30s")
    assert span.attributes["tool.name"] == "get_weather"
    assert "exception.message" in span.attributes["(events)"]


async def test_flat_message_projections_are_folded_when_the_blob_has_them(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    (span,) = (await tool("view_spans", ctx, trace_id=LLM_TRACE, span_ids=[LLM_SPAN])).result.spans
    assert span.folded == 8
    assert not any(k.startswith("llm.input_messages.") for k in span.attributes)
    assert "input.value" in span.attributes and "output.value" in span.attributes


async def test_a_long_value_reads_to_its_end_by_following_the_markers(context_for, tool, tmp_path: Path) -> None:
    text = "".join(f"line {i:05d}\n" for i in range(3000))  # 33,000 chars
    ctx = context_for(_long_value_trace(tmp_path / "long.jsonl", text))
    first = await tool("view_spans", ctx, trace_id="t1", span_ids=["s1"], max_chars=1000)
    shown = first.result.spans[0].attributes["output.value"]
    assert shown.startswith("line 00000") and shown.endswith("line 02999\n")
    call = re.search(r'view_spans\(trace_id="t1", span_ids=\["s1"\], attribute="output.value", offset=(\d+)\)', shown)
    assert call is not None
    offset, pieces = int(call.group(1)), [shown[: shown.index(" [… ")]]
    while True:
        page = await tool("view_spans", ctx, trace_id="t1", span_ids=["s1"], attribute="output.value",
                          offset=offset, max_chars=5000)  # fmt: skip
        piece = page.result.spans[0].attributes["output.value"]
        more = re.search(r"offset=(\d+)\)\]$", piece)
        pieces.append(piece[: piece.index(" [… ")] if more else piece)
        if not more:
            break
        offset = int(more.group(1))
    assert "".join(pieces) == text


async def test_unknown_span_ids_are_named(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    with pytest.raises(UnknownIdError, match=r"'nope'.*view_trace"):
        await tool("view_spans", ctx, trace_id=LLM_TRACE, span_ids=[LLM_SPAN, "nope"])


async def test_an_unknown_id_gives_its_advice_once(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    with pytest.raises(UnknownIdError) as span_error:
        await tool("view_spans", ctx, trace_id=LLM_TRACE, span_ids=["nope"])
    assert str(span_error.value).count("view_trace") == 1
    assert f'view_trace(trace_id="{LLM_TRACE}")' in str(span_error.value)
    with pytest.raises(UnknownIdError) as trace_error:
        await tool("view_spans", ctx, trace_id="nope", span_ids=["x"])
    # an unknown trace has no span ids to list: the advice is how to find trace ids
    assert "view_trace" not in str(trace_error.value) and str(trace_error.value).count("query(") == 1


async def test_an_unknown_attribute_lists_the_ones_there_are(context_for, tool, fixture_dir) -> None:
    ctx = context_for(fixture_dir / "analytics" / "patterns.jsonl")
    with pytest.raises(InvalidArgumentError, match=r"no attribute 'nope'.*input.value"):
        await tool("view_spans", ctx, trace_id=LLM_TRACE, span_ids=[LLM_SPAN], attribute="nope")


async def test_more_spans_than_the_maximum_are_listed_as_not_shown(context_for, tool, tmp_path: Path) -> None:
    lines = [
        json.dumps({"trace_id": "t", "span_id": f"s{i:02d}", "parent_span_id": "", "name": "step",
                    "start_time": "2026-01-01T00:00:00Z", "attributes": {}})
        for i in range(25)
    ]  # fmt: skip
    (tmp_path / "many.jsonl").write_text("\n".join(lines) + "\n")
    ctx = context_for(tmp_path / "many.jsonl")
    ids = [f"s{i:02d}" for i in range(25)]
    answer = await tool("view_spans", ctx, trace_id="t", span_ids=ids + ids[:3], max_chars=10)
    assert [s.span_id for s in answer.result.spans] == ids[:20]
    assert answer.result.missing == ids[20:]
    assert "25 span ids asked; showing the first 20" in answer.result.notes
    assert "max_chars=10 is below the minimum; used 100" in answer.result.notes
    assert 'not shown: view_spans(trace_id="t", span_ids=["s20"' in answer.text
