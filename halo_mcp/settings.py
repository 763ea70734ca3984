"""Command-line flags that mirror the engine's configuration, shared by `serve` and `diagnose`.

Every flag defaults to "not given", so the environment (`OPENAI_API_KEY`,
`OPENAI_BASE_URL`, `HALO_MODEL`, ...) and then the engine's own defaults apply;
a flag given on the command line wins over both. API keys are read from the
environment only, never from flags, so they do not show in process lists.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import InvalidArgumentError

if TYPE_CHECKING:  # imported when used: `halo-mcp config` should not pay for openai
    from engine.agents import DiagnoseConfig
    from engine.llm import LLMConfig
    from sandbox import Policy

__all__ = [
    "add_dataset_arguments",
    "shape_argument",
    "add_engine_arguments",
    "add_sandbox_arguments",
    "sandbox_policy",
    "llm_config",
    "diagnose_config_factory",
]

# argparse dest -> DiagnoseConfig field
_DIAGNOSE_FLAGS = {
    "max_depth": "max_depth",
    "max_parallel": "max_parallel",
    "max_turns": "max_turns",
    "subagent_max_turns": "subagent_max_turns",
    "token_budget": "token_budget",
    "wall_clock": "wall_clock_s",
    "context_limit": "context_limit_tokens",
    "runs_dir": "runs_dir",
    "repo": "repo",
    "telemetry": "telemetry",
}
# The environment variable that gives the server (and diagnose) the agent's repository.
REPO_ENV = "HALO_MCP_REPO"


def shape_argument(text: str) -> str:
    """`--shape`: a name from the readers' registry; any other is refused with the list.

    Checked when given rather than as argparse `choices`, so building the parser
    does not import the readers (numpy and all) for commands that read no traces.
    """
    from engine.traces.readers import shape_named

    try:
        return shape_named(text).name
    except InvalidArgumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shape",
        default=None,
        type=shape_argument,
        help="trace shape, when detection guesses wrong (a wrong name lists them all)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="index cache directory (default: $HALO_MCP_CACHE_DIR or $XDG_CACHE_HOME/halo-mcp)",
    )


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Model endpoint, models, depth, turns, parallelism and budgets."""
    llm = parser.add_argument_group("model (default: from OPENAI_* / HALO_* environment variables)")
    llm.add_argument("--model", help="model driving the agents ($HALO_MODEL)")
    llm.add_argument("--synthesis-model", help="model for synthesize ($HALO_SYNTHESIS_MODEL)")
    llm.add_argument("--compaction-model", help="model that compacts long contexts ($HALO_COMPACTION_MODEL)")
    llm.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. vLLM or Ollama ($OPENAI_BASE_URL)")
    llm.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="extra HTTP header for every model request (repeatable; adds to $HALO_EXTRA_HEADERS)",
    )
    llm.add_argument("--llm-timeout", type=float, help="seconds per model request")
    llm.add_argument("--llm-retries", type=int, help="retries per model request")

    engine = parser.add_argument_group("diagnose engine (default: the engine's own)")
    engine.add_argument("--max-depth", type=int, help="how deep subagents may nest")
    engine.add_argument("--max-parallel", type=int, help="subagents running at once")
    engine.add_argument("--max-turns", type=int, help="turn limit of the root agent")
    engine.add_argument("--subagent-max-turns", type=int, help="turn limit of each subagent")
    engine.add_argument("--token-budget", type=int, help="tokens one run may spend")
    engine.add_argument("--wall-clock", type=float, metavar="SECONDS", help="time one run may take")
    engine.add_argument("--context-limit", type=int, metavar="TOKENS", help="context window to stay under")
    engine.add_argument("--runs-dir", type=Path, help="where runs are saved ($HALO_MCP_RUNS_DIR)")
    engine.add_argument(
        "--repo",
        type=_repo_dir,
        metavar="PATH",
        help="the diagnosed agent's own code (a git work tree): agents read it, read-only, and cite its "
        "lines as path:line ($HALO_MCP_REPO)",
    )


    engine.add_argument(
        "--telemetry",
        type=_telemetry_target,
        metavar="PATH|otlp://HOST:PORT",
        help="OpenInference spans of the run's own model calls, tool calls and agents: to PATH (HALO JSONL, "
        "appended; halo-mcp reads it like any traces), or to an OTLP/HTTP collector such as `halo-mcp receive` "
        "(otlp://HOST:PORT posts to /v1/traces; an http(s)://… URL is used as given)",
    )


def _telemetry_target(text: str) -> Path | str:
    """argparse check: --telemetry is a file path or a collector URL that `otlp_export` accepts."""
    from engine.agents.otlp_export import endpoint_of, is_endpoint

    if not is_endpoint(text):
        return Path(text).expanduser()
    try:
        endpoint_of(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _repo_dir(text: str) -> Path:
    """argparse check: --repo names a directory."""
    path = Path(text).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory; give the folder of the agent's code")
    return path


def _policy_setting(text: str) -> str:
    """argparse check: a policy level or layer list that `sandbox.Policy` accepts."""
    from sandbox.policy import Policy

    try:
        Policy.from_setting(text)
    except InvalidArgumentError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def add_sandbox_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sandbox-policy",
        type=_policy_setting,
        default=None,
        metavar="POLICY",
        help="kernel layers run_code requires, or it refuses: strict (rlimits, landlock, seccomp), "
        "limits-only, none, or a comma list of rlimits, landlock, seccomp, capabilities "
        "(default: $HALO_SANDBOX_POLICY, else strict)",
    )


def sandbox_policy(args: argparse.Namespace) -> Policy:
    """The environment's sandbox policy, with `--sandbox-policy` replacing its required layers."""
    from sandbox.policy import Policy

    policy = Policy.from_env()
    flag = getattr(args, "sandbox_policy", None)
    if flag is not None:
        policy = policy.model_copy(update={"required": Policy.from_setting(flag).required})
    return policy


def _headers(values: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise InvalidArgumentError(f"--header {value!r} is not NAME:VALUE")
        headers[name.strip()] = content.strip()
    return headers


def llm_config(args: argparse.Namespace) -> LLMConfig:
    """The environment's model configuration with the command line's flags on top."""
    from engine.llm import LLMConfig

    config = LLMConfig.from_env()
    changes: dict[str, Any] = {}
    for flag, field in (
        ("model", "model"),
        ("synthesis_model", "synthesis_model"),
        ("compaction_model", "compaction_model"),
        ("base_url", "base_url"),
        ("llm_timeout", "timeout_s"),
        ("llm_retries", "max_retries"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            changes[field] = value
    extra = _headers(getattr(args, "header", []) or [])
    if extra:
        changes["headers"] = {**config.headers, **extra}
    return config.model_copy(update=changes)


def diagnose_config_factory(args: argparse.Namespace, llm: LLMConfig) -> Callable[..., DiagnoseConfig]:
    """A factory for per-run configs: the flags' values, then per-run overrides on top."""
    from engine.agents import DiagnoseConfig

    base: dict[str, Any] = {"llm": llm}
    for flag, field in _DIAGNOSE_FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            base[field] = value
    if "repo" not in base and os.environ.get(REPO_ENV):
        base["repo"] = Path(os.environ[REPO_ENV]).expanduser()

    def make(**overrides: Any) -> DiagnoseConfig:
        return DiagnoseConfig(**{**base, **overrides})

    return make
