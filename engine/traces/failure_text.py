"""Text rules of the failure analytics: message templates, limit phrases, quotes.

Kept apart from the detectors so each rule can be read (and tested) on its own.
"""

from __future__ import annotations

import re

import orjson

__all__ = [
    "TEMPLATE_CHARS",
    "QUOTE_CHARS",
    "message_template",
    "TURN_LIMIT",
    "FINAL_ANSWER_TOOLS",
    "find_quote",
    "PARSE_ERROR",
    "ARGUMENT_ERROR",
    "STEP_ERROR",
    "EMPTY_RESULTS",
    "CLAIMED_EVIDENCE",
    "TRUNCATED",
    "ENCODING_DEBRIS",
]

TEMPLATE_CHARS = 160
QUOTE_CHARS = 200

# Order matters: wider shapes first, so a URL is not masked piecewise as a path.
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.I), "<url>"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "<email>"),
    (re.compile(r"'[^'\n]{0,200}'"), "'<str>'"),
    (re.compile(r'"[^"\n]{0,200}"'), '"<str>"'),
    (re.compile(r"`[^`\n]{0,200}`"), "`<str>`"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"(?:[A-Za-z]:)?(?:[\\/][\w.~-]+){2,}[\\/]?|~[\\/][\w./-]+"), "<path>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.I), "<id>"),
    (re.compile(r"\b[A-Za-z_-]*\d[\w-]*\b"), "<n>"),
)
_SPACE = re.compile(r"\s+")


def message_template(message: str) -> str:
    """The message with its varying parts masked, so repeats of one error group together.

    'Timeout after 30s calling https://x/y (req 4f9a…)' -> 'Timeout after <n> calling <url> (req <id>)'.
    Numbers, ids, paths, URLs, e-mails and quoted values are masked.
    """
    text = _SPACE.sub(" ", message).strip()
    for pattern, mask in _MASKS:
        text = pattern.sub(mask, text)
    if len(text) > TEMPLATE_CHARS:
        text = text[: TEMPLATE_CHARS - 1] + "…"
    return text or "(no message)"


# A run stopped by its turn/step/iteration limit, in the words frameworks use:
# OpenAI Agents "Max turns (10) exceeded", smolagents "Reached max steps.",
# LangChain "Agent stopped due to iteration limit or time limit.",
# LangGraph "Recursion limit of 25 reached", generic "maximum number of iterations reached".
TURN_LIMIT = re.compile(
    rb"max(?:imum)?[ _-]?(?:number[ _]of[ _])?(?:turns|steps|iterations|rounds)\W{0,3}"
    rb"(?:\(\d+\)\s*|of \d+\s*)?(?:was |has been |have been )?(?:exceeded|reached|hit)"
    rb"|(?:reached|exceeded|hit) (?:the )?max(?:imum)?[ _-]?(?:number of )?"
    rb"(?:turns|steps|iterations|rounds)"
    rb"|MaxTurnsExceeded|MaxStepsExceeded|GraphRecursionError"
    rb"|recursion limit (?:of \d+ )?(?:was )?reached"
    rb"|stopped due to (?:the )?(?:iteration|turn|step) limit"
    rb"|(?:turn|step|iteration) limit (?:of \d+ )?(?:was )?(?:exceeded|reached|hit)",
    re.I,
)

# Tools whose call *is* the run's answer: offered but never called means no answer.
# (smolagents final_answer, pydantic-ai final_result, any-agent final_output, Cline attempt_completion.)
FINAL_ANSWER_TOOLS = frozenset(
    {"final_answer", "finalanswer", "final_result", "final_output", "submit_final_answer", "attempt_completion",
     "task_complete"}
)  # fmt: skip


