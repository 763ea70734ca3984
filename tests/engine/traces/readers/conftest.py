"""Readers' test helpers: the SDK fixture generator, loaded by path (tests/ is not a package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest


def _load_make_fixtures() -> ModuleType:
    path = Path(__file__).with_name("make_fixtures.py")
    spec = importlib.util.spec_from_file_location("readers_make_fixtures", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def make_fixtures() -> ModuleType:
    return _load_make_fixtures()
