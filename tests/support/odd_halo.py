"""Odd HALO lines for tests: fixture lines mutated the ways real exports go wrong (deterministic per seed).

Missing and null fields, ids that are numbers, times in every form `to_ns` meets (and bad ones),
status / resource / attributes of the wrong type, token counts as text, unicode, huge ints, bad lines.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import orjson

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

ODD_VALUES = [
    None, 0, 1, -1, 2**70, -(2**70), 1.5, True, False, "", "None", "none", "null", "0", "0x", "0x0000000000000000",
    "123", " 45 ", "1e3", "ü名", "\u00e9t\u00e9", [], {}, ["a"], {"a": 1}, "x" * 200,
]  # fmt: skip
ODD_TIMES = [
    "2026-04-23T05:32:00.123456789Z", "2026-04-23t05:32:00.123456789Z", "2026-04-23 05:32:00.123456789Z",
    "2026-04-23T05:32:00.123456789+02:00", "2026-04-23T05:32:00.123Z", "2026-04-23T05:32:00Z",
    "1960-01-01T00:00:00.000000000Z", "2026-02-30T05:32:00.123456789Z", "2026-04-23T25:32:00.123456789Z",
    "2026-04-23T05:99:00.123456789Z", "2026-04-23T05:32:99.123456789Z", "2026-04-23T05:32:0a.123456789Z",
    "2026-04-23T05:32:00.12345678aZ", "2026-04-23T05:32:00.+12345678Z", "2026-04-23T05:32:00.1_2345678Z",
    "2026-04-23T05:32: 0.123456789Z", "2026-04-23T05:32:\u0661\u0662.123456789Z", "9999-12-31T23:59:59.999999999Z",
    "2262-04-11T23:47:16.854775808Z", "2262-04-11T23:47:16.854775807Z", "1970-01-01T00:00:00.000000000Z",
    "0000-01-01T00:00:00.000000000Z", "2024-02-29T00:00:00.000000000Z", "2023-02-29T00:00:00.000000000Z",
    "2100-02-29T00:00:00.000000000Z", "2000-02-29T23:59:59.999999999Z", "2026-13-01T00:00:00.000000000Z",
    "2026-00-01T00:00:00.000000000Z", "2026-04-00T00:00:00.000000000Z", "2026-04-23T05:32:00.123456789z",
    "2026-04-23T05:32:00,123456789Z", " 2026-04-23T05:32:00.12345678Z", "2026-04-23T05:32:00.1234567890",
    "yesterday", "", 1745386320000000000, "1745386320000000000", "-1745386320000000000", 1745386320.5, -5, 2**70,
    None, [], {"a": 1}, "2026-04-23T05:32:00.12345678\u00e9Z", "2026\u00e904-23T05:32:00.12345678Z",
]  # fmt: skip
ATTR_KEYS = ["openinference.span.kind", "inference.observation_kind", "gen_ai.operation.name", "llm.model_name",
             "inference.llm.model_name", "gen_ai.request.model", "llm.token_count.prompt", "inference.llm.input_tokens",
             "inference.llm.output_tokens", "gen_ai.usage.output_tokens", "llm.cost.total", "inference.llm.cost.total",
             "gen_ai.usage.input_cost", "llm.cost.prompt", "inference.agent_name", "agent.name", "tool.name",
             "input.value", "output.value", "gen_ai.output", "exception.type", "exception.message", "agent.tools",
             "llm.tools.0.tool.name", "llm.output_messages.0.message.content",
             "llm.output_messages.0.message.tool_calls.0.tool_call.function.name"]
ATTR_VALUES = [
    *ODD_VALUES,
    "LLM",
    "llm",
    "Tool",
    "TOOL",
    "AGENT",
    "CHAIN",
    "chat",
    "execute_tool",
    "invoke_agent",
    "Error: it broke",
    "I'm sorry, but I can't help with that.",
    '{"error": "bad"}',
    '["a", "b"]',
    '[{"name": "x"}]',
    "0.25",
    0.25,
    7,
    "7",
    7.0,
]
TOP_KEYS = ["trace_id", "span_id", "parent_span_id", "name", "start_time", "end_time", "status", "resource",
            "attributes", "events", "kind", "scope"]


def _mutate(obj: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    what = rng.randrange(10)
    if what == 0:
        obj.pop(rng.choice(TOP_KEYS), None)
    elif what == 1:
        obj[rng.choice(TOP_KEYS)] = rng.choice(ODD_VALUES)
    elif what == 2:
        obj[rng.choice(["start_time", "end_time"])] = rng.choice(ODD_TIMES)
    elif what == 3:
        code = rng.choice([*ODD_VALUES[:12], "STATUS_CODE_ERROR", "error", 2])
        obj["status"] = rng.choice([None, 5, "ERROR", {}, {"code": code}, {"code": ["x"]},
                                    {"code": "STATUS_CODE_ERROR", "message": rng.choice(ODD_VALUES)}])  # fmt: skip
    elif what == 4:
        obj["resource"] = rng.choice([None, 5, {}, {"attributes": rng.choice(ODD_VALUES)},
                                      {"attributes": {"service.name": rng.choice(ODD_VALUES)}}])
    elif what in (5, 6, 7):
        attrs = obj.get("attributes")
        if not isinstance(attrs, dict):
            attrs = obj["attributes"] = {}
        if rng.random() < 0.3 and attrs:
            attrs.pop(rng.choice(list(attrs)))
        else:
            attrs[rng.choice(ATTR_KEYS)] = rng.choice(ATTR_VALUES)
    elif what == 8:
        obj["events"] = rng.choice([[], None, 5, [{"name": "exception", "attributes": {"exception.type": "ValueError",
                                    "exception.message": "bad"}}], [{"name": "log"}], [{"Name": "exception"}], ["x"]])
    else:
        obj[rng.choice(["trace_id", "span_id", "parent_span_id"])] = rng.choice(
            [rng.randrange(1 << 64), "0x" + "ab" * 8, "AbCd" * 4, "", None, "ü-" + str(rng.randrange(99))])
    return obj


def odd_halo_lines(seed: int, count: int, rate: float = 0.5, bad: float = 0.03) -> list[bytes]:
    """`count` lines: a `bad` share not spans at all, a `rate` share mutated 1-3 times, the rest as they are."""
    rng = random.Random(seed)
    good: list[bytes] = []
    for name in ("tiny", "realistic", "medium"):
        good += (FIXTURES / "halo" / f"{name}_traces.jsonl").read_bytes().splitlines()
    out: list[bytes] = []
    for _ in range(count):
        line = rng.choice(good)
        r = rng.random()
        if r >= rate + bad:
            out.append(line)
            continue
        if r < bad:
            out.append(rng.choice([
                b"", b"   ", b"{not json", b"[1, 2]", b"5", b"null", b'"x"', b"{}", line + b"\r",
                line[: len(line) // 2], b'{"trace_id": "t", "span_id": "s", "trace_id": 5}',
                b'{"trace_id": "t", "span_id": "s\\ud800"}',
                b"\xff\xfe", line.replace(b'":"', b'": "', 3),
            ]))  # fmt: skip
            continue
        obj = orjson.loads(line)
        for _ in range(rng.randrange(1, 4)):
            _mutate(obj, rng)
        try:
            out.append(orjson.dumps(obj))
        except TypeError:
            out.append(json.dumps(obj, ensure_ascii=rng.random() < 0.5).encode())
    return out
