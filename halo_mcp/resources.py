"""halo:// resources: the dataset overview, traces and spans by id, diagnose reports.

A client that holds a report can open it, and each piece of its evidence, as a
resource: `halo://runs/<run_id>/report` links to `halo://traces/<trace_id>` and
`halo://traces/<trace_id>/spans/<span_id>`. Trace resources read the default
dataset unless `?dataset=` names another (checked against the same roots as
tool arguments). Their text is the same as the matching tool's answer.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio.to_thread
import orjson
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.server.mcpserver.resources import FunctionResource, ResourceSecurity
from mcp.server.subscriptions import ResourcesListChanged
from pydantic import ValidationError

from engine.agents import Report
from engine.errors import HaloError, UnknownIdError
from engine.tools.arguments import field_problems
from engine.tools.registry import REGISTRY, call_tool
from halo_mcp.runs import LiveRun, RunManager
from halo_mcp.tools import ServerState, tool_context

__all__ = ["register_resources", "OVERVIEW_URI", "RUNS_URI"]

logger = logging.getLogger(__name__)

OVERVIEW_URI = "halo://dataset/overview"
RUNS_URI = "halo://runs"
# Dataset paths are absolute and may hold "..": the catalog checks them, not the URI layer.
_DATASET_PARAM = ResourceSecurity(exempt_params={"dataset"})


async def _tool_text(state: ServerState, tool: str, arguments: dict[str, Any]) -> str:
    if tool not in REGISTRY:
        raise ResourceError(f"this server has no {tool} tool yet")
    try:
        answer = await call_tool(tool, tool_context(state), arguments)
    except UnknownIdError as err:
        raise ResourceNotFoundError(str(err)) from err
    except HaloError as err:
        raise ResourceError(str(err)) from err
    except ValidationError as err:  # a model built from the URI's values refused them
        raise ResourceError(f"{tool} could not use this URI's values: {field_problems(err)}") from err
    return answer.text


def _report_page(state: ServerState, report: Any) -> str:
    """The report page, drawn from the dataset the run read when this server may open it, else the default."""
    from engine.viewer import report_page
    from engine.viewer.report_page import report_dataset

    ds = None
    for spec in dict.fromkeys((report_dataset(report), None)):
        if spec is None and not state.catalog.default:
            continue
        try:
            ds = state.catalog.open(spec)
            break
        except HaloError as err:
            logger.info("report page: dataset %r not drawn: %s", spec, err)
    return report_page(report, ds)


def _with_dataset(arguments: dict[str, Any], dataset: str) -> dict[str, Any]:
    return {**arguments, "dataset": dataset} if dataset else arguments


def register_resources(mcp: MCPServer, state: ServerState, runs: RunManager) -> None:
    async def list_report(run: LiveRun) -> None:
        # Reports of this server's runs appear in resources/list, not only as a template,
        # and every session that called a tool is told the list changed.
        report = run.report
        if report is None:
            return
        mcp.add_resource(
            FunctionResource.from_function(
                fn=report.to_markdown,
                uri=f"halo://runs/{run.run_id}/report",
                name=f"report-{run.run_id}",
                title=f"Diagnosis: {run.question[:80]}",
                description=f"{len(report.findings)} findings on {run.dataset}",
                mime_type="text/markdown",
            )
        )
        # Handshake-era clients hear it on their session; 2026-07-28 clients on the
        # subscriptions/listen stream they opened (the SDK drops the copy that does not apply).
        for key, session in list(state.sessions.items()):
            try:
                await session.send_resource_list_changed()
            except Exception as exc:  # that client has gone; the others still hear
                logger.debug("resources/list_changed not sent: %s", exc)
                state.sessions.pop(key, None)
        await mcp._subscriptions.publish(ResourcesListChanged())

    runs.on_report = list_report

    @mcp.resource(
        OVERVIEW_URI,
        name="dataset-overview",
        title="Dataset overview",
        description="Counts, time range, models, tools with error rates, error signatures and data "
        "quality of the server's default dataset.",
        mime_type="text/plain",
    )
    async def overview() -> str:
        return await _tool_text(state, "overview", {})

    @mcp.resource(
        "halo://traces/{trace_id}{?dataset}",
        name="trace",
        title="Trace by id",
        description="One trace as a span tree (names, kinds, status, timings, tokens).",
        mime_type="text/plain",
        security=_DATASET_PARAM,
    )
    async def trace(trace_id: str, dataset: str = "") -> str:
        return await _tool_text(state, "view_trace", _with_dataset({"trace_id": trace_id}, dataset))

    @mcp.resource(
        "halo://traces/{trace_id}/spans/{span_id}{?dataset}",
        name="span",
        title="Span by id",
        description="One span in full: attributes, inputs, outputs, errors.",
        mime_type="text/plain",
        security=_DATASET_PARAM,
    )
    async def span(trace_id: str, span_id: str, dataset: str = "") -> str:
        args = _with_dataset({"trace_id": trace_id, "span_ids": [span_id]}, dataset)
        return await _tool_text(state, "view_spans", args)

    @mcp.resource(
        RUNS_URI,
        name="diagnose-runs",
        title="Diagnose runs",
        description="Every diagnose run (this server's and earlier ones on disk), newest first, as JSON.",
        mime_type="application/json",
    )
    def run_index() -> str:
        items = [
            {
                "run_id": r.run_id,
                "status": r.status,
                "question": r.question,
                "dataset": r.dataset,
                "findings": r.findings,
                "report": f"halo://runs/{r.run_id}/report",
            }
            for r in runs.list()
        ]
        return orjson.dumps(items, option=orjson.OPT_INDENT_2).decode()

    def _report(run_id: str) -> Report:
        try:
            run = runs.get(run_id)
        except UnknownIdError as err:
            raise ResourceNotFoundError(str(err)) from err
        if run.report is None:
            raise ResourceNotFoundError(
                f"run {run_id} has no report ({run.status}); follow it with diagnose_status"
            )
        return run.report

    @mcp.resource(
        "halo://runs/{run_id}/report",
        name="diagnose-report",
        title="Diagnose report (Markdown)",
        description="The report of a finished diagnose run: findings ranked by impact with frequency, "
        "verified evidence, root-cause hypothesis and suggested change.",
        mime_type="text/markdown",
    )
    def report_md(run_id: str) -> str:
        return _report(run_id).to_markdown()

    @mcp.resource(
        "halo://runs/{run_id}/report.html",
        name="diagnose-report-html",
        title="Diagnose report (HTML page)",
        description="The report as one self-contained HTML page: findings ranked with frequency bars, each cited "
        "trace drawn as a waterfall with the cited span highlighted.",
        mime_type="text/html",
    )
    async def report_html(run_id: str) -> str:
        report = _report(run_id)
        return await anyio.to_thread.run_sync(_report_page, state, report)

    @mcp.resource(
        "halo://runs/{run_id}/report.json",
        name="diagnose-report-json",
        title="Diagnose report (JSON)",
        description="The report of a finished diagnose run as structured data.",
        mime_type="application/json",
    )
    def report_json(run_id: str) -> str:
        return _report(run_id).model_dump_json(indent=2)
