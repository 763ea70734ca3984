"""Shape detection from content, whatever the file is called."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from engine.errors import DatasetError, UnknownShapeError
from engine.traces.readers import SHAPE_NAMES as SHAPES
from engine.traces.readers import SUPPORTED_SHAPES_TEXT, FileReader, detect_shape

EXPECTED = {
    "halo/tiny_traces.jsonl": "halo",
    "halo/realistic_traces.jsonl": "halo",
    "any_agent/LANGCHAIN_trace.json": "otel_sdk",
    "trail/f39aec9b8a61fd2aaed5849cc00bc165.json": "openinference_nested",
    "otlp/collector.jsonl": "otlp",
    "otlp/protobuf_pretty.json": "otlp",
    "otel_sdk/console.json": "otel_sdk",
    "otel_sdk/spans_list.json": "otel_sdk",
    "otel_sdk/spans.jsonl": "otel_sdk",
    "openai_agents/spans.jsonl": "openai_agents",
    "openai_agents/batch.json": "openai_agents",
    "langfuse/export.json": "langfuse",
    "langfuse/trace.json": "langfuse",
    "langfuse/observations.json": "langfuse",
    "langfuse/observations.jsonl": "langfuse",
    "langfuse/api_pages.json": "langfuse",
}


@pytest.mark.parametrize(("name", "shape"), sorted(EXPECTED.items()))
def test_every_fixture_shape_is_detected_from_content_not_name(
    fixtures: Path, tmp_path: Path, name: str, shape: str
) -> None:
    assert detect_shape(fixtures / name) == shape
    anonymous = tmp_path / "traces.dat"
    shutil.copy(fixtures / name, anonymous)
    assert detect_shape(anonymous) == shape
    packed = tmp_path / "traces.gz"
    packed.write_bytes(gzip.compress((fixtures / name).read_bytes()))
    assert detect_shape(packed) == shape


def test_a_big_pretty_document_is_detected_from_its_key_names(fixtures: Path, tmp_path: Path) -> None:
    # more than the detection head: not parseable from the head, classified by the keys it shows
    doc = json.loads((fixtures / "otlp" / "protobuf_pretty.json").read_text())
    scope = doc["resourceSpans"][0]["scopeSpans"][0]
    scope["spans"] = scope["spans"] * 200
    big = tmp_path / "big.json"
    big.write_text(json.dumps(doc, indent=2))
    assert big.stat().st_size > (1 << 20)
    assert detect_shape(big) == "otlp"
    assert sum(1 for _ in FileReader(big)) == 5 * 200


def test_supported_shapes_text_names_every_shape_and_the_override() -> None:
    assert all(f"`{shape}`" in SUPPORTED_SHAPES_TEXT for shape in SHAPES)
    assert "shape=" in SUPPORTED_SHAPES_TEXT


def test_override_skips_detection(fixtures: Path) -> None:
    reader = FileReader(fixtures / "otel_sdk" / "spans.jsonl", shape="otel_sdk")
    assert reader.shape == "otel_sdk" and sum(1 for _ in reader) == 10


def test_missing_file_and_directory_are_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        FileReader(tmp_path / "nope.jsonl")
    with pytest.raises(DatasetError, match="directory"):
        FileReader(tmp_path)
    with pytest.raises(DatasetError):
        detect_shape(tmp_path / "nope.jsonl")


def test_json_matching_no_shape_names_its_keys(fixtures: Path) -> None:
    with pytest.raises(UnknownShapeError, match=r"first keys seen: records"):
        detect_shape(fixtures / "bad" / "unknown.json")
