"""Citation checks: ids must exist, quotes must occur in the cited span."""

from __future__ import annotations

import orjson
import pytest

from engine.agents.citations import quote_in_text, span_haystacks

RAW = orjson.dumps(
    {
        "name": "web_search",
        "attributes": {
            "output.value": 'Error: rate limit exceeded\n  retry after 30s\tfor "bing"',
            "input.value": '{"query": "capital of \\u00c9cuador", "page": 2}',
        },
        # TRAIL keeps attributes as a Python-repr string: texts escaped twice
        "span_attributes": "{'output.value': 'Traceback (most recent call last):\\\\n  File \"x.py\"'}",
    }
)


def found(quote: str) -> bool:
    return quote_in_text(quote, span_haystacks(RAW))


@pytest.mark.parametrize(
    "quote",
    [
        "rate limit exceeded",
        "Error: rate limit exceeded retry after 30s",  # newline + indent read as one space
        'for "bing"',  # the JSON text has \" here
        "capital of Écuador",  # \u00c9 in the raw text
        "Traceback (most recent call last): File",  # escaped twice in a repr string
        '"rate limit exceeded"',  # surrounding quote marks are not part of the quote
        "Error: rate limit ... for \"bing\"",  # "..." marks a gap
        "Error: … 30s",
    ],
)
def test_quotes_as_models_read_them_are_found(quote: str) -> None:
    assert found(quote)


@pytest.mark.parametrize(
    "quote",
    [
        "rate limit was exceeded",  # paraphrase
        "RATE LIMIT EXCEEDED",  # case matters
        "retry after 30s ... rate limit",  # parts out of order
        "...",
        "",
    ],
)
def test_paraphrased_reordered_or_empty_quotes_are_not_found(quote: str) -> None:
    assert not found(quote)
