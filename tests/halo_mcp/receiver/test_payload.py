"""Decoding one OTLP export: both encodings, one stored spelling, unusable spans counted."""

from __future__ import annotations

import base64
import gzip

import orjson
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from engine.traces.readers.otlp import spans_from_value
from halo_mcp.receiver.payload import (
    JSON,
    PROTOBUF,
    PayloadError,
    TooLargeError,
    decode,
    decompress,
    encoding_of,
    status_body,
    success_body,
    to_line,
)

TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"
PARENT = "eee19b7ec3c1b173"


def _request_json(*spans: dict) -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "agent"}}]},
                "scopeSpans": [{"scope": {"name": "test"}, "spans": list(spans)}],
            }
        ]
    }


def _span(span_id: str = SPAN, trace_id: str = TRACE, **extra: object) -> dict:
    return {
        "traceId": trace_id, "spanId": span_id, "parentSpanId": PARENT, "name": "llm", "kind": 3,
        "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000",
        "status": {"code": 2, "message": "boom"},
        "attributes": [{"key": "openinference.span.kind", "value": {"stringValue": "LLM"}}],
        **extra,
    }  # fmt: skip


def test_json_and_protobuf_of_one_request_are_stored_identically_with_hex_ids() -> None:
    as_json = orjson.dumps(_request_json(_span()))
    proto = ExportTraceServiceRequest()
    span = proto.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.parent_span_id = bytes.fromhex(TRACE), bytes.fromhex(SPAN), bytes.fromhex(PARENT)
    span.name, span.kind = "llm", 3
    span.start_time_unix_nano, span.end_time_unix_nano = 1700000000000000000, 1700000001000000000
    span.status.code, span.status.message = 2, "boom"
    attr = span.attributes.add()
    attr.key, attr.value.string_value = "openinference.span.kind", "LLM"
    proto.resource_spans[0].resource.attributes.add(key="service.name").value.string_value = "agent"
    proto.resource_spans[0].scope_spans[0].scope.name = "test"

    from_json, from_proto = (
        to_line(decode(as_json, JSON).request),
        to_line(decode(proto.SerializeToString(), PROTOBUF).request),
    )
    assert from_json == from_proto
    stored = orjson.loads(from_json)
    assert stored["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] == TRACE
    [read] = list(spans_from_value(stored, 1, None))
    assert (read.trace_id, read.span_id, read.parent_id, read.service) == (TRACE, SPAN, PARENT, "agent")
    assert read.status.name == "ERROR"


def test_base64_ids_in_json_are_accepted_too() -> None:
    b64 = base64.b64encode(bytes.fromhex(SPAN)).decode()
    decoded = decode(orjson.dumps(_request_json(_span(span_id=b64))), JSON)
    assert decoded.accepted == 1
    assert SPAN.encode() in to_line(decoded.request)


def test_spans_without_usable_ids_are_rejected_and_the_rest_kept() -> None:
    body = orjson.dumps(
        _request_json(_span(), _span(span_id=""), _span(span_id="zz-not-an-id"), _span(trace_id="00" * 16))
    )
    decoded = decode(body, JSON)
    assert (decoded.accepted, decoded.rejected) == (1, 3)
    assert "spanId" in decoded.reason and "traceId" in decoded.reason
    response = ExportTraceServiceResponse()
    response.ParseFromString(success_body(decoded, PROTOBUF))
    assert response.partial_success.rejected_spans == 3
    assert response.partial_success.error_message.startswith("3 of 4 spans rejected")
    assert orjson.loads(success_body(decoded, JSON))["partialSuccess"]["rejectedSpans"] == "3"


def test_a_request_with_no_usable_span_keeps_none() -> None:
    decoded = decode(orjson.dumps(_request_json(_span(span_id=""))), JSON)
    assert decoded.accepted == 0 and decoded.rejected == 1


def test_a_full_success_answers_an_empty_response() -> None:
    decoded = decode(orjson.dumps(_request_json(_span())), JSON)
    assert success_body(decoded, PROTOBUF) == b""
    assert orjson.loads(success_body(decoded, JSON)) == {}


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (b"\xff\xfe not protobuf", PROTOBUF),
        (b"{not json", JSON),
        (b"[1, 2]", JSON),
        (orjson.dumps({"resourceSpans": "nope"}), JSON),
    ],
)
def test_a_body_that_is_not_a_request_is_a_payload_error(body: bytes, encoding: str) -> None:
    with pytest.raises(PayloadError):
        decode(body, encoding)


def test_status_bodies_decode_as_google_rpc_status() -> None:
    status = Status()
    status.ParseFromString(status_body(3, "bad body é" * 20, PROTOBUF))
    assert (status.code, status.message) == (3, "bad body é" * 20)
    assert orjson.loads(status_body(3, "bad", JSON)) == {"code": 3, "message": "bad"}


def test_gzip_is_undone_and_bounded() -> None:
    assert decompress(gzip.compress(b"x" * 100), "gzip", 100) == b"x" * 100
    with pytest.raises(TooLargeError):
        decompress(gzip.compress(b"x" * 101), "gzip", 100)
    with pytest.raises(PayloadError):
        decompress(b"not gzip", "gzip", 100)
    with pytest.raises(PayloadError):
        decompress(b"x", "br", 100)


def test_media_types_are_recognised_with_parameters() -> None:
    assert encoding_of("application/json; charset=utf-8") == JSON
    assert encoding_of("application/x-protobuf") == PROTOBUF
    assert encoding_of("text/plain") is None
    assert encoding_of(None) is None
