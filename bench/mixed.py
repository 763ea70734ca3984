"""A mixed benchmark dataset: every shared trace shape of tests/fixtures, re-keyed, in one directory.

The HALO-only file (`generate.py`) is the worst case for the build: the
smallest spans (most per-span work per byte) in one file. Real trace folders
mix shapes: line-based exports (HALO, OTLP collector lines, OTel SDK and
OpenAI Agents span lines) as big JSONL files, and whole-trace JSON documents
(TRAIL, any-agent, pretty OTLP, SDK console dumps, Agents batches) as many
small files. This writes such a folder, `SHARES` of the bytes per source.

Every copy of a source gets fresh ids: each id value (under an id key such as
`trace_id`, `spanId`, `parent_id`, `id`) is replaced by a hash of (copy, value)
in the same form (hex stays hex of the same length, `0x` and `trace_` prefixes
stay, integers stay integers), so parent links hold within a copy and copies
are distinct traces. Times are not shifted (the build does not care).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import sys
from pathlib import Path

__all__ = ["SHARES", "generate_mixed"]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"

# (output name, source files, share of the bytes, one document per output file?)
SHARES: tuple[tuple[str, tuple[str, ...], float, bool], ...] = (
    ("halo.jsonl", ("halo/medium_traces.jsonl", "halo/realistic_traces.jsonl", "halo/tiny_traces.jsonl"), 0.40, False),
    ("otlp_collector.jsonl", ("otlp/collector.jsonl", "otlp/protobuf.jsonl"), 0.15, False),
    ("otel_sdk_spans.jsonl", ("otel_sdk/spans.jsonl",), 0.10, False),
    ("openai_agents_spans.jsonl", ("openai_agents/spans.jsonl",), 0.10, False),
    ("trail", ("trail/*.json",), 0.10, True),
    ("any_agent", ("any_agent/*.json",), 0.08, True),
    ("otlp_docs", ("otlp/protobuf_pretty.json",), 0.03, True),
    ("otel_sdk_docs", ("otel_sdk/console.json", "otel_sdk/spans_list.json"), 0.02, True),
    ("openai_agents_docs", ("openai_agents/batch.json", "openai_agents/spans_list.json"), 0.02, True),
)

_ID_VALUE = re.compile(
    rb'("(?:trace_id|span_id|parent_span_id|parent_id|traceId|spanId|parentSpanId|id)"\s*:\s*)'
    rb'("[^"\\]*"|-?\d+(?![.eE\d]))'
)
_HEX = re.compile(r"(0[xX])?([0-9a-fA-F]+)")
_B64 = re.compile(r"[A-Za-z0-9+/]{10,}={0,2}")
_WORD_PREFIX = re.compile(r"[A-Za-z]+_")


def _digest(copy: bytes, value: bytes, size: int) -> bytes:
    return hashlib.blake2b(copy + b":" + value, digest_size=size).digest()


def _new_id(copy: bytes, value: bytes) -> bytes:
    """The same id in the same form for copy `copy` (deterministic, so references stay linked)."""
    if not value.startswith(b'"'):
        number = int(value)
        mask = (1 << 64) - 1 if number.bit_length() <= 64 else (1 << 128) - 1
        return str((number ^ int.from_bytes(_digest(copy, value, 16), "big")) & mask or 1).encode()
    text = value[1:-1].decode()
    if not text:
        return value
    fresh = _digest(copy, value, 32).hex()
    if m := _HEX.fullmatch(text):
        body = m.group(2)
        new = (fresh * (len(body) // 64 + 1))[: len(body)]
        return b'"%s%s"' % ((m.group(1) or "").encode(), new.upper().encode() if body.isupper() else new.encode())
    if _B64.fullmatch(text) and len(text) % 4 == 0:
        try:
            size = len(base64.b64decode(text, validate=True))
        except ValueError:
            size = 0
        if size:
            return b'"%s"' % base64.b64encode(_digest(copy, value, min(size, 64))[:size])
    cut = m.end() if (m := _WORD_PREFIX.match(text)) else 0  # trace_..., span_..., group_...
    tail = len(text) - cut
    return b'"%s%s"' % (text[:cut].encode(), (fresh * (tail // 64 + 1))[:tail].encode())


def rekey(data: bytes, copy: str) -> bytes:
    """`data` with every id value replaced by its form in copy `copy` (a name: same name, same ids)."""
    tag = copy.encode()
    memo: dict[bytes, bytes] = {}

    def swap(m: re.Match[bytes]) -> bytes:
        value = m.group(2)
        new = memo.get(value)
        if new is None:
            new = memo[value] = _new_id(tag, value)
        return m.group(1) + new

    return _ID_VALUE.sub(swap, data)


def _sources(patterns: tuple[str, ...]) -> list[Path]:
    return [p for pattern in patterns for p in sorted(FIXTURES.glob(pattern))]


def generate_mixed(out: Path, size_bytes: int) -> Path:
    """Write the mixed folder `out` (about `size_bytes` in all); reuse it if it is complete."""
    done = out / ".complete"
    if done.exists() and int(done.read_text() or 0) >= size_bytes:
        return out
    out.mkdir(parents=True, exist_ok=True)
    for name, patterns, share, documents in SHARES:
        target = int(size_bytes * share)
        sources = [(p, p.read_bytes()) for p in _sources(patterns)]
        if documents:
            folder = out / name
            folder.mkdir(exist_ok=True)
            written = copy = 0
            while written < target:
                for src, data in sources:
                    doc = rekey(data, f"{name}:{copy}")
                    (folder / f"{src.stem}_{copy:06d}{src.suffix}").write_bytes(doc)
                    written += len(doc)
                copy += 1
            continue
        blocks = [data if data.endswith(b"\n") else data + b"\n" for _, data in sources]
        tmp = out / f"{name}.tmp"
        with open(tmp, "wb") as f:
            written = copy = 0
            while written < target:
                for block in blocks:
                    chunk = rekey(block, f"{name}:{copy}")
                    f.write(chunk)
                    written += len(chunk)
                copy += 1
        tmp.replace(out / name)
    done.write_text(str(size_bytes))
    return out


def dataset_bytes(folder: Path) -> tuple[int, int]:
    """(bytes, files) of the trace files under `folder`."""
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]
    return sum(p.stat().st_size for p in files), len(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--mb", type=int, default=1024, help="size in MB (default 1024)")
    args = parser.parse_args(argv)
    path = generate_mixed(args.out, args.mb << 20)
    size, files = dataset_bytes(path)
    print(f"{path}: {size / 1e6:.0f} MB in {files} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
