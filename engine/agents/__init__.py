"""The diagnose engine: a recursive LLM analysis of a trace dataset, with checked citations.

    from engine.agents import DiagnoseConfig, diagnose_stream, diagnose, diagnose_sync, RunStore

    async for event in diagnose_stream("Why do runs fail?", context, DiagnoseConfig()):
        ...                      # typed events; the last one is `report`
    report = await diagnose(question, context, config)
    print(report.to_markdown())

Without a model configured (no OPENAI_API_KEY / OPENAI_BASE_URL) the report is
built from the deterministic failure analytics and says so.
"""

from engine.agents.config import DiagnoseConfig, default_runs_dir
from engine.agents.diagnose import diagnose, diagnose_stream, diagnose_sync, iterate_sync
from engine.agents.events import EVENT_ADAPTER, Event
from engine.agents.report import Evidence, Finding, Frequency, Report, RunFacts, SuggestedChange
from engine.agents.runs import RunProgress, RunStatus, RunStore

__all__ = [
    "DiagnoseConfig",
    "default_runs_dir",
    "diagnose",
    "diagnose_stream",
    "diagnose_sync",
    "iterate_sync",
    "Event",
    "EVENT_ADAPTER",
    "Report",
    "Finding",
    "Evidence",
    "Frequency",
    "SuggestedChange",
    "RunFacts",
    "RunStore",
    "RunStatus",
    "RunProgress",
]