def find_quote(raw: str, needle: str | None) -> str | None:
    """An exact substring of `raw` (<= QUOTE_CHARS) that shows `needle`, or None.

    The needle is tried as is, JSON-escaped (how it sits inside the span's JSON
    text) and escaped twice (JSON text kept in a string attribute), longest prefix
    first, so the quote can be checked by simple substring search later.
    """
    if not needle:
        return None
    once = orjson.dumps(needle).decode()[1:-1]
    forms = [needle, once, orjson.dumps(once).decode()[1:-1]]  # twice: JSON text kept inside a JSON string
    for size in (QUOTE_CHARS, 80, 40, 16):  # the longest piece of any form first
        for form in forms:
            piece = form[:size].strip()
            if len(piece) < min(12, len(form.strip())) or not piece:
                continue
            if piece in raw:
                return piece
    return None


# Output the harness's parser rejected, in the words parsers use: smolagents "regex
# pattern ... was not found", LangChain OutputParserException / "Could not parse LLM
# output", OpenAI Agents ModelBehaviorError, JSON decoders, "invalid format".
PARSE_ERROR = re.compile(
    r"could not (?:be )?pars|(?:failed|unable) to parse|parsing (?:error|failed)|error (?:in|while) (?:code )?parsing"
    r"|OutputParser(?:Exception|Error)|ParsingError|ModelBehaviorError|JSONDecodeError|not valid JSON"
    r"|invalid (?:json|format|tool call)|malformed|regex pattern .{0,80} was not found"
    r"|no (?:code|code block|valid code|tool call) (?:was )?found|missing (?:code block|'Action)",
    re.I,
)
# A call whose arguments do not fit the tool, in Python's, pydantic's and JSON schema's words.
ARGUMENT_ERROR = re.compile(
    r"unexpected keyword argument|missing \d+ required (?:positional |keyword-only )?argument"
    r"|takes (?:from )?\d+ (?:to \d+ )?positional arguments? but \d+ (?:were|was) given"
    r"|validation errors? for|field required|is a required (?:property|parameter)"
    r"|invalid (?:argument|parameter)s?\b|unknown (?:argument|parameter)|additional properties are not allowed"
    r"|argument of type .{0,40} is not|is not of type|not in the tool'?s? (?:input )?schema"
    r"|unknown tool\b|tool .{0,40} (?:does not exist|is not available)",
    re.I,
)
# A step's or tool's output that records a failed execution (beyond the reader's
# output_error rules, which judge tool outputs only).
STEP_ERROR = re.compile(
    r"Traceback \(most recent call last\)|code execution failed|(?:^|\n)\s*(?:Error|Exception):"
    r"|\b[A-Z]\w*(?:Error|Exception): ",
)
# An observation that is "no result": an empty list, or a search that says it found nothing.
# (An empty object, null or None is what a tool with side effects returns: not matched.)
EMPTY_RESULTS = re.compile(
    r"\s*(?:\[\s*\]|no (?:results?|matches|documents|items) (?:were )?(?:found|returned)\.?)\s*", re.I
)
# A thought that claims evidence (a search, a lookup, a read result) it would need a tool for.
CLAIMED_EVIDENCE = re.compile(
    r"\b(?:based on|according to|from|after) (?:my|our|the|a|careful|thorough|extensive)?\s?"
    r"(?:careful |thorough |extensive |web |online |previous |earlier )?"
    r"(?:search|research|lookup|browsing|search results)"
    r"|\bI (?:have |had )?(?:searched|looked (?:it )?up|browsed|checked online|verified (?:online|on the web))"
    r"|\b(?:search|lookup) results? (?:show|reveal|confirm|indicate)s?",
    re.I,
)
# A result cut short by the tool or the harness.
TRUNCATED = re.compile(
    r"\[?(?:\.\.\.|…)?\s*\(?(?:output |content |result |text )?truncated\b"
    r"|\[\d+ (?:more )?(?:characters|chars|lines|bytes) "
    r"(?:omitted|truncated|removed)\]",
    re.I,
)
# Encoding debris: replacement characters and UTF-8 read as Latin-1 (mojibake).
ENCODING_DEBRIS = re.compile("\ufffd|\u00c3[\u0080-\u00bf]|\u00e2\u20ac")
