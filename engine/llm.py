"""Model access over the Chat Completions API, for any OpenAI-compatible provider.

OpenAI, OpenRouter, vLLM, llama.cpp and Ollama all speak Chat Completions with
tool calling, so that is the one protocol used. Retries are done here rather
than by the client, so the backoff honours `Retry-After`, every retry can be
reported to whoever waits, and a failure ends as one `LLMError` whose message
says what went wrong and what was tried.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import openai
import orjson
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, Field

from engine.errors import LLMError

__all__ = [
    "LLMConfig",
    "chat",
    "open_client",
    "usage_of",
    "Usage",
    "DEFAULT_MODEL",
    "RETRYABLE_STATUS",
    "EndpointRefusal",
    "context_overflow",
    "tool_choice_refused",
]

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-4.1-mini"
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MAX_RETRIES = 4
DEFAULT_BACKOFF_S = 1.0
# A timed-out request may still be running on the server (llama.cpp and Ollama keep
# generating for a client that left): wait at least this long before asking again ...
DEFAULT_TIMEOUT_BACKOFF_S = 30.0
# ... and ask again at most this many times after timeouts (other retries are not counted).
DEFAULT_MAX_TIMEOUT_RETRIES = 1
# Output caps per role: a small local model may otherwise generate until its context is full.
DEFAULT_AGENT_MAX_TOKENS = 4_096
DEFAULT_COMPACTION_MAX_TOKENS = 2_048
MAX_BACKOFF_S = 30.0
# A provider asking for a longer wait than this is treated as "not now": we give up.
MAX_RETRY_AFTER_S = 120.0
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529})
# Providers reached through a base URL often need no key, but the client wants one.
PLACEHOLDER_API_KEY = "not-needed"

OnRetry = Callable[[int, float, str], Awaitable[None]]  # (attempt, wait_s, reason)


class LLMConfig(BaseModel):
    """Where the models are and which model plays which role.

    `model` drives the agents; `synthesis_model` writes syntheses of many texts
    (the `synthesize` tool); `compaction_model` summarises old tool results when
    an agent's context fills up. Unset role models fall back to `model`.
    """

    api_key: str | None = Field(default=None, repr=False)
    base_url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    model: str = DEFAULT_MODEL
    synthesis_model: str | None = None
    compaction_model: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_s: float = DEFAULT_BACKOFF_S
    timeout_backoff_s: float = DEFAULT_TIMEOUT_BACKOFF_S
    max_timeout_retries: int = DEFAULT_MAX_TIMEOUT_RETRIES
    agent_max_tokens: int = Field(default=DEFAULT_AGENT_MAX_TOKENS, ge=16)
    compaction_max_tokens: int = Field(default=DEFAULT_COMPACTION_MAX_TOKENS, ge=16)

    @property
    def configured(self) -> bool:
        """True when there is somewhere to send requests: an API key or a base URL."""
        return bool(self.api_key or self.base_url)

    def model_for(self, role: str) -> str:
        """The model for a role: "agent", "synthesis" or "compaction"."""
        if role == "synthesis":
            return self.synthesis_model or self.model
        if role == "compaction":
            return self.compaction_model or self.model
        return self.model

    def max_tokens_for(self, role: str) -> int:
        """The output cap of a role: every agent and compaction request carries one."""
        return self.compaction_max_tokens if role == "compaction" else self.agent_max_tokens

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> LLMConfig:
        """Read OPENAI_API_KEY, OPENAI_BASE_URL, HALO_MODEL, HALO_SYNTHESIS_MODEL,
        HALO_COMPACTION_MODEL, HALO_EXTRA_HEADERS (a JSON object), HALO_LLM_TIMEOUT_S,
        HALO_LLM_MAX_RETRIES and HALO_MAX_OUTPUT_TOKENS (the agents' output cap)."""
        env = os.environ if environ is None else environ
        headers: dict[str, str] = {}
        raw_headers = env.get("HALO_EXTRA_HEADERS", "").strip()
        if raw_headers:
            try:
                parsed = orjson.loads(raw_headers)
            except orjson.JSONDecodeError as exc:
                raise LLMError(f"HALO_EXTRA_HEADERS is not a JSON object: {exc}") from None
            if not isinstance(parsed, dict):
                raise LLMError('HALO_EXTRA_HEADERS must be a JSON object like {"X-Title": "halo"}')
            headers = {str(k): str(v) for k, v in parsed.items()}
        return cls(
            api_key=env.get("OPENAI_API_KEY") or None,
            base_url=env.get("OPENAI_BASE_URL") or None,
            headers=headers,
            model=env.get("HALO_MODEL") or DEFAULT_MODEL,
            synthesis_model=env.get("HALO_SYNTHESIS_MODEL") or None,
            compaction_model=env.get("HALO_COMPACTION_MODEL") or None,
            timeout_s=float(env.get("HALO_LLM_TIMEOUT_S") or DEFAULT_TIMEOUT_S),
            max_retries=int(env.get("HALO_LLM_MAX_RETRIES") or DEFAULT_MAX_RETRIES),
            agent_max_tokens=int(env.get("HALO_MAX_OUTPUT_TOKENS") or DEFAULT_AGENT_MAX_TOKENS),
        )


class EndpointRefusal(LLMError):
    """The endpoint answered a request with a non-retryable status (400, 401, 404...).

    `status` and `detail` (the provider's own message) let the engine react to the
    refusals it can fix: a context too small for the prompt, an unsupported tool_choice.
    """

    def __init__(self, message: str, *, status: int, detail: str) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


# How llama.cpp, Ollama, vLLM and OpenAI say a prompt is longer than the context.
_CONTEXT_OVERFLOW = re.compile(
    r"context (size|length|window)|maximum context|context_length_exceeded|exceed_context_size|n_ctx"
    r"|prompt is too long|prompt too long|too many tokens|input length exceeds|reduce the length",
    re.I,
)
_CONTEXT_SIZE = re.compile(
    r"(?:maximum context length is|context size(?: is)?\s*\(?|context length(?: is| of)?|n_ctx\W*)\s*(\d{3,7})",
    re.I,
)


def context_overflow(exc: BaseException) -> tuple[bool, int | None]:
    """(whether the endpoint refused the prompt as longer than its context, the context
    size it stated if it stated one)."""
    if not isinstance(exc, EndpointRefusal) or exc.status not in (400, 413, 422, 500):
        return False, None
    if not _CONTEXT_OVERFLOW.search(exc.detail):
        return False, None
    size = _CONTEXT_SIZE.search(exc.detail)
    return True, int(size.group(1)) if size else None


def tool_choice_refused(exc: BaseException) -> bool:
    """Whether the endpoint refused the request because of its `tool_choice`."""
    return (
        isinstance(exc, EndpointRefusal)
        and exc.status in (400, 422, 500)
        and bool(re.search(r"tool[_ ]choice", exc.detail, re.I))
    )


class Usage(BaseModel):
    """Tokens (and cost, when the provider reports it) of one completion."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def usage_of(completion: ChatCompletion) -> Usage:
    """Usage of a completion; OpenRouter-style `usage.cost` is kept when present."""
    usage = completion.usage
    if usage is None:
        return Usage()
    extra = usage.model_extra or {}
    cost = extra.get("cost")
    return Usage(
        input_tokens=usage.prompt_tokens or 0,
        output_tokens=usage.completion_tokens or 0,
        cost=float(cost) if isinstance(cost, int | float) else None,
    )


@asynccontextmanager
async def open_client(config: LLMConfig) -> AsyncIterator[AsyncOpenAI]:
    """One HTTP client for many calls (a diagnose run opens one and closes it at the end)."""
    if not config.configured:
        raise LLMError(
            "no model is configured: set OPENAI_API_KEY (OpenAI, OpenRouter) or OPENAI_BASE_URL "
            "(vLLM, llama.cpp, Ollama), and HALO_MODEL to choose the model"
        )
    client = AsyncOpenAI(
        api_key=config.api_key or PLACEHOLDER_API_KEY,
        base_url=config.base_url,
        default_headers=config.headers or None,
        timeout=config.timeout_s,
        max_retries=0,  # retries are ours (see chat)
    )
    try:
        yield client
    finally:
        with anyio.CancelScope(shield=True):  # close sockets even when the run is cancelled
            await client.close()


async def chat(
    config: LLMConfig,
    messages: Sequence[dict[str, Any]],
    *,
    model: str | None = None,
    tools: Sequence[dict[str, Any]] | None = None,
    tool_choice: str | dict[str, Any] | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    client: AsyncOpenAI | None = None,
    on_retry: OnRetry | None = None,
    on_timeout: Callable[[], None] | None = None,
) -> ChatCompletion:
    """One Chat Completions request, retried with backoff on 429, 5xx, timeouts and
    connection errors. Raises `LLMError` when not configured or when the retries are
    used up, `EndpointRefusal` on a non-retryable status (bad request, auth).

    A timeout is retried at most `max_timeout_retries` times and only after
    `timeout_backoff_s`, since the server may still be busy with the request we left;
    `on_timeout` is called for every request so abandoned."""
    if client is None:
        async with open_client(config) as own:
            return await chat(
                config, messages, model=model, tools=tools, tool_choice=tool_choice,
                max_tokens=max_tokens, temperature=temperature, client=own, on_retry=on_retry,
                on_timeout=on_timeout,
            )  # fmt: skip
    request: dict[str, Any] = {"model": model or config.model, "messages": list(messages)}
    if tools:
        request["tools"] = list(tools)
        if tool_choice is not None:
            request["tool_choice"] = tool_choice
    if max_tokens is not None:
        request["max_tokens"] = max_tokens
    if temperature is not None:
        request["temperature"] = temperature

    attempt = timeouts = 0
    while True:
        timed_out = False
        try:
            completion: ChatCompletion = await client.chat.completions.create(**request)
        except openai.APIStatusError as exc:
            detail = _error_message(exc)
            reason = f"HTTP {exc.status_code}: {detail}"
            if exc.status_code not in RETRYABLE_STATUS or (
                exc.status_code == 500 and _CONTEXT_OVERFLOW.search(detail)  # llama.cpp says so with a 500
            ):
                raise EndpointRefusal(
                    f"model endpoint refused the request ({reason})", status=exc.status_code, detail=detail
                ) from None
            wait = _retry_after(exc.response.headers) if exc.response is not None else None
        except openai.APITimeoutError:
            reason, wait, timed_out = f"timed out after {config.timeout_s:g}s", None, True
            timeouts += 1
            if on_timeout is not None:
                on_timeout()
        except openai.APIConnectionError as exc:
            reason, wait = f"connection failed: {exc.__cause__ or exc}", None
        except openai.APIResponseValidationError as exc:
            reason, wait = f"unreadable response: {exc}", None
        else:
            if not getattr(completion, "choices", None):
                reason, wait = "response had no choices", None
            else:
                return completion
        if wait is not None and wait > MAX_RETRY_AFTER_S:
            raise LLMError(f"model endpoint asked to wait {wait:g}s ({reason}); giving up")
        if attempt >= config.max_retries or (timed_out and timeouts > config.max_timeout_retries):
            raise LLMError(
                f"model endpoint failed after {attempt + 1} attempts; last error: {reason} "
                f"(model {request['model']}, base URL {config.base_url or 'OpenAI default'})"
            )
        attempt += 1
        if wait is None:
            wait = min(MAX_BACKOFF_S, config.backoff_s * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
        if timed_out:
            wait = max(wait, config.timeout_backoff_s)  # let the server finish what we abandoned
        log.warning("model call failed (%s); retry %d/%d in %.1fs", reason, attempt, config.max_retries, wait)
        if on_retry is not None:
            await on_retry(attempt, wait, reason)
        await anyio.sleep(wait)


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:500]
    return str(exc.message)[:500]


def _retry_after(headers: Any) -> float | None:
    """Seconds the provider asks us to wait: `retry-after-ms`, `retry-after` seconds or date."""
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None
