"""Prose the project hands to models and clients: prompts, tool descriptions, server
instructions, each a Markdown file of package data beside the code that uses it.

One loader and one placeholder syntax for all of them: `$name` (`string.Template`),
so JSON braces in a prompt are plain text and a literal dollar is written `$$`.
A placeholder without a value, or a value without a placeholder's file, is an error
at the call, not a prompt with a hole in it.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from string import Template

__all__ = ["load_text"]


@cache
def _template(package: str, path: str) -> Template:
    return Template(files(package).joinpath(path).read_text("utf-8").strip())


def load_text(package: str, path: str, **values: object) -> str:
    """The text of `path` (relative to `package`, e.g. "descriptions/query.md") with its
    `$placeholders` filled from `values`; a missing value raises `KeyError`."""
    return _template(package, path).substitute({key: str(value) for key, value in values.items()})
