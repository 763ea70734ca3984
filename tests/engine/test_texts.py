"""Every prompt and description file goes through the one loader with `$name` placeholders."""

from __future__ import annotations

import re
from importlib.resources import files
from string import Template

import pytest

from engine.texts import load_text

# (package, folder inside it) of every Markdown text a model or a client reads.
TEXT_FOLDERS = [
    ("engine.agents.prompts", ""),
    ("engine.tools", "descriptions"),
    ("engine.tools", "prompts"),
    ("engine.repo", "descriptions"),
    ("halo_mcp.prompts", ""),
]


def _texts() -> list[tuple[str, str]]:
    found = []
    for package, folder in TEXT_FOLDERS:
        root = files(package).joinpath(folder) if folder else files(package)
        for entry in root.iterdir():
            if entry.name.endswith(".md"):
                found.append((package, f"{folder}/{entry.name}" if folder else entry.name))
    return sorted(found)


def test_the_text_folders_hold_the_prompts_and_descriptions() -> None:
    names = {path.rsplit("/", 1)[-1] for _, path in _texts()}
    assert {"root.md", "query.md", "synthesize_map.md", "search_code.md", "server_instructions.md"} <= names


@pytest.mark.parametrize(("package", "path"), _texts())
def test_each_text_renders_with_no_placeholder_left(package: str, path: str) -> None:
    raw = files(package).joinpath(path).read_text("utf-8")
    template = Template(raw)
    assert template.is_valid(), f"{path}: a lone $ (write $$ for a dollar)"
    values = {name: f"<{name}>" for name in template.get_identifiers()}
    text = load_text(package, path, **values)
    for name in values:
        assert f"<{name}>" in text
    # the old str.format syntax is gone: no {identifier} is left for anyone to fill
    assert not re.findall(r"(?<!\{)\{[a-z_]+\}(?!\})", text), path
    assert text == raw.strip().replace("$$", "$") if not values else text.count("$") == raw.count("$$")


def test_a_missing_value_is_an_error_not_a_hole() -> None:
    with pytest.raises(KeyError):
        load_text("halo_mcp.prompts", "investigate_finding.md", run_id="r1")
    filled = load_text("halo_mcp.prompts", "investigate_finding.md", run_id="r1", finding="2")
    assert "finding 2 of diagnose run `r1`" in filled


def test_a_dollar_is_written_twice_and_read_once() -> None:
    assert "`^` and `$` match at line ends" in load_text("engine.repo", "descriptions/search_code.md")
