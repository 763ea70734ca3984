"""Trace sources that are not files: Phoenix, Langfuse, ClickHouse (see `base`)."""
