"""One OTLP/HTTP trace export, decoded and checked: the line to store and what to answer.

Both encodings go through `ExportTraceServiceRequest` (from `opentelemetry-proto`),
so a JSON post is checked against the same schema as a protobuf one, and both are
stored in one canonical spelling: OTLP/JSON as the Collector's file exporter
writes it (lowerCamelCase, hex ids, enum integers), which the `otlp` reader reads.

A span that cannot be used (no 16-byte trace id, no 8-byte span id, a parent id
of the wrong length) is dropped and counted in the answer's `partial_success`;
the rest of the request is kept. A body that is not a request at all is a
`PayloadError`, answered 400 with a `google.rpc.Status`.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

__all__ = [
    "PROTOBUF",
    "JSON",
    "PayloadError",
    "TooLargeError",
    "Decoded",
    "encoding_of",
    "decompress",
    "decode",
    "to_line",
    "success_body",
    "status_body",
]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_CONTENT_TYPES = {"application/x-protobuf": PROTOBUF, "application/protobuf": PROTOBUF, "application/json": JSON}
_ID_FIELDS = (("traceId", "trace_id"), ("spanId", "span_id"), ("parentSpanId", "parent_span_id"))
_TRACE_ID_BYTES = 16
_SPAN_ID_BYTES = 8


class PayloadError(ValueError):
    """The body is not an ExportTraceServiceRequest in the encoding it claims (answered 400)."""


class TooLargeError(ValueError):
    """The body, once decompressed, is over the size cap (answered 413)."""


@dataclass(frozen=True)
class Decoded:
    """A checked request: only usable spans are left in `request`; `rejected` counts the others."""

    request: ExportTraceServiceRequest
    accepted: int
    rejected: int
    reason: str


def encoding_of(content_type: str | None) -> str | None:
    """PROTOBUF, JSON, or None for a media type OTLP/HTTP does not define."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return _CONTENT_TYPES.get(media)


