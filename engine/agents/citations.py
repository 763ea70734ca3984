"""Check every citation of a report against the dataset before it is returned.

A citation names a trace, usually a span, and often a quote. The ids must exist
and the quote must occur in the cited span's raw JSON. Models quote what they
read, and what they read was rendered: JSON escapes decoded, whitespace
reflowed, long texts elided with "...". So a quote is compared with the span
text after both are normalised the same way (escapes decoded, whitespace
collapsed), against the raw text and against its decoded string values, and
"..." in a quote matches any gap. Case and wording must match: a quote that
was paraphrased fails.

A code citation (`diagnose --repo`) names a file of the agent's repository, a
line and its text, at a revision or in the working tree. The file must exist
there and the quote must occur within `CODE_NEAR_LINES` of the cited line,
compared the same way; a quote found elsewhere in the file fails and names the
line where it is, so the model can correct it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from engine.agents.report import CodeCitation, Evidence, Finding, Report
from engine.errors import HaloError

if TYPE_CHECKING:
    from engine.repo import Repo
    from engine.traces.dataset import Dataset

__all__ = ["verify_report", "verify_code", "check_evidence", "check_code", "quote_in_text", "normalise",
           "check_finding", "citation_lines", "failed_citations", "CODE_NEAR_LINES"]  # fmt: skip

# A code quote may start this many lines before or after the cited line and still verify
# (models count lines off by one or two, and a quote may span lines).
CODE_NEAR_LINES = 3

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


def _located(quote: str, lines: list[str], line: int) -> int | None:
    """The first line (1-based) at which `quote` starts, searching the window around `line`
    first, then the whole file; None when it occurs nowhere."""
    def at(first: int, last: int) -> int | None:
        for start in range(max(1, first), min(len(lines), last) + 1):
            span = max(1, quote.count("\n") + 1)
            if quote_in_text(quote, [normalise("\n".join(lines[start - 1 : start - 1 + span]))]):
                return start
        return None

    near = at(line - CODE_NEAR_LINES, line + CODE_NEAR_LINES)
    return near if near is not None else at(1, len(lines))


async def _code_text(citation: CodeCitation, repo: Repo) -> tuple[str | None, str]:
    """(the cited file's text or None, where it was looked for)."""
    from engine.repo.files import read_text
    from engine.repo.git import file_at, resolve_revision

    rel = repo.relative(citation.path)
    if citation.revision:
        commit = await resolve_revision(repo, citation.revision)
        return await file_at(repo, commit, rel), f"at revision {citation.revision}"
    try:
        return read_text(repo, rel)[1], "in the working tree"
    except HaloError:
        return None, "in the working tree"


async def check_code(citation: CodeCitation, repo: Repo | None) -> CodeCitation:
    """The code citation with `verified` and `problem` set."""
    def failed(problem: str) -> CodeCitation:
        return citation.model_copy(update={"verified": False, "problem": problem})

    if repo is None:
        return failed("no repository was given to this run (diagnose --repo), so code cannot be cited")
    path = citation.path.strip().removeprefix("./")
    try:
        text, where = await _code_text(citation.model_copy(update={"path": path}), repo)
    except HaloError as exc:
        return failed(str(exc))
    if text is None:
        return failed(f"{path} does not exist {where}")
    lines = text.split("\n")
    if citation.line > len(lines):
        return failed(f"line {citation.line} is past the end of {path} ({len(lines)} lines {where})")
    found = _located(citation.quote, lines, citation.line)
    if found is None:
        return failed(f"the quote does not occur in {path} {where}")
    if abs(found - citation.line) > CODE_NEAR_LINES:
        return failed(f"the quote is at line {found} of {path}, not near line {citation.line}")
    return citation.model_copy(update={"path": path, "verified": True, "problem": None})


async def verify_code(report: Report, repo: Repo | None) -> Report:
    """The report with every code citation checked and added to the citation counts."""
    checked = failed = 0
    findings = []
    for finding in report.findings:
        code = [await check_code(c, repo) for c in finding.code]
        checked += len(code)
        failed += sum(1 for c in code if c.verified is False)
        findings.append(finding.model_copy(update={"code": code}))
    return report.model_copy(update={"findings": findings, "citations_checked": report.citations_checked + checked,
                                     "citations_failed": report.citations_failed + failed})  # fmt: skip


def citation_lines(citations: Sequence[Evidence | CodeCitation]) -> list[str]:
    """One line per citation for the model: where, the quote, verified or why it failed."""
    lines = []
    for c in citations:
        if isinstance(c, CodeCitation):
            where, quote = c.where, f' "{c.quote}"'
        else:
            where = f"trace {c.trace_id}" + (f" span {c.span_id}" if c.span_id else "")
            quote = f' "{c.quote}"' if c.quote else ""
        lines.append(f"- {where}{quote}: " + ("verified" if c.verified else f"FAILED: {c.problem}"))
    return lines


def failed_citations(findings: list[Finding]) -> list[Evidence | CodeCitation]:
    """The span and code citations of these findings that failed their check."""
    failed: list[Evidence | CodeCitation] = []
    for f in findings:
        failed += [c for c in f.evidence if c.verified is False]
        failed += [c for c in f.code if c.verified is False]
    return failed


async def check_finding(ds: Dataset, repo: Repo | None, finding: Finding) -> Finding:
    """The finding with its span citations (in a worker thread) and its code citations checked."""
    import anyio.to_thread

    evidence = await anyio.to_thread.run_sync(lambda: [check_evidence(e, ds) for e in finding.evidence])
    code = [await check_code(c, repo) for c in finding.code]
    return finding.model_copy(update={"evidence": evidence, "code": code})
