"""One module per `halo-mcp` subcommand; see `halo_mcp.cli`."""