def decompress(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body without its Content-Encoding (gzip, deflate or none), never more than `limit` bytes."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise PayloadError(f"Content-Encoding {encoding!r} is not supported; send gzip or no encoding")
    inflater = zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib header, detected
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise PayloadError(f"the body is not valid {encoding} data ({exc})") from None
    if len(out) > limit:
        raise TooLargeError(f"the decompressed body is over the {limit}-byte cap")
    return out


def decode(body: bytes, encoding: str) -> Decoded:
    """Parse and check one request, dropping unusable spans; raises PayloadError when it is not one."""
    rejected: Counter[str] = Counter()
    if encoding == PROTOBUF:
        request = ExportTraceServiceRequest()
        try:
            request.ParseFromString(body)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise PayloadError(f"the body is not a protobuf ExportTraceServiceRequest ({exc})") from None
    else:
        request = _from_json(body, rejected)
    _drop_unusable(request, rejected)
    accepted = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    reason = "; ".join(f"{count} {why}" for why, count in rejected.most_common())
    return Decoded(request, accepted, sum(rejected.values()), reason)


def to_line(request: ExportTraceServiceRequest) -> bytes:
    """The request as one line of OTLP/JSON (no newline)."""
    return orjson.dumps(_to_otlp_json(request))


def _from_json(body: bytes, rejected: Counter[str]) -> ExportTraceServiceRequest:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"the body is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise PayloadError(f"expected an ExportTraceServiceRequest object, got a JSON {type(value).__name__}")
    _json_ids_to_base64(value, rejected)
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(value, request, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise PayloadError(f"the JSON is not an OTLP ExportTraceServiceRequest: {exc}") from None
    return request


def _json_ids_to_base64(request: dict[str, Any], rejected: Counter[str]) -> None:
    """OTLP/JSON ids are hex, the protobuf JSON mapping's are base64: turn hex into base64 in place.

    A span whose id is neither is removed here and counted, so one bad span does
    not fail the request.
    """
    for rs in _list(request, "resourceSpans", "resource_spans"):
        for ss in _list(rs, "scopeSpans", "scope_spans"):
            spans = ss.get("spans") if isinstance(ss, dict) else None
            if not isinstance(spans, list):
                continue
            kept = []
            for span in spans:
                why = _span_ids_to_base64(span) if isinstance(span, dict) else "spans that are not objects"
                if why:
                    rejected[why] += 1
                else:
                    kept.append(span)
            ss["spans"] = kept


def _span_ids_to_base64(span: dict[str, Any]) -> str | None:
    for camel, snake in _ID_FIELDS:
        for key in (camel, snake):
            if isinstance(span.get(key), str) and span[key]:
                converted = _id_to_base64(span[key])
                if converted is None:
                    return f"spans with a {camel} that is neither hex nor base64"
                span[key] = converted
    for link in span.get("links") or ():
        if isinstance(link, dict):
            for key in ("traceId", "trace_id", "spanId", "span_id"):
                if isinstance(link.get(key), str) and link[key]:
                    link[key] = _id_to_base64(link[key]) or ""
    return None


def _id_to_base64(text: str) -> str | None:
    if len(text) in (2 * _TRACE_ID_BYTES, 2 * _SPAN_ID_BYTES):
        try:
            return base64.b64encode(bytes.fromhex(text)).decode()
        except ValueError:
            pass
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return text


def _list(obj: Any, camel: str, snake: str) -> list[Any]:
    if not isinstance(obj, dict):
        return []
    value = obj.get(camel, obj.get(snake))
    return value if isinstance(value, list) else []


def _drop_unusable(request: ExportTraceServiceRequest, rejected: Counter[str]) -> None:
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            keep = []
            for span in ss.spans:
                why = _unusable(span)
                if why:
                    rejected[why] += 1
                else:
                    keep.append(span)
            if len(keep) != len(ss.spans):
                del ss.spans[:]
                ss.spans.extend(keep)


def _unusable(span: Any) -> str | None:
    if len(span.trace_id) != _TRACE_ID_BYTES or not any(span.trace_id):
        return "spans without a 16-byte traceId"
    if len(span.span_id) != _SPAN_ID_BYTES or not any(span.span_id):
        return "spans without an 8-byte spanId"
    if span.parent_span_id and len(span.parent_span_id) != _SPAN_ID_BYTES:
        return "spans with a parentSpanId that is not 8 bytes"
    return None


def _to_otlp_json(request: ExportTraceServiceRequest) -> dict[str, Any]:
    """The OTLP/JSON spelling: the protobuf JSON mapping with enum integers and hex ids."""
    value = json_format.MessageToDict(request, use_integers_for_enums=True)
    for rs in value.get("resourceSpans") or ():
        for ss in rs.get("scopeSpans") or ():
            for span in ss.get("spans") or ():
                _ids_to_hex(span)
                for link in span.get("links") or ():
                    _ids_to_hex(link)
    return value


def _ids_to_hex(obj: dict[str, Any]) -> None:
    for key in ("traceId", "spanId", "parentSpanId"):
        if key in obj:
            obj[key] = base64.b64decode(obj[key]).hex()


def success_body(decoded: Decoded, encoding: str) -> bytes:
    """ExportTraceServiceResponse, with `partial_success` when spans were rejected."""
    response = ExportTraceServiceResponse()
    if decoded.rejected:
        response.partial_success.rejected_spans = decoded.rejected
        response.partial_success.error_message = (
            f"{decoded.rejected} of {decoded.rejected + decoded.accepted} spans rejected: {decoded.reason}"
        )
    if encoding == PROTOBUF:
        return response.SerializeToString()
    return json_format.MessageToJson(response, indent=None).encode()


def status_body(code: int, message: str, encoding: str) -> bytes:
    """A `google.rpc.Status` (code, message), in the request's encoding.

    Written by hand (two fields) so the receiver needs only `opentelemetry-proto`,
    not `googleapis-common-protos`; the tests decode it with the real message class.
    """
    if encoding == JSON:
        return orjson.dumps({"code": code, "message": message})
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)
