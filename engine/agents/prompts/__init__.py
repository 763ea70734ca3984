"""The agents' prompts, as Markdown files beside this module (`engine.texts`:
`$name` placeholders, so JSON braces in the text are safe)."""

from __future__ import annotations

from engine.texts import load_text

__all__ = ["prompt"]


def prompt(name: str, **values: object) -> str:
    """The prompt `name`.md with its `$placeholders` filled; a missing value is an error."""
    return load_text(__name__, f"{name}.md", **values)
