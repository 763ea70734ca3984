"""Traces are numbered in order of first appearance across pieces; a shared 64-bit key never merges two ids."""

from __future__ import annotations

import numpy as np
import pytest

from engine.traces.index import finalize
from engine.traces.index.build import PieceBuilder
from engine.traces.index.finalize import TraceNumbering, _merge_traces
from engine.traces.model import Span, SpanKind, SpanStatus


def _piece(trace_ids: list[str], file: int = 0):  # type: ignore[no-untyped-def]
    builder = PieceBuilder()
    for i, t in enumerate(trace_ids):
        builder.add(Span(t, f"s{i}", None, "step", SpanKind.AGENT, SpanStatus.OK, "", 0, 1, None, None, None, None,
                         None, None, None, None, b"{}", i + 1))  # fmt: skip
    piece = builder.finish()
    piece.file = file
    return piece


@pytest.fixture(params=["sort", "hash"], autouse=True)
def numbered_by(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test twice: keys numbered by a sort (small chunks) and by pandas' hash table (big ones)."""
    if request.param == "hash":
        monkeypatch.setattr(finalize, "HASH_LINK_MIN_SPANS", 0)


def test_traces_are_numbered_in_order_of_first_appearance_across_pieces() -> None:
    pieces = [_piece(["b", "a", "b"]), _piece(["c", "a"]), _piece(["d", "b"])]
    numbering = TraceNumbering()
    for p in pieces[:2]:
        numbering.number(p)  # as the chunk writer does on arrival; the last piece is noted by the merge
    trace, ids = _merge_traces(pieces, numbering)
    assert ids == ["b", "a", "c", "d"]
    assert trace.tolist() == [0, 1, 0, 2, 1, 3, 0]


def test_two_ids_that_share_a_key_stay_two_traces() -> None:
    pieces = [_piece(["x", "y"]), _piece(["z", "x"])]
    for p in pieces:
        p.trace_keys = np.full(len(p.trace_ids), 42, dtype=np.uint64)  # every id hashes alike
    trace, ids = _merge_traces(pieces, TraceNumbering())
    assert ids == ["x", "y", "z"]
    assert trace.tolist() == [0, 1, 2, 0]


def test_the_same_id_in_two_files_of_a_pack_is_two_traces() -> None:
    pieces = [_piece(["t", "u"], file=0), _piece(["t"], file=1), _piece(["u"], file=0)]
    trace, ids = _merge_traces(pieces, TraceNumbering())
    assert ids == ["t", "u", "t"]
    assert trace.tolist() == [0, 1, 2, 1]


def test_many_pieces_sharing_traces_number_as_a_dict_of_first_sightings_does() -> None:
    rng = np.random.default_rng(5)
    chosen = [[f"t{j}" for j in rng.integers(0, 300, int(k)).tolist()] for k in rng.integers(1, 40, 50)]
    trace, ids = _merge_traces([_piece(c) for c in chosen], TraceNumbering())
    first_seen: dict[str, int] = {}
    expected = [first_seen.setdefault(t, len(first_seen)) for c in chosen for t in c]
    assert ids == list(first_seen)
    assert trace.tolist() == expected
