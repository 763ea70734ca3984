"""The msgspec decoding of HALO blocks: orjson's values, or no answer where the two decoders would differ."""

from __future__ import annotations

import orjson

from engine.traces.readers.halo.block import columns_from_lines
from engine.traces.readers.halo.decode import decode_block

_SPAN = {"trace_id": "t1", "span_id": "s1", "parent_span_id": None, "name": "llm",
         "start_time": "2026-04-23T05:33:35.100000000Z", "end_time": "2026-04-23T05:33:36.500000000Z",
         "status": {"code": "STATUS_CODE_OK", "message": ""}, "resource": {"attributes": {"service.name": "svc"}},
         "attributes": {"llm.token_count.prompt": 3}}  # fmt: skip


def _line(**changes: object) -> bytes:
    return orjson.dumps({**_SPAN, **changes})


def test_a_clean_block_is_decoded_with_the_fields_orjson_gives() -> None:
    decoded = decode_block([_line(), _line(span_id="s2", parent_span_id="s1", resource=None, status=None)])
    assert decoded is not None
    trace, span, parent, name, _start, _end, codes, messages, services, attrs, _events = decoded
    assert (trace, span, parent, name) == (("t1", "t1"), ("s1", "s2"), (None, "s1"), ("llm", "llm"))
    assert (codes, messages, services) == (["STATUS_CODE_OK", None], ["", None], ["svc", None])
    assert attrs == ({"llm.token_count.prompt": 3}, {"llm.token_count.prompt": 3})


def test_integers_past_64_bits_where_they_become_text_leave_the_block_to_orjson() -> None:
    big = b"99999999999999999999999"  # orjson reads it as 1e+23, msgspec as an exact int
    for field, column in ((b'"message":""', 6), (b'"name":"llm"', 3), (b'"trace_id":"t1"', 0)):
        line = _line().replace(field, field.split(b":")[0] + b":" + big)
        assert decode_block([line]) is None, field
        columns = columns_from_lines([line], 1)
        assert columns is not None and list(columns[column]) == ["1e+23"], field  # as the per-span reader says


def test_values_that_do_not_fit_a_field_and_bad_json_leave_the_block_to_orjson() -> None:
    assert decode_block([_line(status="failed")]) is None
    assert decode_block([_line(resource={"attributes": {"service.name": 7}})]) is None
    assert decode_block([_line(), b"{not json"]) is None
    assert decode_block([b"[1, 2]"]) is None
