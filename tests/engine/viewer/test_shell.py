"""The page shell without a browser: data escaping, the policy's hashes, what a bounded trace says it cut."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

from support.halo_lines import jsonl, span

from engine.agents.report import Report
from engine.viewer import Limits
from engine.viewer.data import trace_data
from engine.viewer.report_page import report_dataset
from engine.viewer.shell import json_block, page
from halo_mcp.datasets import DatasetCatalog


def test_json_block_cannot_close_its_script_or_break_a_line_and_still_parses() -> None:
    value = {"n": "</script><script>alert(1)</script>&\u2028\u2029<!--"}
    text = json_block(value)
    assert not re.search(r"[<>&\u2028\u2029]", text)
    assert json.loads(text) == value


def test_the_policy_allows_exactly_the_inline_style_and_script_of_the_page() -> None:
    html = page("t", "<p>x</p>", {"a": 1})
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1).replace("&#x27;", "'")
    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    script = re.findall(r"<script>(.*?)</script>", html, re.S)[-1]

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert f"style-src {digest(style)};" in policy and f"script-src {digest(script)};" in policy
    assert policy.startswith("default-src 'none';")


def test_a_trace_over_the_limits_keeps_the_cited_and_error_spans_and_says_what_it_cut(tmp_path: Path) -> None:
    spans = [span("t", "root", kind="AGENT", end=100)]
    spans += [span("t", f"s{i}", "root", start=i, end=i + 1, attributes={"output.value": "x" * 50}) for i in range(30)]
    spans.append(span("t", "bad", "s29", start=29, end=29.5, status="STATUS_CODE_ERROR", message="boom"))
    (tmp_path / "t.jsonl").write_bytes(jsonl(*spans))
    ds = DatasetCatalog([str(tmp_path / "t.jsonl")]).open(None)
    from engine.viewer.data import Citation

    data = trace_data(ds, "t", Limits(max_spans=5, value_chars=10, max_messages=2, max_value_chars_total=10_000),
                      [Citation("s20", "x", "finding 1")])  # fmt: skip
    ids = [s["id"] for s in data["spans"]]
    assert {"root", "s20", "bad", "s29"} <= set(ids) and len(ids) < 32
    assert any("not drawn" in n for n in data["notes"]) and any("cut to 10 chars" in n for n in data["notes"])
    assert next(s for s in data["spans"] if s["id"] == "s20")["hl"] == "finding 1"


def test_a_saved_reports_dataset_label_gives_back_a_spec_when_it_is_one_path() -> None:
    def label(text: str) -> str | None:
        return report_dataset(Report(run_id="r", question="q", dataset=text, produced_by="model", summary=""))

    assert label("/data/traces (3 files)") == "/data/traces"
    assert label("/data/t.jsonl") == "/data/t.jsonl"
    assert label("/a.jsonl, /b.jsonl") is None
