from __future__ import annotations

import re
import shutil
from pathlib import Path

import orjson
import pytest
from support.halo_lines import jsonl, span

from engine.errors import InvalidArgumentError, InvalidPatternError, UnknownIdError
from engine.traces import store
from engine.traces.dataset import Dataset
from engine.traces.store.grep import searchable_text
from engine.traces.user_regex import allow_backtracking


@pytest.fixture
def medium(tmp_path: Path, fixtures: Path) -> Dataset:
    path = tmp_path / "medium.jsonl"
    shutil.copy(fixtures / "halo" / "medium_traces.jsonl", path)
    return Dataset.open([path])


@pytest.fixture
def tiny(fixtures: Path) -> Dataset:
    return Dataset.open([fixtures / "halo" / "tiny_traces.jsonl"])


def _tool(trace: str, sid: str, parent: str, tool: str, *, start: float, error: str = "") -> dict:
    return span(
        trace, sid, parent, name=f"tool.{tool}", kind="TOOL", start=start,
        status="STATUS_CODE_ERROR" if error else "STATUS_CODE_OK", message=error,
        attributes={"tool.name": tool, "output.value": f"result of {tool}"},
    )  # fmt: skip


@pytest.fixture
def agents(tmp_path: Path) -> Dataset:
    """Four runs of a small agent: two tools, errors whose messages differ only in numbers and ids."""
    path = tmp_path / "agents.jsonl"
    path.write_bytes(jsonl(*_agent_runs()))
    return Dataset.open([path])


def _agent_runs() -> list[dict]:
    spans = []
    for i in range(4):
        t = f"run-{i}"
        spans.append(span(t, f"{t}-root", name="agent.run", kind="AGENT", start=i * 100, end=i * 100 + 10 + i))
        spans.append(
            span(t, f"{t}-llm", f"{t}-root", name="chat", kind="LLM", start=i * 100 + 1,
                 attributes={"llm.model_name": "gpt-x" if i % 2 else "claude-y",
                             "llm.token_count.prompt": 100 * (i + 1), "llm.token_count.completion": 10})
        )  # fmt: skip
        error = f"Timeout after {10 + i}s calling https://api.example/v{i} (req {i:04x}abcdef12)" if i < 3 else ""
        spans.append(_tool(t, f"{t}-search", f"{t}-root", "search", start=i * 100 + 2, error=error))
        spans.append(_tool(t, f"{t}-fetch", f"{t}-root", "fetch", start=i * 100 + 3))
    return spans


def test_overview_counts_what_the_tiny_fixture_holds(tiny: Dataset) -> None:
    o = store.overview(tiny)
    assert (o.traces, o.spans) == (3, 6)
    assert o.error_traces == 1 and o.error_spans == 2
    assert o.kinds == {"agent": 3, "llm": 3}
    assert {m.name for m in o.models} == {"claude-sonnet-4-5", "gpt-5.4", "claude-haiku-4-5"}
    assert o.start_ns is not None and o.end_ns is not None and o.start_ns < o.end_ns
    assert o.input_tokens > 0
    assert {(s.name, s.template) for s in o.error_signatures} == {
        ("root", "tool call failed"),
        ("openai.chat.completions.create", "tool failure"),
    }


def test_error_signatures_group_messages_that_differ_only_in_numbers_urls_and_ids(agents: Dataset) -> None:
    signatures = store.error_signatures(agents, 10)
    assert len(signatures) == 1
    sig = signatures[0]
    assert sig.name == "tool.search" and sig.spans == 3 and sig.traces == 3
    assert "<url>" in sig.template and "<n>" in sig.template
    assert sig.example_message.startswith("Timeout after 10s")
    assert [e.trace_id for e in sig.examples] == ["run-0", "run-1", "run-2"]


def test_overview_counts_tool_calls_and_errors_per_tool(agents: Dataset) -> None:
    tools = {t.name: t for t in store.overview(agents).tools}
    assert (tools["search"].calls, tools["search"].errors, tools["search"].traces) == (4, 3, 4)
    assert (tools["fetch"].calls, tools["fetch"].errors) == (4, 0)


def test_the_overview_of_several_files_adds_their_counts_by_name(tmp_path: Path, agents: Dataset) -> None:
    runs = _agent_runs()
    (tmp_path / "one.jsonl").write_bytes(jsonl(*runs[:8]))
    (tmp_path / "two.jsonl").write_bytes(jsonl(*runs[8:]))
    split = store.overview(Dataset.open([tmp_path / "one.jsonl", tmp_path / "two.jsonl"]))
    whole = store.overview(agents)
    assert split.model_dump(exclude={"files", "quality"}) == whole.model_dump(exclude={"files", "quality"})
    assert split.error_signatures[0].spans == 3 and split.tools_total == 2


