"""Every tool name that advice, descriptions and prompts mention is a tool that exists.

Advice such as "list trace ids with query_traces" sends a model to a tool it
cannot call. Text a model or user reads is every string literal in `engine/`
and `halo_mcp/` (docstrings aside: they are for developers) and every prompt,
description and skill file. A word counts as a tool name when it is snake_case
and starts like a real tool (`view_…`, `run_…`, `diagnose_…`, `query_…`, …);
each must be a registered tool, one of the diagnose agents' own tools, or a
known non-tool word.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEXT_FILES = ("engine/**/*.md", "halo_mcp/**/*.md", "skills/**/*.md", "skills/**/*.mdc")
# Tools of the diagnose agents themselves (engine/agents/toolbox.py), not in the registry.
AGENT_TOOLS = {"call_subagent", "record_finding", "final_report", "submit_answer"}
# snake_case words that start like a tool but name fields, not tools.
NOT_TOOLS = {"run_id", "run_dir", "list_changed"}


def _literals(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if " " in node.value:  # prose, not an identifier used as a key
                yield node.value


def _texts() -> Iterator[tuple[str, str]]:
    for package in ("engine", "halo_mcp"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for text in _literals(path):
                yield str(path.relative_to(ROOT)), text
    for pattern in TEXT_FILES:
        for path in sorted(ROOT.glob(pattern)):
            yield str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")


def test_every_tool_name_in_advice_descriptions_and_prompts_is_a_tool() -> None:
    import engine.tools  # noqa: F401  (fills the registry)
    import halo_mcp.dataset_tools
    import halo_mcp.run_tools  # noqa: F401
    from engine.repo import REPO_TOOLS
    from engine.tools.registry import REGISTRY

    known = set(REGISTRY) | AGENT_TOOLS | set(REPO_TOOLS)
    starts = {name.split("_")[0] for name in known}
    unknown: dict[str, set[str]] = {}
    for where, text in _texts():
        for word in re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", text):
            if word.split("_")[0] in starts and word not in known and word not in NOT_TOOLS:
                unknown.setdefault(word, set()).add(where)
    assert not unknown, f"names that are no tool: {unknown}"
