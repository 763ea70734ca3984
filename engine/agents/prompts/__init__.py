"""The agents' prompts, as Markdown package data (loaded with importlib.resources).

Placeholders are `$name` (string.Template), so JSON braces in the text are safe.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from string import Template

__all__ = ["prompt"]


@cache
def _template(name: str) -> Template:
    return Template(files(__name__).joinpath(f"{name}.md").read_text("utf-8"))


def prompt(name: str, **values: object) -> str:
    """The prompt `name`.md with its `$placeholders` filled; a missing value is an error."""
    return _template(name).substitute({k: str(v) for k, v in values.items()})
