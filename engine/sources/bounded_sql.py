"""One SELECT written by a user or a model, run read-only in ClickHouse with a row cap.

This is what `run_code`'s `sql` argument runs before the code: the statement goes
to the dataset's own ClickHouse (chDB or a server), and only its first
`SQL_MAX_ROWS` rows come back, as the `sql` DataFrame the code sees.

The statement is hostile input with the server's credentials behind it. It is
wrapped as `SELECT * FROM (<statement>) LIMIT n SETTINGS readonly = 1`, and
`readonly = 1` is what refuses writes, setting changes and the table functions
that reach files and hosts (`file()`, `url()`, `s3()`, `remote()`). For the
wrapper to hold, the statement must stay inside its parentheses, so it is read
by a small lexer first: no comments (a `--` would swallow the wrapper's tail), no
`;`, no heredoc `$` strings, quotes closed, parentheses balanced and never closed
below the statement's own level. A statement refused here is named with why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import InvalidArgumentError
from engine.sources.base import SourceURL
from engine.sources.clickhouse import connect

__all__ = ["SQL_MAX_ROWS", "SQL_MAX_CHARS", "SqlRows", "checked_select", "select_rows"]

# Most rows one bounded query returns, and the longest statement taken.
SQL_MAX_ROWS = 10_000
SQL_MAX_CHARS = 20_000

_QUOTES = {"'": "a string", '"': "a quoted name", "`": "a quoted name"}


@dataclass(frozen=True)
class SqlRows:
    """The answer of one bounded SELECT: column names, rows, and whether the cap cut it."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


def checked_select(statement: str) -> str:
    """The statement without a trailing `;`, once it is one SELECT that cannot leave its parentheses."""
    body = statement.strip()
    while body.endswith(";"):
        body = body[:-1].rstrip()
    if not body:
        raise InvalidArgumentError("sql is empty: give one SELECT statement")
    if len(body) > SQL_MAX_CHARS:
        raise InvalidArgumentError(f"sql is longer than {SQL_MAX_CHARS:,} characters")
    if not body.lower().startswith(("select", "with")):
        raise InvalidArgumentError("sql must be one SELECT (or WITH … SELECT) statement")
    depth = 0
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch in _QUOTES:
            end = _closing(body, i)
            if end < 0:
                raise InvalidArgumentError(f"sql has {_QUOTES[ch]} that is never closed")
            i = end + 1
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise InvalidArgumentError("sql closes a parenthesis it never opened")
        elif ch == ";":
            raise InvalidArgumentError("sql must be one statement: no ';' inside it")
        elif ch == "$":
            raise InvalidArgumentError("sql may not use '$' outside quotes (heredoc strings are not taken)")
        elif ch == "\0":
            raise InvalidArgumentError("sql contains a NUL character")
        elif body.startswith(("--", "/*", "#"), i):
            raise InvalidArgumentError("sql may not contain comments")
        i += 1
    if depth:
        raise InvalidArgumentError("sql leaves a parenthesis open")
    return body


def _closing(text: str, start: int) -> int:
    """Index of the quote closing the one at `start` (backslash escapes and doubled quotes), or -1."""
    quote = text[start]
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == quote:
            if i + 1 < len(text) and text[i + 1] == quote:  # '' inside a string
                i += 2
                continue
            return i
        i += 1
    return -1


def select_rows(url: SourceURL, statement: str, *, limit: int = SQL_MAX_ROWS) -> SqlRows:
    """Run one checked SELECT read-only in the source's ClickHouse; at most `limit` rows."""
    if not 1 <= limit <= SQL_MAX_ROWS:
        raise InvalidArgumentError(f"limit must be 1-{SQL_MAX_ROWS}")
    body = checked_select(statement)
    wrapped = f"SELECT * FROM ({body}) LIMIT {int(limit) + 1} SETTINGS readonly = 1"
    with connect(url) as client:
        rows = client.rows(wrapped)  # first: readonly refuses what must not run before DESCRIBE sees it
        described = client.rows(f"DESCRIBE ({wrapped})")
    columns = [str(row[0]) for row in described]
    return SqlRows(columns, [list(r) for r in rows[:limit]], len(rows) > limit)
