"""Budget helpers: visible cuts, clamping that says so, fitting that never overshoots."""

from __future__ import annotations

from pydantic import Field

from engine.tools.budget import answer_tokens, clamp, cut, fit
from engine.tools.registry import ToolResult


class Items(ToolResult):
    items: list[str] = Field(default_factory=list)
    has_more: bool = False

    def render(self) -> str:
        return "\n".join(self.items) + ("\n(more)" if self.has_more else "")


def test_cut_keeps_head_and_tail_and_names_the_call_that_shows_the_rest() -> None:
    text = "HEAD" + "x" * 10_000 + "TAIL"
    out = cut(text, 500, 'view_spans(trace_id="t", span_ids=["s"], attribute="input.value", offset=300)')
    assert len(out) <= 500
    assert out.startswith("HEAD") and out.endswith("TAIL")
    assert "chars cut; view_spans(" in out
    marker = out[out.index("[…") : out.index(")]") + 2]
    kept = len(out) - len(marker) - 2  # the marker sits between two spaces
    assert marker.startswith(f"[… {len(text) - kept:,} chars cut;")


def test_cut_leaves_short_text_alone() -> None:
    assert cut("short", 10, "x") == "short"


def test_clamp_moves_out_of_range_values_and_says_so() -> None:
    notes: list[str] = []
    assert clamp(500, 1, 100, "limit", notes) == 100
    assert clamp(0, 1, 100, "limit", notes) == 1
    assert clamp(50, 1, 100, "limit", notes) == 50
    assert notes == ["limit=500 is above the maximum; used 100", "limit=0 is below the minimum; used 1"]


def test_fit_drops_items_before_shortening_strings_by_default() -> None:
    values = [f"item {i} " + "y" * 400 for i in range(50)]

    def build(n: int, chars: int) -> Items:
        return Items(items=[cut(v, chars, "more") for v in values[:n]], has_more=n < len(values))

    result = fit(build, items=50, chars=1000, limit=1000)
    assert answer_tokens(result) <= 1000
    assert result.has_more
    assert 1 <= len(result.items) < 50
    assert all("chars cut" not in i for i in result.items)


def test_fit_shortens_strings_first_when_asked_and_keeps_every_item() -> None:
    values = ["z" * 5000 for _ in range(4)]

    def build(n: int, chars: int) -> Items:
        return Items(items=[cut(v, chars, "more") for v in values[:n]], has_more=n < len(values))

    result = fit(build, items=4, chars=5000, limit=750, prefer="chars")
    assert answer_tokens(result) <= 750
    assert len(result.items) == 4
    assert all("chars cut" in i for i in result.items)
