"""engine.llm against a real OpenAI-compatible server on 127.0.0.1 (scripted), real openai client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.scripted_llm import ScriptedLLM, reply

from engine.errors import LLMError
from engine.llm import LLMConfig, chat, open_client, usage_of

pytestmark = pytest.mark.anyio

TOOLS = [{"type": "function", "function": {"name": "overview", "parameters": {"type": "object", "properties": {}}}}]
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as server:
        yield server


def config(llm: ScriptedLLM, **kw: object) -> LLMConfig:
    values: dict[str, object] = {"base_url": llm.base_url, "model": "scripted", "backoff_s": 0.01, "timeout_s": 5.0}
    values.update(kw)
    return LLMConfig.model_validate(values)


def test_from_env_reads_key_url_models_and_extra_headers() -> None:
    cfg = LLMConfig.from_env(
        {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": "http://127.0.0.1:1/v1",
            "HALO_MODEL": "agent-m",
            "HALO_COMPACTION_MODEL": "small-m",
            "HALO_EXTRA_HEADERS": '{"X-Title": "halo", "HTTP-Referer": "https://example.org"}',
        }
    )
    assert cfg.configured
    assert (cfg.api_key, cfg.base_url) == ("sk-test", "http://127.0.0.1:1/v1")
    assert cfg.model_for("agent") == "agent-m"
    assert cfg.model_for("compaction") == "small-m"
    assert cfg.model_for("synthesis") == "agent-m"  # unset role falls back to the agent model
    assert cfg.headers == {"X-Title": "halo", "HTTP-Referer": "https://example.org"}
    assert "sk-test" not in repr(cfg)


def test_empty_environment_is_not_configured() -> None:
    assert not LLMConfig.from_env({}).configured


def test_extra_headers_that_are_not_a_json_object_are_refused() -> None:
    with pytest.raises(LLMError, match=r"HALO_EXTRA_HEADERS"):
        LLMConfig.from_env({"HALO_EXTRA_HEADERS": "[1, 2]"})


async def test_unconfigured_chat_raises_llm_error_saying_how_to_configure() -> None:
    with pytest.raises(LLMError, match=r"OPENAI_API_KEY"):
        await chat(LLMConfig(), HELLO)


async def test_tool_call_reply_and_usage_come_back_with_headers_and_model_sent(llm: ScriptedLLM) -> None:
    llm.script(reply.call("overview", {"limit": 3}, prompt_tokens=11, completion_tokens=7, cost=0.002))
    completion = await chat(config(llm, headers={"X-Title": "halo-test"}), HELLO, tools=TOOLS, model="m-2")
    call = completion.choices[0].message.tool_calls[0]
    assert (call.function.name, call.function.arguments) == ("overview", '{"limit": 3}')
    usage = usage_of(completion)
    assert (usage.input_tokens, usage.output_tokens, usage.cost) == (11, 7, 0.002)
    sent = llm.requests[0]
    assert sent.headers["x-title"] == "halo-test"
    assert sent.model == "m-2"
    assert sent.tool_names == ["overview"]


async def test_429_with_retry_after_is_retried_then_succeeds(llm: ScriptedLLM) -> None:
    llm.script(reply.error(429, "slow down", retry_after=0), reply.text("fine"))
    seen: list[tuple[int, float, str]] = []

    async def on_retry(attempt: int, wait_s: float, reason: str) -> None:
        seen.append((attempt, wait_s, reason))

    completion = await chat(config(llm), HELLO, on_retry=on_retry)
    assert completion.choices[0].message.content == "fine"
    assert len(llm.requests) == 2
    assert seen == [(1, 0.0, "HTTP 429: slow down")]


async def test_server_errors_are_retried_up_to_max_retries_then_raise(llm: ScriptedLLM) -> None:
    llm.script(*[reply.error(503, "overloaded") for _ in range(3)])
    with pytest.raises(LLMError, match=r"after 3 attempts; last error: HTTP 503: overloaded"):
        await chat(config(llm, max_retries=2), HELLO)
    assert len(llm.requests) == 3


async def test_bad_request_is_not_retried(llm: ScriptedLLM) -> None:
    llm.script(reply.error(400, "unknown model"), reply.text("never sent"))
    with pytest.raises(LLMError, match=r"refused the request .HTTP 400: unknown model"):
        await chat(config(llm), HELLO)
    assert len(llm.requests) == 1


async def test_timeouts_are_retried(llm: ScriptedLLM) -> None:
    llm.script(reply.text("late", delay_s=2.0), reply.text("on time"))
    completion = await chat(config(llm, timeout_s=0.5), HELLO)
    assert completion.choices[0].message.content == "on time"
    assert len(llm.requests) == 2


async def test_retry_after_longer_than_the_cap_gives_up_at_once(llm: ScriptedLLM) -> None:
    llm.script(reply.error(429, "quota", retry_after=3600))
    with pytest.raises(LLMError, match=r"asked to wait 3600s"):
        await chat(config(llm), HELLO)
    assert len(llm.requests) == 1


async def test_connection_refused_raises_llm_error_after_retries() -> None:
    with ScriptedLLM() as gone:
        url = gone.base_url
    cfg = LLMConfig(base_url=url, model="m", max_retries=1, backoff_s=0.01)
    with pytest.raises(LLMError, match=r"connection failed"):
        await chat(cfg, HELLO)


async def test_one_client_serves_many_calls(llm: ScriptedLLM) -> None:
    llm.script(reply.text("one"), reply.text("two"))
    cfg = config(llm)
    async with open_client(cfg) as client:
        first = await chat(cfg, HELLO, client=client)
        second = await chat(cfg, HELLO, client=client)
    assert [first.choices[0].message.content, second.choices[0].message.content] == ["one", "two"]
