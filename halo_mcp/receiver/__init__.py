"""An OTLP/HTTP trace receiver: what agents' OpenTelemetry exporters send, appended to a dataset directory.

`payload` decodes and checks one export, `store` keeps a retried export from being
stored twice, `sink` stores durably, `http` serves `POST /v1/traces`, `limits` names
every bound. Used by `halo-mcp receive DIR` and `halo-mcp serve --otlp`. Nothing is
imported here, so the CLI's `--help` does not pay for protobuf.
"""
