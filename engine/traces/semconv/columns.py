"""`semconv.read_fields` for a whole block of spans at once, column by column.

The index build reads HALO spans a block of lines at a time (`readers.halo.block`).
Per span, `read_fields` costs a function call, a plan lookup and a dozen
branches; here each canonical field is read for all rows of a block with a few
C-level passes (`map` over `dict.get`, `set(map(type, ...))`), checked in bulk,
and only rows whose values are unusual go through the per-span rules. Spans
with something to judge (tool spans, LLM outputs, offered tools, exceptions)
go through `read_fields` itself. Every row's values equal `read_fields`'s.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import compress, repeat
from operator import attrgetter, is_
from typing import Any, cast

from engine.traces.model import SpanKind, SpanStatus
from engine.traces.semconv import (
    _PLANS,
    KIND_BY_LABEL,
    PLAN_CACHE_MAX,
    _as_float,  # the per-span rules live in semconv; these columns only batch them
    _cost_from_parts,
    _kind_from_name,
    _make_plan,
    _Plan,
    as_int,
    read_fields,
)

__all__ = ["read_fields_columns"]

_LLM, _TOOL, _AGENT = SpanKind.LLM, SpanKind.TOOL, SpanKind.AGENT
_NONE = type(None)
_STR_NONE = frozenset((str, _NONE))
_INT_NONE = frozenset((int, _NONE))
_FLOAT_NONE = frozenset((float, _NONE))
_get = dict.get


class _ColumnPlan:
    """A `semconv` plan, flattened for column passes: each field's first key, the keys after it, what to judge."""

    __slots__ = ("plan", "kind0", "resolve", "model0", "tin0", "tout0", "cost0", "agent0", "model_rest", "tin_rest",
                 "tout_rest", "cost_rest", "agent_rest", "cost_more", "judge", "llm_judge", "agent_judge")  # fmt: skip

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        first_kind = plan.kind[0] if plan.kind else (None, None)
        self.kind0 = first_kind[0]
        # label -> kind for the first kind key's table, filled as labels are met (text labels only)
        self.resolve = _RESOLVED.setdefault(id(first_kind[1]), {}) if first_kind[1] is not None else {}
        self.model0, self.tin0, self.tout0, self.cost0, self.agent0 = (
            keys[0] if keys else None for keys in (plan.model, plan.tin, plan.tout, plan.cost, plan.agent)
        )
        # where a row goes on when its first key's value is missing
        self.model_rest, self.tin_rest, self.tout_rest, self.cost_rest, self.agent_rest = (
            keys[1:] for keys in (plan.model, plan.tin, plan.tout, plan.cost, plan.agent)
        )
        self.cost_more = bool(self.cost_rest) or plan.cost_parts
        self.llm_judge = bool(plan.offered or plan.requested or plan.llm_output)
        self.agent_judge = plan.offered
        self.judge = self.llm_judge or plan.exception


_RESOLVED: dict[int, dict[str, SpanKind]] = {id(KIND_BY_LABEL): {}}
_COLUMN_PLANS: dict[tuple[str, ...], _ColumnPlan] = {}
_A_KIND0, _A_RESOLVE = attrgetter("kind0"), attrgetter("resolve")
_A_MODEL0, _A_TIN0, _A_TOUT0 = attrgetter("model0"), attrgetter("tin0"), attrgetter("tout0")
_A_COST0, _A_AGENT0 = attrgetter("cost0"), attrgetter("agent0")
_A_MODEL_REST, _A_TIN_REST, _A_TOUT_REST = attrgetter("model_rest"), attrgetter("tin_rest"), attrgetter("tout_rest")
_A_COST_MORE, _A_AGENT_REST = attrgetter("cost_more"), attrgetter("agent_rest")
_A_JUDGE = attrgetter("judge")


