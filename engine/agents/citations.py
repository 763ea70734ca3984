"""Check every citation of a report against the dataset before it is returned.

A citation names a trace, usually a span, and often a quote. The ids must exist
and the quote must occur in the cited span's raw JSON. Models quote what they
read, and what they read was rendered: JSON escapes decoded, whitespace
reflowed, long texts elided with "...". So a quote is compared with the span
text after both are normalised the same way (escapes decoded, whitespace
collapsed), against the raw text and against its decoded string values, and
"..." in a quote matches any gap. Case and wording must match: a quote that
was paraphrased fails.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson

from engine.agents.report import Evidence, Report
from engine.errors import HaloError

if TYPE_CHECKING:
    from engine.traces.dataset import Dataset

__all__ = ["verify_report", "check_evidence", "quote_in_text", "normalise"]

_ESCAPES = re.compile(r"\\(u[0-9a-fA-F]{4}|[nrtbf\"'/\\])")
_SIMPLE = {"n": " ", "r": " ", "t": " ", "b": " ", "f": " ", '"': '"', "'": "'", "/": "/", "\\": "\\"}
_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…|\[\.\.\.\])\s*")
_QUOTE_CHARS = "\"'“”‘’`"


def normalise(text: str) -> str:
    """Decode backslash escapes (twice: texts nested in JSON strings are escaped twice)
    and collapse whitespace."""
    for _ in range(2):
        if "\\" not in text:
            break
        text = _ESCAPES.sub(_unescape, text)
    return " ".join(text.split())


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    if code.startswith("u"):
        char = chr(int(code[1:], 16))
        return " " if char.isspace() else char
    return _SIMPLE[code]


def _quote_parts(quote: str) -> list[str]:
    text = normalise(quote).strip(_QUOTE_CHARS + " ")
    return [p for p in (part.strip(_QUOTE_CHARS + " ") for part in _ELLIPSIS.split(text)) if p]


def quote_in_text(quote: str, haystacks: list[str]) -> bool:
    """True if the quote (split at "...") occurs, in order, in one of the normalised texts."""
    parts = _quote_parts(quote)
    if not parts:
        return False
    for hay in haystacks:
        pos = 0
        for part in parts:
            found = hay.find(part, pos)
            if found < 0:
                break
            pos = found + len(part)
        else:
            return True
    return False


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            out.append(str(key))
            _strings(item, out)
    elif isinstance(value, list):
        for item in value:
            _strings(item, out)
    elif value is not None:
        out.append(str(value))


def span_haystacks(raw: bytes) -> list[str]:
    """The texts a quote of this span may come from, normalised."""
    text = raw.decode("utf-8", "replace")
    hays = [normalise(text)]
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return hays
    strings: list[str] = []
    _strings(parsed, strings)
    hays.append(normalise("\n".join(strings)))
    return hays


def _span_id_of(ds: Dataset, row: int) -> str | None:
    try:
        return str(ds.spans.span_id[row])
    except (AttributeError, IndexError, TypeError):
        return None


def _trace_rows(ds: Dataset, trace_id: str) -> tuple[str, Any] | None:
    for candidate in dict.fromkeys((trace_id.strip(), trace_id.strip().lower())):
        try:
            return candidate, ds.trace_rows(candidate)
        except HaloError:
            continue
    return None


def _span_row(ds: Dataset, trace_id: str, span_id: str) -> tuple[str, int] | None:
    for candidate in dict.fromkeys((span_id.strip(), span_id.strip().lower())):
        try:
            return candidate, int(ds.span_row(trace_id, candidate))
        except HaloError:
            continue
    return None


def check_evidence(evidence: Evidence, ds: Dataset) -> Evidence:
    """The evidence with `verified` and `problem` set (ids normalised to the dataset's)."""
    found = _trace_rows(ds, evidence.trace_id)
    if found is None:
        return evidence.model_copy(
            update={"verified": False, "problem": f"trace id {evidence.trace_id!r} is not in the dataset"}
        )
    trace_id, rows = found
    update: dict[str, Any] = {"trace_id": trace_id}
    if evidence.span_id:
        span = _span_row(ds, trace_id, evidence.span_id)
        if span is None:
            problem = f"span id {evidence.span_id!r} is not in trace {trace_id}"
            return evidence.model_copy(update={**update, "verified": False, "problem": problem})
        update["span_id"], row = span
        if evidence.quote and not quote_in_text(evidence.quote, span_haystacks(ds.raw_bytes(row))):
            problem = f"the quote does not occur in span {update['span_id']}"
            return evidence.model_copy(update={**update, "verified": False, "problem": problem})
        return evidence.model_copy(update={**update, "verified": True, "problem": None})
    if evidence.quote:
        # No span given: the quote must occur in some span of the trace; name that span.
        for row in rows:
            if quote_in_text(evidence.quote, span_haystacks(ds.raw_bytes(int(row)))):
                update["span_id"] = _span_id_of(ds, int(row))
                return evidence.model_copy(update={**update, "verified": True, "problem": None})
        problem = f"the quote does not occur in any span of trace {trace_id}"
        return evidence.model_copy(update={**update, "verified": False, "problem": problem})
    return evidence.model_copy(update={**update, "verified": True, "problem": None})


def verify_report(report: Report, ds: Dataset) -> Report:
    """A copy of the report with every citation checked, counted, and failures marked."""
    checked = failed = 0
    findings = []
    notes = [n for n in report.notes if not n.startswith("Citation check:")]
    for n, finding in enumerate(report.findings, 1):
        evidence = [check_evidence(e, ds) for e in finding.evidence]
        checked += len(evidence)
        failed += sum(1 for e in evidence if e.verified is False)
        if finding.evidence and not any(e.verified for e in evidence):
            notes.append(f"Citation check: finding {n} ({finding.title!r}) has no verified evidence.")
        if finding.frequency.total_traces > ds.n_traces:
            notes.append(
                f"Citation check: finding {n} claims {finding.frequency.total_traces} total traces; "
                f"the dataset has {ds.n_traces}."
            )
        findings.append(finding.model_copy(update={"evidence": evidence}))
    return report.model_copy(
        update={"findings": findings, "citations_checked": checked, "citations_failed": failed, "notes": notes}
    )