@pytest.mark.parametrize(
    "flt, expected",
    [
        (store.TraceFilter(has_errors=True), ["run-0", "run-1", "run-2"]),
        (store.TraceFilter(has_errors=False), ["run-3"]),
        (store.TraceFilter(model="gpt-x"), ["run-1", "run-3"]),
        (store.TraceFilter(tool="fetch", has_errors=False), ["run-3"]),
        (store.TraceFilter(span_name="tool.search"), ["run-0", "run-1", "run-2", "run-3"]),
        (store.TraceFilter(kind="llm", min_tokens=300), ["run-2", "run-3"]),
        (store.TraceFilter(min_duration_ms=11_500, max_duration_ms=12_500), ["run-2"]),
        (store.TraceFilter(start_after=1_776_920_400_000_000_000 + 150 * 10**9), ["run-2", "run-3"]),
        (store.TraceFilter(trace_ids=["run-1", "unknown"]), ["run-1"]),
        (store.TraceFilter(pattern=r"api\.example/v[12]"), ["run-1", "run-2"]),
        (store.TraceFilter(service="nobody"), []),
    ],
)
def test_query_filters(agents: Dataset, flt: store.TraceFilter, expected: list[str]) -> None:
    page = store.query_traces(agents, flt, limit=10)
    assert [t.trace_id for t in page.items] == expected
    assert page.total == len(expected) == store.count_traces(agents, flt)