def read_fields_columns(
    attrs: Sequence[dict[str, Any]],
    names: Sequence[str],
    statuses: Sequence[SpanStatus],
    events: Sequence[Any],
) -> list[list[Any]]:
    """`read_fields(attrs[i], names[i], statuses[i], events[i])` for every row, as 13 columns.

    `events[i]` is the span's raw `events` value (anything; only a list counts).
    """
    n = len(attrs)
    keys = list(map(tuple, attrs))
    known = list(map(_COLUMN_PLANS.get, keys))
    plans = _new_plans(keys, attrs) if None in known else cast("list[_ColumnPlan]", known)  # no None: checked
    block_plans = set(plans)

    kinds = _kinds(attrs, names, plans)
    model = _text_column(attrs, list(map(_get, attrs, map(_A_MODEL0, plans))), plans, block_plans, _A_MODEL_REST)
    tin = _int_column(attrs, list(map(_get, attrs, map(_A_TIN0, plans))), plans, block_plans, _A_TIN_REST)
    tout = _int_column(attrs, list(map(_get, attrs, map(_A_TOUT0, plans))), plans, block_plans, _A_TOUT_REST)
    cost = _cost_column(attrs, list(map(_get, attrs, map(_A_COST0, plans))), plans, block_plans)
    agent = _text_column(attrs, list(map(_get, attrs, map(_A_AGENT0, plans))), plans, block_plans, _A_AGENT_REST)

    tool = [None] * n
    args = [None] * n
    out_err = [None] * n
    offered: list[tuple[str, ...]] = [()] * n
    requested: list[tuple[str, ...]] = [()] * n
    refusal = [False] * n
    exception = [None] * n
    columns = [kinds, model, tin, tout, cost, tool, args, agent, out_err, offered, requested, refusal, exception]
    has_events = events.count(None) != n
    if has_events or _TOOL in kinds or any(p.judge for p in block_plans):
        for i in _rows_to_judge(kinds, plans, events if has_events else None):
            event_list = events[i] if type(events[i]) is list else None
            for column, value in zip(columns, read_fields(attrs[i], names[i], statuses[i], event_list), strict=True):
                column[i] = value
    return columns


def _new_plans(keys: list[tuple[str, ...]], attrs: Sequence[dict[str, Any]]) -> list[_ColumnPlan]:
    """Plans for every row, planning the key sets not met yet."""
    distinct = dict.fromkeys(keys)
    missing = [k for k in distinct if k not in _COLUMN_PLANS]
    if len(_COLUMN_PLANS) + len(missing) > PLAN_CACHE_MAX:
        _COLUMN_PLANS.clear()
        missing = list(distinct)
    for key in missing:
        _COLUMN_PLANS[key] = _ColumnPlan(_PLANS.get(key) or _make_plan(attrs[keys.index(key)], key))
    return list(map(_COLUMN_PLANS.__getitem__, keys))


def _kinds(attrs: Sequence[dict[str, Any]], names: Sequence[str], plans: list[_ColumnPlan]) -> list[SpanKind]:
    labels = list(map(_get, attrs, map(_A_KIND0, plans)))
    try:
        kinds = list(map(_get, map(_A_RESOLVE, plans), labels))
    except TypeError:  # an unhashable label (a list, an object): the per-span rule says what it means
        kinds = [None] * len(labels)
    if None in kinds:
        kinds = [
            k if k is not None else _kind_of(a, name, p)
            for k, a, name, p in zip(kinds, attrs, names, plans, strict=True)
        ]
    return kinds  # type: ignore[return-value]


def _kind_of(attrs: dict[str, Any], name: str, plan: _ColumnPlan) -> SpanKind:
    """`read_fields`'s kind rule for one span; remembers text labels of the first kind key that resolve."""
    for i, (key, table) in enumerate(plan.plan.kind):
        label = attrs[key]
        if type(label) is str and (kind := table.get(label) or table.get(label.upper())) is not None:
            if i == 0 and len(plan.resolve) < PLAN_CACHE_MAX:
                plan.resolve[label] = kind
            return kind
    return _kind_from_name(name)


