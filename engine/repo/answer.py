"""What every repository tool answers: a header, numbered lines, and how to see the rest.

One result shape serves all of them (a file window, a listing, search hits, a
log, a patch), fitted to the caller's token budget by `engine.tools.budget.fit`:
fewer lines first, then shorter lines, and the answer names the call that shows
what was left out.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from pydantic import Field

from engine.texts import load_text
from engine.tools.budget import cut, fit
from engine.tools.registry import ToolResult

__all__ = ["RepoAnswer", "fitted", "description", "MAX_LINE_CHARS"]

# A line longer than this is cut in the middle (minified files, long prompts on one line).
MAX_LINE_CHARS = 400


class RepoAnswer(ToolResult):
    header: str
    lines: list[str]
    total: int  # lines (or items) the full answer has
    shown: int  # of which these many are shown
    more: str | None = None  # the call that shows the rest, when lines were left out
    notes: list[str] = Field(default_factory=list)

    def render(self) -> str:
        out = [self.header, *self.lines]
        if self.more:
            out.append(f"({self.shown} of {self.total} shown; {self.more})")
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)


def fitted(header: str, lines: list[str], budget: int, *, more: str | Callable[[int], str],
           notes: list[str] | None = None, total: int | None = None) -> RepoAnswer:  # fmt: skip
    """The answer showing as many of `lines` as fit `budget` tokens; `more` says how to see the rest
    (a callable gets the number of lines shown)."""
    count = len(lines) if total is None else total

    def build(n: int, chars: int) -> RepoAnswer:
        shown = [cut(line, chars, "read_file shows the whole line") for line in lines[:n]]
        left_out = n < count
        return RepoAnswer(header=header, lines=shown, total=count, shown=n,
                          more=(more(n) if callable(more) else more) if left_out else None,
                          notes=list(notes or []))  # fmt: skip

    return fit(build, items=len(lines), chars=MAX_LINE_CHARS, limit=budget, min_items=0)


@cache
def description(name: str) -> str:
    """The model-facing description of a repository tool, from `descriptions/<name>.md`."""
    return load_text("engine.repo", f"descriptions/{name}.md")
