"""User regexes: RE2 whenever it can run them, backtracking only where it is allowed."""

from __future__ import annotations

import pytest

from engine.errors import InvalidPatternError
from engine.traces.user_regex import BacktrackingPatternError, allow_backtracking, compile_pattern


def test_an_ordinary_pattern_runs_on_the_linear_engine_with_case_folding() -> None:
    regex = compile_pattern("rate limit", ignore_case=True)
    assert regex.linear
    assert regex.search("429 RATE LIMIT exceeded")
    assert not compile_pattern("rate limit").search("RATE LIMIT")


def test_match_offsets_are_characters_in_text_that_is_not_ascii() -> None:
    regex = compile_pattern("ü+")
    text = "é 😀 üü and ü"
    assert [text[s:e] for s, e in regex.spans(text)] == ["üü", "ü"]
    subject = regex.subject(text)
    assert subject[regex.search_from(subject, 0) :].startswith("üü".encode())


def test_a_backtracking_pattern_compiles_only_inside_the_allowed_block() -> None:
    with allow_backtracking():
        regex = compile_pattern("(?<=a)b")
        assert not regex.linear and regex.search("ab") and not regex.search("cb")
    with pytest.raises(BacktrackingPatternError):
        compile_pattern("(?<=a)b")


def test_a_pattern_neither_engine_accepts_is_explained_where_it_breaks() -> None:
    with pytest.raises(InvalidPatternError, match=r"position 0: ⟨here⟩\*a"):
        compile_pattern("*a")


def test_a_pattern_matching_the_empty_string_is_refused() -> None:
    with pytest.raises(InvalidPatternError, match="matches the empty string"):
        compile_pattern("a*")
