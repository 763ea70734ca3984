from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.traces.columns.arrow_chunk import read_chunk_columns, to_arrow, write_chunk
from engine.traces.columns.file import TornFileError
from engine.traces.columns.hashing import combine_keys, hash_strings
from engine.traces.columns.lists import ListColumn
from engine.traces.columns.strings import CategoricalColumn, StringColumn


def test_string_column_keeps_none_empty_and_non_ascii_apart() -> None:
    values = ["a", None, "", "größe ✓", "x" * 300]
    col = StringColumn.from_values(values)
    assert col.to_list() == values
    assert col[1] is None
    assert col[2] == ""


def test_string_column_select_reorders_without_moving_bytes_and_compact_copies() -> None:
    col = StringColumn.from_values(["one", "two", None, "three"])
    picked = col.select(np.array([3, 0, 2]))
    assert picked.blob is col.blob
    assert picked.to_list() == ["three", "one", None]
    compact = picked.compact()
    assert compact.to_list() == ["three", "one", None]
    assert compact.blob.tobytes() == b"threeone"


def test_string_columns_concatenate_with_shifted_offsets() -> None:
    a = StringColumn.from_values(["x", "yy"])
    b = StringColumn.from_values([None, "zzz"])
    assert StringColumn.concat([a, b]).to_list() == ["x", "yy", None, "zzz"]


def test_categorical_codes_follow_first_appearance_and_none_is_minus_one() -> None:
    col = CategoricalColumn.from_values(["b", "a", None, "b", ""])
    assert col.codes.tolist() == [0, 1, -1, 0, -1]
    assert col.categories == ["b", "a"]
    assert col.mask("b").tolist() == [True, False, False, True, False]
    assert not col.mask("absent").any()
    assert col.code_of("a") == 1 and col.code_of("zzz") == -1


def test_categorical_concat_remaps_codes_to_the_union_of_values() -> None:
    one = CategoricalColumn.from_values(["a", "b"])
    two = CategoricalColumn.from_values(["b", None, "c"])
    both = CategoricalColumn.concat([one, two])
    assert both.to_list() == ["a", "b", "b", None, "c"]
    assert both.categories == ["a", "b", "c"]


def test_categorical_concat_of_many_pieces_equals_the_column_of_all_their_values() -> None:
    rng = np.random.default_rng(3)
    pool = [None, "a", "b", "ünïcode ✓", "", "z" * 40]
    pieces = [[pool[i] for i in rng.integers(0, len(pool), int(k)).tolist()] for k in rng.integers(0, 40, 60)]
    pieces += [[], [None, None]]  # a piece with no rows, one with no values
    both = CategoricalColumn.concat([CategoricalColumn.from_values(p) for p in pieces])
    every = [v for p in pieces for v in p]
    assert both.to_list() == CategoricalColumn.from_values(every).to_list()
    assert both.categories == list(dict.fromkeys(v for v in every if v))
    assert both.codes.dtype == np.int32


def test_list_column_rows_and_membership() -> None:
    col = ListColumn.from_lists([("search", "fetch"), (), ("fetch",)])
    assert col.take(range(3)) == [["search", "fetch"], [], ["fetch"]]
    assert col.contains("fetch").tolist() == [True, False, True]
    assert not col.contains("nope").any()
    other = ListColumn.from_lists([("calc",), ("search",)])
    joined = ListColumn.concat([col, other])
    assert joined.take(range(5)) == [["search", "fetch"], [], ["fetch"], ["calc"], ["search"]]
    assert joined.contains("search").tolist() == [True, False, False, False, True]


