"""Prompt texts (Markdown package data) and the MCP prompts built from them.

The texts live in `.md` files beside this module so they can be read and
edited as prose; `$placeholders` are filled by `engine.texts.load_text`.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from engine.texts import load_text

__all__ = ["text", "register_prompts"]


def text(name: str, **values: object) -> str:
    """The prompt file `name`.md with its `$placeholders` filled."""
    return load_text(__name__, f"{name}.md", **values)


def register_prompts(mcp: MCPServer) -> None:
    @mcp.prompt(
        name="diagnose_dataset",
        title="Diagnose a trace dataset",
        description="Run a diagnosis over a dataset, then verify its findings and map them to the harness.",
    )
    def diagnose_dataset(question: str = "", dataset: str = "") -> str:
        return text(
            "diagnose_dataset",
            question=question.strip() or "What are the most frequent systemic failure modes of this agent?",
            dataset=f"`{dataset}`" if dataset.strip() else "the server's default dataset (omit `dataset`)",
            dataset_arg=f", dataset={dataset!r}" if dataset.strip() else "",
        )

    @mcp.prompt(
        name="investigate_finding",
        title="Investigate a finding before editing the harness",
        description="Check one finding of a diagnose report against the traces, find the code it points "
        "to, and propose the smallest change.",
    )
    def investigate_finding(run_id: str, finding: str = "1") -> str:
        return text("investigate_finding", run_id=run_id.strip(), finding=finding.strip() or "1")
