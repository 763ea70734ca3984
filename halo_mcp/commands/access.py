"""Who may reach a listening command: the hosts counted as local, and the bearer token's variable.

`serve --http` and `receive` both refuse to listen off localhost without a token;
they read these two names from here so that neither command imports the other
for them.
"""

from __future__ import annotations

__all__ = ["LOCAL_HOSTS", "TOKEN_ENV"]

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TOKEN_ENV = "HALO_MCP_TOKEN"