def test_arrow_chunk_round_trips_every_column_kind_including_empty_and_null_ones(tmp_path: Path) -> None:
    strings = StringColumn.from_values(["a", None, "", "größe ✓", "x" * 300])
    columns = {
        "i8": np.array([1, -2, 3, 4, 5], dtype=np.int8),
        "f": np.array([1.5, np.nan, 0, 1, 2]),
        "u64": np.array([2**63 + 5, 0, 1, 2, 3], dtype=np.uint64),
        "s": strings.select(np.array([4, 3, 2, 1, 0])),  # not compact: written compacted
        "c": CategoricalColumn.from_values(["b", "a", None, "b", ""]),
        "l": ListColumn.from_lists([("x", "y"), (), ("y",), (), ("z",)]),
        "t.empty": np.zeros(0, dtype=np.int64),
        "t.names": StringColumn.empty(),
    }
    sizes = write_chunk(tmp_path, "c", {k: to_arrow(v) for k, v in columns.items()})
    back = read_chunk_columns(tmp_path, {"id": "c", **sizes})
    for name in ("i8", "f", "u64", "t.empty"):
        np.testing.assert_array_equal(back[name], columns[name])
        assert back[name].dtype == columns[name].dtype
    assert not back["i8"].flags.writeable  # read-only: nobody edits the index by accident
    assert back.string("s").to_list() == ["x" * 300, "größe ✓", "", None, "a"]
    assert back.string("s").take(np.arange(5)) == back.string("s").to_list()
    assert back.string("s").lengths.tolist() == [300, 11, 0, -1, 1]
    assert back.categorical("c").codes.tolist() == [0, 1, -1, 0, -1]
    assert back.list("l").take(range(5)) == [["x", "y"], [], ["y"], [], ["z"]]
    assert back.string("t.names").to_list() == []
    cut = back.slice((1, 4), (0, 0))
    assert cut.string("s").to_list() == ["größe ✓", "", None]
    assert cut.categorical("c").to_list() == ["a", None, "b"]
    assert cut.list("l").take(range(3)) == [[], ["y"], []]
    with pytest.raises(TornFileError):
        read_chunk_columns(tmp_path, {"id": "c", **sizes, "spans_bytes": sizes["spans_bytes"] + 1})


