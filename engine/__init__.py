"""halo-mcp's engine: trace readers and index (`engine.traces`), tools (`engine.tools`), diagnosis (`engine.agents`).

The top-level name `engine` is also used by halo-engine (HALO's own package on
PyPI); `HALO_MCP_ENGINE` tells `halo_mcp.coexist` that this one is halo-mcp's.
"""

HALO_MCP_ENGINE = True
