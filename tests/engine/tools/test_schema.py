"""Compact argument schemas: no pydantic noise, nothing a model needs lost."""

from __future__ import annotations

from typing import Literal

import orjson
import pytest
from pydantic import BaseModel, Field

from engine.tools.registry import REGISTRY
from engine.tools.schema import compact_schema


class Mode(BaseModel):
    kind: Literal["a", "b"] = "a"


class Args(BaseModel):
    title: str = Field(description="a property named title stays")
    limit: int = Field(default=20, ge=1, le=100, description="items per page")
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")
    ids: list[str] | None = Field(default=None, description="only these")
    mode: Mode | None = Field(default=None, description="nested")
    either: int | str | None = Field(default=None, description="a real union keeps its anyOf")


def test_titles_null_wrappers_and_defs_go_while_types_constraints_and_descriptions_stay() -> None:
    schema = compact_schema(Args.model_json_schema())
    props = schema["properties"]
    assert "title" not in schema and "$defs" not in schema
    assert props["title"] == {"type": "string", "description": "a property named title stays"}
    assert props["limit"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 20,
        "description": "items per page",
    }
    assert props["cursor"] == {"type": "string", "description": "next_cursor of the previous page"}
    assert props["ids"] == {"type": "array", "items": {"type": "string"}, "description": "only these"}
    assert props["mode"]["properties"]["kind"]["enum"] == ["a", "b"]
    assert "anyOf" in props["either"]
    assert schema["required"] == ["title"]
    assert "$ref" not in orjson.dumps(schema).decode()


def test_null_is_still_accepted_by_the_arguments_model() -> None:
    assert Args.model_validate({"title": "x", "cursor": None}).cursor is None


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_argument_of_every_tool_is_documented_briefly(name: str) -> None:
    schema = REGISTRY[name].input_schema()
    assert "title" not in orjson.dumps(schema).decode().replace('"title":{', "")
    for arg, prop in schema["properties"].items():
        assert 0 < len(prop.get("description", "")) <= 160, f"{name}.{arg}"