def _chunk_of_rows(directory: Path, n: int) -> dict[str, object]:
    """A chunk of `n` spans and 2 traces, with its meta as finalize writes it (the counts included)."""
    columns = {"start_ns": np.arange(n, dtype=np.int64), "name": StringColumn.from_values([f"s{i}" for i in range(n)])}
    traces = {"t.row_start": np.array([0, n // 2], dtype=np.int64)}
    sizes = write_chunk(directory, "k", {k: to_arrow(v) for k, v in {**columns, **traces}.items()})
    return {"id": "k", "spans": n, "traces": 2, **sizes}


@pytest.mark.parametrize("n", [10, 20_000])  # read (small), mapped (past MAP_FROM_BYTES)
def test_a_chunk_is_parsed_on_first_use_and_sliced_alike_before_or_after(tmp_path: Path, n: int) -> None:
    meta = _chunk_of_rows(tmp_path, n)
    lazy = read_chunk_columns(tmp_path, meta)
    assert (lazy.n_rows, lazy.n_traces) == (n, 2)  # from meta, before any parse
    before = lazy.slice((3, 7), (1, 2)).slice((1, 3), (0, 1))  # a slice of a slice, both unparsed
    assert (before.n_rows, before.n_traces) == (2, 1)
    whole = read_chunk_columns(tmp_path, meta)
    after = whole.slice((3, 7), (1, 2))
    assert whole.spans.num_rows == n  # parsed now
    after = after.slice((1, 3), (0, 1))
    assert before["start_ns"].tolist() == after["start_ns"].tolist() == [4, 5]
    assert before.string("name").to_list() == ["s4", "s5"]
    assert before["t.row_start"].tolist() == after["t.row_start"].tolist() == [n // 2]


def test_a_chunk_file_torn_inside_or_of_other_rows_is_refused(tmp_path: Path) -> None:
    meta = _chunk_of_rows(tmp_path, 10)
    spans = tmp_path / "k.spans.arrow"
    good = spans.read_bytes()
    spans.write_bytes(bytes(len(good)))  # the size meta recorded, zeros inside (a reserved file never written)
    with pytest.raises(TornFileError, match="magic"):
        read_chunk_columns(tmp_path, meta)
    spans.write_bytes(good[:8] + bytes(len(good) - 16) + good[-8:])  # magic kept, the inside gone
    lazy = read_chunk_columns(tmp_path, meta)  # what is checked on open passes
    with pytest.raises(TornFileError, match="not a whole Arrow file"):
        lazy["start_ns"]
    spans.write_bytes(good)
    with pytest.raises(TornFileError, match="10 rows, 11 expected"):
        read_chunk_columns(tmp_path, {**meta, "spans": 11})["start_ns"]


def test_a_column_read_from_arrow_is_a_view_of_its_buffers(tmp_path: Path) -> None:
    values = [f"id-{i}" if i % 5 else None for i in range(1000)]
    sizes = write_chunk(tmp_path, "v", {"s": to_arrow(StringColumn.from_values(values))})
    col = read_chunk_columns(tmp_path, {"id": "v", **sizes}).string("s")
    assert not col.blob.flags.writeable and not col.blob.flags.owndata  # the file's bytes, not a copy
    assert col[1] == "id-1" and col[5] is None and col[-1] == "id-999"
    assert col.take(np.arange(0, 1000, 7)) == values[::7]
    assert col.select(np.array([3, 0])).to_list() == [values[3], None]


def test_hash_strings_is_deterministic_and_tells_strings_apart() -> None:
    values = ["abc", "abd", None, "abc", "", "ü" * 40, "y" * 100, "y" * 99 + "z"]
    h = hash_strings(StringColumn.from_values(values))
    assert h[0] == h[3]
    assert h[2] == 0
    assert len({int(x) for x in h[[0, 1, 4, 5, 6, 7]]}) == 6
    # Stored in the index: the value must not change between runs or versions.
    alone = int(hash_strings(StringColumn.from_values(["trace-1"]))[0])
    assert alone == int(hash_strings(StringColumn.from_values(["x" * 50, "trace-1"]))[1])
    assert alone == int(hash_strings(StringColumn.from_values(["x" * 500, "trace-1"]))[1])


def test_hash_strings_of_fixed_width_ids_are_the_stored_values_whatever_the_column_layout() -> None:
    pinned = {"": 11286133854226296554, "4f2d4e7d00000000": 9707074683893646570,
              "4f2d4e7da75f0bb19fa22788a0844319": 14474948227863732928, "abc": 6185474064104772507}  # fmt: skip
    for value, expected in pinned.items():
        ids = [value] * 5  # one width, back to back: read as a matrix of the blob
        assert hash_strings(StringColumn.from_values(ids)).tolist() == [expected] * 5
        mixed = StringColumn.from_values([value, None, "x" * 70, value, "yz"])  # the general path
        assert hash_strings(mixed).tolist()[::3] == [expected] * 2
        reordered = StringColumn.from_values([value, "q" * len(value), value]).select(np.array([2, 1, 0]))
        assert hash_strings(reordered).tolist()[::2] == [expected] * 2


def test_hash_strings_has_no_collisions_on_many_similar_ids() -> None:
    ids = [f"{i:032x}" for i in range(200_000)]
    h = hash_strings(StringColumn.from_values(ids))
    assert len(np.unique(h)) == len(ids)


def test_combined_keys_depend_on_scope_and_keep_none() -> None:
    keys = hash_strings(StringColumn.from_values(["s1", None]))
    a = combine_keys(np.array([1, 1], dtype=np.uint64), keys)
    b = combine_keys(np.array([2, 2], dtype=np.uint64), keys)
    assert a[0] != b[0]
    assert a[1] == 0 and b[1] == 0


def test_bulk_take_matches_row_by_row_access_for_ascii_unicode_and_none() -> None:
    values = [None if i % 7 == 0 else (f"id-{i}" if i % 3 else f"ü-{i}") for i in range(500)]
    col = StringColumn.from_values(values)
    rows = np.array([5, 499, 0, 3, 3, 250] * 20)
    assert col.take(rows) == [values[r] for r in rows]
    shuffled = col.select(np.arange(499, -1, -1))
    assert shuffled.take(np.arange(500)) == values[::-1]
    lists = ListColumn.from_lists([("a", "b") if i % 2 else () for i in range(100)])
    assert lists.take(np.arange(100)) == [["a", "b"] if i % 2 else [] for i in range(100)]


def test_compacting_fixed_width_ids_gives_the_same_column_as_the_general_gather() -> None:
    rng = np.random.default_rng(3)
    ids = [None if i % 7 == 0 else f"{i:016x}" for i in range(5000)]
    col = StringColumn.from_values(ids).select(rng.permutation(5000))
    compacted = col.compact()
    assert compacted.to_list() == col.to_list()
    assert len(compacted.blob) == 16 * sum(1 for v in ids if v is not None)
    mixed = StringColumn.from_values(["a", "bb", None, "ccc"]).select(np.array([3, 2, 1, 0]))
    assert mixed.compact().to_list() == ["ccc", None, "bb", "a"]
