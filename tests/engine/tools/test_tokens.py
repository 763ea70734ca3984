"""Token counts: o200k_base as tiktoken counts it, from files inside the installed package."""

from __future__ import annotations

import subprocess
import sys

import pytest

from engine.tools.tokens import answer_tokens, count_tokens

# Counts from tiktoken's o200k_base (its BPE file checked against tiktoken's own sha256).
TIKTOKEN_O200K = [
    ("hello world", 2),
    ('{"k0":0.12345,"k1":0.98765,"k2":[1,2,3]}', 26),
    ('Traceback (most recent call last):\n  File "x.py", line 3', 17),
    ("naïve café — «quoted» 日本語 😀", 11),
    ("<|endoftext|> is plain text here", 11),
    ("    indented\n\n\tline", 5),
]


@pytest.mark.parametrize(("text", "expected"), TIKTOKEN_O200K)
def test_counts_match_tiktoken_o200k(text: str, expected: int) -> None:
    assert count_tokens(text) == expected


def test_a_lone_surrogate_is_counted_not_fatal() -> None:
    assert count_tokens("a\ud800b") >= 2
    assert count_tokens("") == 0


def test_an_answer_costs_its_text_plus_its_structured_json() -> None:
    assert answer_tokens("hello world", {"k0": 0.12345}) == 2 + count_tokens('{"k0":0.12345}')
    assert answer_tokens("hello world", None) == 2


def test_counting_needs_no_network_and_no_cache() -> None:
    """A fresh process with sockets disabled and an empty home counts all the same."""
    code = (
        "import socket\n"
        "def refuse(*a, **k):\n"
        "    raise OSError('network used')\n"
        "socket.socket = refuse\n"
        "socket.create_connection = refuse\n"
        "from engine.tools.tokens import count_tokens\n"
        "print(count_tokens('hello world'))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "XDG_CACHE_HOME": "/nonexistent"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