def _missing_rows(
    values: list[Any], plans: list[_ColumnPlan], block_plans: set[_ColumnPlan], more: Any
) -> Iterator[int]:
    """Rows whose first value is missing (None) and whose plan has more keys to try."""
    if None not in values or not any(map(more, block_plans)):
        return iter(())
    return (i for i in compress(range(len(values)), map(is_, values, repeat(None))) if more(plans[i]))


def _text_column(
    attrs: Sequence[dict[str, Any]], values: list[Any], plans: list[_ColumnPlan], block_plans: set[_ColumnPlan],
    rest: attrgetter[Any],
) -> list[Any]:
    """The first non-empty text among the plan's keys (model, agent name); `values` are the first key's."""
    if _STR_NONE.issuperset(map(type, values)) and "" not in values:
        for i in _missing_rows(values, plans, block_plans, rest):
            values[i] = _first_text_of(attrs[i], rest(plans[i]))
        return values
    # some rows hold "" or no text: only those go on to the plan's other keys
    for i in [i for i, v in enumerate(values) if not (v and type(v) is str)]:
        keys = rest(plans[i])
        values[i] = _first_text_of(attrs[i], keys) if keys else None
    return values


def _first_text_of(attrs: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if (v := attrs[key]) and type(v) is str:
            return v
    return None


def _int_column(
    attrs: Sequence[dict[str, Any]], values: list[Any], plans: list[_ColumnPlan], block_plans: set[_ColumnPlan],
    rest: attrgetter[Any],
) -> list[Any]:
    """The first present value among the plan's keys, as an int (token counts); `values` are the first key's."""
    if _INT_NONE.issuperset(map(type, values)):
        for i in _missing_rows(values, plans, block_plans, rest):
            values[i] = _first_int_of(attrs[i], rest(plans[i]))
        return values
    return [
        v if type(v) is int else as_int(v) if v is not None else _first_int_of(a, keys) if (keys := rest(p)) else None
        for v, a, p in zip(values, attrs, plans, strict=True)
    ]  # fmt: skip


def _first_int_of(attrs: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        if (v := attrs[key]) is not None:
            return v if type(v) is int else as_int(v)
    return None


def _cost_column(
    attrs: Sequence[dict[str, Any]], values: list[Any], plans: list[_ColumnPlan], block_plans: set[_ColumnPlan]
) -> list[Any]:
    """The first present cost among the plan's keys as a float, else the sum of its parts.

    `values` are the first key's.
    """
    missing = list(_missing_rows(values, plans, block_plans, _A_COST_MORE))
    if not _FLOAT_NONE.issuperset(map(type, values)):  # a few costs as text or int: converted one by one
        for i in [i for i, v in enumerate(values) if v is not None and type(v) is not float]:
            values[i] = _as_float(values[i])
    for i in missing:
        values[i] = _cost_after_first(attrs[i], plans[i])
    return values


def _cost_after_first(attrs: dict[str, Any], plan: _ColumnPlan) -> float | None:
    """The cost when the first cost key is missing or null: the next keys, then the parts."""
    for key in plan.cost_rest:
        if (v := attrs[key]) is not None:
            return v if type(v) is float else _as_float(v)
    return _cost_from_parts(attrs) if plan.plan.cost_parts else None


def _rows_to_judge(kinds: list[SpanKind], plans: list[_ColumnPlan], events: Sequence[Any] | None) -> list[int]:
    """Rows `read_fields` does more for than read keys: tool spans, outputs and tools to judge, exceptions."""
    rows = set(compress(range(len(kinds)), map(is_, kinds, repeat(_TOOL))))
    for i in compress(range(len(kinds)), map(_A_JUDGE, plans)):
        p, kind = plans[i], kinds[i]
        if p.plan.exception or (kind is _LLM and p.llm_judge) or (kind is _AGENT and p.agent_judge):
            rows.add(i)
    if events is not None:
        rows.update(i for i, e in enumerate(events) if e and type(e) is list)
    return sorted(rows)
