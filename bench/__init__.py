"""Benchmarks of halo-mcp (never run by the tests): `python -m bench --help`."""
