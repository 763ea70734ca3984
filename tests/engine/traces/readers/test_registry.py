"""The shape registry: one declaration per reader module, one list, everything derived."""

from __future__ import annotations

import argparse
import importlib
import pkgutil

import pytest

import engine.traces.readers as readers
from engine.errors import InvalidArgumentError
from engine.traces.readers import SHAPE_NAMES, SHAPES, SUPPORTED_SHAPES_TEXT, Shape, shape_named
from engine.traces.readers._registry import BY_PRIORITY
from halo_mcp.settings import add_dataset_arguments


def test_every_reader_module_that_declares_a_shape_is_in_the_one_list() -> None:
    declared = set()
    for info in pkgutil.iter_modules(readers.__path__):
        module = importlib.import_module(f"engine.traces.readers.{info.name}")
        if isinstance(getattr(module, "SHAPE", None), Shape):
            declared.add(module.SHAPE.name)
    assert declared == set(SHAPE_NAMES)
    assert len(SHAPE_NAMES) == len(set(SHAPE_NAMES))


def test_the_supported_shapes_text_is_made_from_each_shapes_own_summary() -> None:
    for shape in SHAPES:
        assert shape.describe() in SUPPORTED_SHAPES_TEXT


def test_detection_asks_the_shapes_by_priority_not_by_list_order() -> None:
    priorities = [s.priority for s in BY_PRIORITY]
    assert priorities == sorted(priorities) and len(set(priorities)) == len(priorities)
    # halo's test (top-level trace_id + span_id) is the loosest: it must be asked last
    assert BY_PRIORITY[-1].name == "halo"


def test_an_unknown_shape_name_is_refused_with_the_list() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown shape 'jaeger'") as caught:
        shape_named("jaeger")
    assert all(f"`{name}`" in str(caught.value) for name in SHAPE_NAMES)


def test_the_cli_shape_flag_accepts_the_registry_names_and_refuses_others(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="halo-mcp overview")
    add_dataset_arguments(parser)
    for name in SHAPE_NAMES:
        assert parser.parse_args(["--shape", name]).shape == name
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["--shape", "jaeger"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "unknown shape 'jaeger'" in err and all(f"`{name}`" in err for name in SHAPE_NAMES)
