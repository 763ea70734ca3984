"""A regex a user or a model supplied, compiled for a linear-time engine whenever it can be.

Every pattern that reaches trace data comes through `compile_pattern`. It is
compiled with RE2 (the `google-re2` package): RE2 matches in time linear in
the text for any pattern, so no crafted pattern can backtrack for minutes, and
its C++ matcher releases the GIL, so a long search leaves the event loop and
every other call running. Nothing needs guessing which patterns are risky.

Patterns RE2 refuses but Python's `re` accepts need backtracking: lookaround,
backreferences, `\\Z`, atomic groups and possessive repeats, verbose mode.
Python's `re` cannot be interrupted, so those run only where
`allow_backtracking()` is in force: in the child process of
`engine.tools.regex_guard`, which is killed at a hard deadline. Anywhere else
compiling one raises `BacktrackingPatternError`, which says what to use instead.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import cast

import re2

from engine.errors import InvalidPatternError

__all__ = ["UserRegex", "BacktrackingPatternError", "compile_pattern", "allow_backtracking", "needs_backtracking"]

# Memory RE2 may use for one compiled pattern (its program and DFA cache; RE2's
# own default). A pattern whose program does not fit is refused like one RE2
# cannot parse; a DFA that outgrows it falls back to RE2's slower, still linear,
# NFA. The google-re2 module caches 128 compiled patterns: 1 GiB at the worst.
RE2_MAX_MEM = 8 << 20

_backtracking_allowed: ContextVar[bool] = ContextVar("backtracking_allowed", default=False)


class BacktrackingPatternError(InvalidPatternError):
    """Raised for a pattern only a backtracking engine runs, outside the child that may run it."""


class UserRegex:
    """A compiled user pattern: RE2 (linear) or, in the guard's child only, Python's `re`.

    Searching works on `str`; `subject` and `search_from` let a caller scan one
    long joined text in a single pass (RE2 reads UTF-8 bytes, so the text is
    encoded once rather than on every call).
    """

    __slots__ = ("pattern", "ignore_case", "linear", "_rx")

    def __init__(self, pattern: str, ignore_case: bool, rx: re2._Regexp | re.Pattern[str]) -> None:
        self.pattern = pattern
        self.ignore_case = ignore_case
        self.linear = not isinstance(rx, re.Pattern)
        self._rx = rx

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in `text`."""
        return self._rx.search(text) is not None

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        """(start, end) character offsets of every match in `text`, left to right."""
        for m in self._rx.finditer(text):
            yield m.span()

    def subject(self, text: str) -> str | bytes:
        """`text` as `search_from` reads it (UTF-8 bytes for RE2, the text itself for `re`)."""
        return text.encode("utf-8") if self.linear else text

    def search_from(self, subject: str | bytes, pos: int) -> int | None:
        """Offset (in `subject`'s units) of the first match at or after `pos`, or None."""
        m = self._rx.search(cast(str, subject), pos)  # bytes only for RE2 (untyped); `re` gets the text itself
        return None if m is None else m.start()


@contextmanager
def allow_backtracking() -> Iterator[None]:
    """Within this block, compile patterns that need backtracking (the guard's killable child only)."""
    token = _backtracking_allowed.set(True)
    try:
        yield
    finally:
        _backtracking_allowed.reset(token)


def needs_backtracking(pattern: str) -> bool:
    """Whether `pattern` runs only on a backtracking engine (a bad pattern raises InvalidPatternError)."""
    try:
        _compile_re2(pattern, ignore_case=False)
    except re2.error:
        _compile_re(pattern, ignore_case=False)  # raises for a pattern that is simply wrong
        return True
    return False


def compile_pattern(pattern: str, *, ignore_case: bool = False) -> UserRegex:
    """Compile a user regex; a bad one raises InvalidPatternError saying what is wrong and where."""
    if not pattern:
        raise InvalidPatternError("the search pattern is empty; give a regular expression such as 'timeout|rate limit'")
    try:
        regex = UserRegex(pattern, ignore_case, _compile_re2(pattern, ignore_case=ignore_case))
    except re2.error as exc:
        compiled = _compile_re(pattern, ignore_case=ignore_case)  # Python's message says where it is wrong
        if not _backtracking_allowed.get():
            raise BacktrackingPatternError(_unsupported(pattern, exc)) from None
        regex = UserRegex(pattern, ignore_case, compiled)
    if regex.search(""):
        raise InvalidPatternError(
            f"the pattern {pattern!r} matches the empty string, so it would match everywhere; "
            "make it require at least one character"
        )
    return regex


def _compile_re2(pattern: str, *, ignore_case: bool) -> re2._Regexp:
    options = re2.Options()
    options.log_errors = False  # RE2 would print each refusal to stderr
    options.max_mem = RE2_MAX_MEM
    options.case_sensitive = not ignore_case
    return re2.compile(pattern, options)


def _compile_re(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "possible nested set": the pattern still compiles
            return re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except (re.error, OverflowError, RecursionError) as exc:
        if not isinstance(exc, re.error):
            raise InvalidPatternError(
                f"invalid regular expression {pattern!r}: it is too large or too deeply nested"
            ) from None
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        pointer = f": {pattern[: exc.pos]}⟨here⟩{pattern[exc.pos :]}" if exc.pos is not None else ""
        raise InvalidPatternError(f"invalid regular expression {pattern!r}: {exc.msg}{where}{pointer}") from None


def _unsupported(pattern: str, exc: re2.error) -> str:
    reason = str(exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc)
    return (
        f"the pattern {pattern!r} needs a backtracking regex engine ({reason}), which cannot be "
        "bounded in time here. Lookaround, backreferences, \\Z, atomic groups and possessive "
        "repeats are not supported; write it without them (e.g. \\z for \\Z, or match the "
        "surrounding text instead of a lookbehind)"
    )
