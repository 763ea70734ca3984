"""An OTLP/HTTP trace receiver: what agents' OpenTelemetry exporters send, appended to a dataset directory.

`payload` decodes and checks one export, `sink` stores it durably, `http` serves
`POST /v1/traces`. Used by `halo-mcp receive DIR` and `halo-mcp serve --otlp`.
"""

from halo_mcp.receiver.http import MAX_BODY_BYTES, MAX_DECODED_BYTES, TRACES_PATH, Receiver, ReceiverSettings
from halo_mcp.receiver.sink import ROTATE_BYTES

__all__ = ["Receiver", "ReceiverSettings", "TRACES_PATH", "MAX_BODY_BYTES", "MAX_DECODED_BYTES", "ROTATE_BYTES"]