def test_pages_follow_the_cursor_without_gaps_or_repeats(medium: Dataset) -> None:
    seen: list[str] = []
    durations: list[float] = []
    cursor = None
    while True:
        page = store.query_traces(
            medium, store.TraceFilter(), sort="duration", descending=True, limit=37, cursor=cursor
        )
        assert page.total == 500
        seen += [t.trace_id for t in page.items]
        durations += [t.duration_ms for t in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 500
    assert durations == sorted(durations, reverse=True)


def test_a_cursor_from_another_query_or_garbage_is_refused(medium: Dataset) -> None:
    page = store.query_traces(medium, store.TraceFilter(), limit=5)
    with pytest.raises(InvalidArgumentError, match=r"another filter or sort"):
        store.query_traces(medium, store.TraceFilter(), sort="spans", limit=5, cursor=page.next_cursor)
    with pytest.raises(InvalidArgumentError, match=r"invalid cursor"):
        store.query_traces(medium, store.TraceFilter(), limit=5, cursor="not-a-cursor")


def test_bad_query_arguments_are_explained(medium: Dataset) -> None:
    with pytest.raises(InvalidArgumentError, match=r"unknown span kind 'robot'.*llm"):
        store.count_traces(medium, store.TraceFilter(kind="robot"))
    with pytest.raises(InvalidArgumentError, match=r"unknown sort"):
        store.query_traces(medium, store.TraceFilter(), sort="alphabet")
    with pytest.raises(InvalidPatternError, match=r"position"):
        store.count_traces(medium, store.TraceFilter(pattern="(unclosed"))


def test_view_trace_lists_the_tree_depth_first_with_depths(agents: Dataset) -> None:
    view = store.view_trace(agents, "run-0")
    assert [(v.span_id, v.depth) for v in view] == [
        ("run-0-root", 0), ("run-0-llm", 1), ("run-0-search", 1), ("run-0-fetch", 1),
    ]  # fmt: skip
    search = view[2]
    assert (search.kind, search.status, search.tool_name) == ("tool", "error", "search")
    assert search.status_message is not None and search.status_message.startswith("Timeout")
    with pytest.raises(UnknownIdError, match=r"'run-9'"):
        store.view_trace(agents, "run-9")


def test_view_trace_shows_orphans_as_roots_and_keeps_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_bytes(
        jsonl(span("t", "root"), span("t", "kid", "root", start=0.1), span("t", "kid", "root", start=0.2),
              span("t", "stray", "gone", start=0.05))
    )
    view = store.view_trace(Dataset.open([path]), "t")
    assert [(v.span_id, v.depth) for v in view] == [("root", 0), ("kid", 1), ("kid", 1), ("stray", 0)]
    assert view[1].flags == ["duplicate"] and view[3].flags == ["orphan"]


def test_get_spans_returns_attributes_and_the_original_json(tiny: Dataset, fixtures: Path) -> None:
    first = orjson.loads((fixtures / "halo" / "tiny_traces.jsonl").read_bytes().splitlines()[1])
    [detail] = store.get_spans(tiny, first["trace_id"], [first["span_id"]])
    assert detail.raw == first
    assert detail.attributes == first["attributes"]
    assert detail.model == "claude-sonnet-4-5"
    with pytest.raises(UnknownIdError, match=r"'x1', 'x2'"):
        store.get_spans(tiny, first["trace_id"], [first["span_id"], "x1", "x2"])


def test_search_counts_every_match_exactly_and_returns_a_bounded_few(medium: Dataset) -> None:
    regex = re.compile(r"claude-\w+-4-5")
    expected = sum(len(regex.findall(searchable_text(medium.raw_bytes(r)))) for r in range(medium.n_spans))
    assert expected > 100
    result = store.search(medium, regex.pattern, limit=5, context_chars=10)
    assert result.total_matches == expected
    assert len(result.matches) == 5 and result.has_more
    m = result.matches[0]
    text = searchable_text(medium.raw_bytes(m.row))
    assert text[m.start : m.start + m.match_chars] == m.match
    assert text[m.start - 10 : m.start] == m.before and len(m.after) == 10
    assert sum(c.count for c in result.span_counts) == expected or len(result.span_counts) == 100


def test_search_within_one_trace_or_one_span(agents: Dataset) -> None:
    in_trace = store.search(agents, "result of", trace_id="run-1")
    assert (in_trace.total_matches, in_trace.spans_matched, in_trace.traces_matched) == (2, 2, 1)
    in_span = store.search(agents, "result of", trace_id="run-1", span_id="run-1-fetch")
    assert in_span.total_matches == 1 and in_span.matches[0].span_id == "run-1-fetch"
    with pytest.raises(InvalidArgumentError, match=r"needs trace_id"):
        store.search(agents, "x", span_id="run-1-fetch")


def test_search_reads_json_strings_as_a_model_sees_them(tmp_path: Path) -> None:
    path = tmp_path / "esc.jsonl"
    path.write_bytes(jsonl(span("t", "s", attributes={"output.value": 'File "app.py", line 3\nKeyError: \'é\''})))
    ds = Dataset.open([path])
    assert store.search(ds, r'File "app\.py", line 3\nKeyError').total_matches == 1
    assert store.search(ds, "KEYERROR: 'É'", ignore_case=True).total_matches == 1


def test_bad_patterns_are_explained(tiny: Dataset) -> None:
    with pytest.raises(InvalidPatternError, match=r"missing \), unterminated subpattern at position 0"):
        store.search(tiny, "(abc")
    with pytest.raises(InvalidPatternError, match=r"empty string"):
        store.search(tiny, "x*")


def test_a_search_out_of_time_says_so(medium: Dataset) -> None:
    result = store.search(medium, "agent", timeout_s=0)
    assert result.truncated_by_time
    assert result.spans_searched < medium.n_spans


@pytest.mark.parametrize(
    "pattern",
    [
        r"agent-[bc]",
        r"^\{",
        r"\}$",
        r"\bllm\b",
        r"(?<=model_name\":\")claude",
        r"\}.\{",
        r"STATUS_CODE_(OK|ERROR)",
    ],  # \}.\{ only matches across two joined spans
)
def test_batched_search_counts_the_same_as_span_by_span(medium: Dataset, pattern: str) -> None:
    regex = re.compile(pattern)
    texts = [searchable_text(medium.raw_bytes(r)) for r in range(medium.n_spans)]
    expected_total = sum(len(regex.findall(t)) for t in texts)
    expected_spans = sum(1 for t in texts if regex.search(t))
    with allow_backtracking():  # the lookbehind runs on `re`, as in the guard's child
        result = store.search(medium, pattern, limit=3)
        traces = store.count_traces(medium, store.TraceFilter(pattern=pattern))
    assert (result.total_matches, result.spans_matched) == (expected_total, expected_spans)
    assert traces == len({medium.trace_id_of_row(r) for r, t in enumerate(texts) if regex.search(t)})


@pytest.mark.parametrize(
    "value",
    ['say "hi"', "back\\slash\\n and \\\\", "line\nnext\ttab\r", "é ü 😀 /path", "nul \x00 here", '\\"quoted\\"'],
)
def test_searchable_text_undoes_json_escapes_whatever_wrote_them(value: str) -> None:
    import json

    expected = value.replace("\x00", "\ufffd")
    for raw in (orjson.dumps({"v": value}), json.dumps({"v": value}, ensure_ascii=True).encode()):
        assert searchable_text(raw) == '{"v":"' + expected + '"}' or searchable_text(raw) == '{"v": "' + expected + '"}'


def test_a_literal_spelled_with_unicode_escapes_is_still_found(tmp_path: Path) -> None:
    path = tmp_path / "esc.jsonl"
    plain = orjson.dumps(span("t", "plain", attributes={"output.value": "rate limited"}))
    escaped = plain.replace(b'"t","span_id":"plain"', b'"t","span_id":"esc"').replace(
        b"rate limited", b"\\u0072ate limited"
    )
    path.write_bytes(plain + b"\n" + escaped + b"\n")
    ds = Dataset.open([path])
    result = store.search(ds, "rate limited")
    assert (result.total_matches, sorted(c.span_id for c in result.span_counts)) == (2, ["esc", "plain"])


def test_required_literals_are_taken_only_from_what_every_match_contains() -> None:
    from engine.traces.store.grep import required_literal
    from engine.traces.user_regex import compile_pattern

    assert required_literal(compile_pattern("rate.?limited")) == b"limited"
    assert required_literal(compile_pattern(r"Timeout(Error)?: after \d+s")) == b": after "
    assert required_literal(compile_pattern("abc|defgh")) is None
    assert required_literal(compile_pattern("rate limited", ignore_case=True)) is None
    assert required_literal(compile_pattern("(?i)rate limited")) is None
    assert required_literal(compile_pattern('say "hello"')) == b"hello"  # quotes are escaped in raw JSON
    # Python reads [[:alpha:]]abc as a set then "]abc"; RE2 as a class then "abc": no literal from Python
    assert required_literal(compile_pattern("[[:alpha:]]abc")) is None
