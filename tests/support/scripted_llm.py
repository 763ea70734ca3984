"""A scripted OpenAI-compatible Chat Completions server on 127.0.0.1, for tests.

Tests talk to it with the real `openai` client over real HTTP, so retries,
headers, timeouts and JSON parsing are exercised exactly as against a provider.
Replies are scripted; every request is recorded.

    from support.scripted_llm import ScriptedLLM, reply

    with ScriptedLLM() as llm:
        llm.script(reply.error(429, retry_after=0), reply.text("hello"))   # FIFO
        llm.script_for("Task: count errors", reply.call("overview", {}))  # routed
        llm.respond(lambda request: reply.text("dynamic"))                 # fallback
        config = LLMConfig(base_url=llm.base_url, api_key="test", model="m")
        ...
        llm.requests[0].messages                                           # what was sent

Routing: a request first takes the next reply of the first `script_for` queue
whose `match` text occurs in its system or first user message (queues are tried
in the order they were added, and an empty queue is skipped); otherwise the next
reply of the `script` FIFO; otherwise the `respond` function; otherwise the
server answers 418 "nothing scripted", which the client does not retry.

Gates play servers and models that misbehave whatever is scripted: each is asked
first and may answer in place of the script (the scripted reply then stays
queued). `gate.*` builds the usual ones:

    llm.gate(gate.ignores_tools_without_tool_choice)   # llama-cpp-python chatml-function-calling
    llm.gate(gate.runaway_without_max_tokens())       # generates until its context is full
    llm.gate(gate.context_window(4096))               # refuses longer prompts, as llama.cpp does
    llm.gate(gate.refuses_tool_choice("required"))    # a server that rejects a tool_choice

A `Reply` can carry tool calls (arguments as a dict or as a raw, possibly
malformed, string), plain content, a refusal, an HTTP error with `Retry-After`,
a raw body, a delay before answering, and the usage it reports.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ScriptedLLM", "Reply", "ToolCall", "RecordedRequest", "reply", "gate", "estimated_prompt_tokens"]


@dataclass(frozen=True)
class ToolCall:
    """One tool call in a scripted assistant message."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def wire(self, index: int) -> dict[str, Any]:
        args = self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)
        return {
            "id": self.id or f"call_{index}_{self.name}",
            "type": "function",
            "function": {"name": self.name, "arguments": args},
        }


@dataclass(frozen=True)
class Reply:
    """What the server answers to one request."""

    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    refusal: str | None = None
    finish_reason: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None  # sent as is, overriding everything above
    delay_s: float = 0.0
    prompt_tokens: int = 100
    completion_tokens: int = 20
    cost: float | None = None  # reported as usage.cost, as OpenRouter does

    def payload(self, request_index: int, model: str) -> bytes:
        if self.body is not None:
            return self.body
        if self.status >= 400:
            return json.dumps(
                {"error": {"message": self.content or f"scripted error {self.status}", "type": "scripted"}}
            ).encode()
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.refusal is not None:
            message["refusal"] = self.refusal
        if self.tool_calls:
            message["tool_calls"] = [c.wire(i) for i, c in enumerate(self.tool_calls)]
        finish = self.finish_reason or ("tool_calls" if self.tool_calls else "stop")
        usage: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }
        if self.cost is not None:
            usage["cost"] = self.cost
        return json.dumps(
            {
                "id": f"chatcmpl-scripted-{request_index}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage,
            }
        ).encode()


class reply:
    """Constructors for the usual replies."""

    @staticmethod
    def text(content: str, **kw: Any) -> Reply:
        return Reply(content=content, **kw)

    @staticmethod
    def call(name: str, arguments: dict[str, Any] | str | None = None, **kw: Any) -> Reply:
        return Reply(tool_calls=(ToolCall(name, {} if arguments is None else arguments),), **kw)

    @staticmethod
    def calls(*calls: ToolCall | tuple[str, dict[str, Any] | str], **kw: Any) -> Reply:
        made = tuple(c if isinstance(c, ToolCall) else ToolCall(*c) for c in calls)
        return Reply(tool_calls=made, **kw)

    @staticmethod
    def refusal(text: str = "I'm sorry, but I can't help with that.", **kw: Any) -> Reply:
        return Reply(refusal=text, **kw)

    @staticmethod
    def error(status: int, message: str | None = None, *, retry_after: float | None = None, **kw: Any) -> Reply:
        headers = dict(kw.pop("headers", {}))
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        return Reply(status=status, content=message, headers=headers, **kw)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    index: int
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]
    received_at: float  # time.monotonic()

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def model(self) -> str | None:
        return self.body.get("model")

    @property
    def tool_names(self) -> list[str]:
        return [t["function"]["name"] for t in self.body.get("tools", []) or []]

    @property
    def system(self) -> str:
        return next((_text(m) for m in self.messages if m.get("role") == "system"), "")

    @property
    def first_user(self) -> str:
        return next((_text(m) for m in self.messages if m.get("role") == "user"), "")

    @property
    def tool_results(self) -> list[str]:
        return [_text(m) for m in self.messages if m.get("role") == "tool"]


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


Responder = Callable[[RecordedRequest], Reply | None]

# How the scripted servers count a prompt's tokens: characters / 3, as the engine estimates.
CHARS_PER_TOKEN = 3


def estimated_prompt_tokens(request: RecordedRequest) -> int:
    """Tokens of a request's messages and tools, counted the way the scripted servers count."""
    sent = json.dumps(request.body.get("messages", []), ensure_ascii=False)
    sent += json.dumps(request.body.get("tools", []) or [], ensure_ascii=False)
    return len(sent) // CHARS_PER_TOKEN


class gate:
    """Servers and models that misbehave whatever is scripted (see the module docstring)."""

    @staticmethod
    def ignores_tools_without_tool_choice(request: RecordedRequest) -> Reply | None:
        """Without `tool_choice` the tools never reach the model's prompt: it answers in prose."""
        if request.body.get("tools") and request.body.get("tool_choice") in (None, "none"):
            return reply.text("I would look at the traces, but I have no tools to call.")
        return None

    @staticmethod
    def runaway_without_max_tokens(delay_s: float = 30.0) -> Responder:
        """A model that never stops: without `max_tokens` it answers only after `delay_s`
        (the client gives up first); with it, the scripted reply is sent."""

        def check(request: RecordedRequest) -> Reply | None:
            cap = request.body.get("max_tokens") or request.body.get("max_completion_tokens")
            if not cap:
                return reply.text("and so on " * 2000, delay_s=delay_s, finish_reason="length")
            return None

        return check

    @staticmethod
    def context_window(tokens: int, style: str = "llama.cpp") -> Responder:
        """A server with a `tokens` context that refuses prompts (plus their output cap) longer
        than it, with the message of llama.cpp, vLLM or OpenAI (`style`)."""

        def check(request: RecordedRequest) -> Reply | None:
            prompt = estimated_prompt_tokens(request)
            wanted = prompt + int(request.body.get("max_tokens") or 0)
            if wanted <= tokens:
                return None
            if style == "vllm":
                message = (f"This model's maximum context length is {tokens} tokens. However, you requested "
                           f"{wanted} tokens ({prompt} in the messages, {wanted - prompt} in the completion). "
                           "Please reduce the length of the messages or completion.")  # fmt: skip
            elif style == "openai":
                message = (f"This model's maximum context length is {tokens} tokens. However, your messages "
                           f"resulted in {prompt} tokens. Please reduce the length of the messages.")  # fmt: skip
            else:
                message = (f"the request exceeds the available context size ({tokens} tokens), try increasing "
                           "the context size or enable context shift")  # fmt: skip
            return reply.error(400, message)

        return check

    @staticmethod
    def refuses_tool_choice(*refused: str) -> Responder:
        """A server that answers 400 to the given tool_choice kinds ("auto", "required", "named")."""

        def check(request: RecordedRequest) -> Reply | None:
            choice = request.body.get("tool_choice")
            kind = "named" if isinstance(choice, dict) else choice
            if kind in refused:
                return reply.error(400, f'tool_choice "{kind}" is not supported by this server')
            return None

        return check


class ScriptedLLM:
    """The server. Use as a context manager, or call `start()` / `close()`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fifo: deque[Reply] = deque()
        self._routed: list[tuple[str, deque[Reply]]] = []
        self._responder: Responder | None = None
        self._gates: list[Responder] = []
        self._closing = threading.Event()
        self.requests: list[RecordedRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # scripting -------------------------------------------------------------

    def script(self, *replies: Reply) -> ScriptedLLM:
        """Queue replies for requests no `script_for` queue claims, in order."""
        with self._lock:
            self._fifo.extend(replies)
        return self

    def script_for(self, match: str, *replies: Reply) -> ScriptedLLM:
        """Queue replies for requests whose system or first user message contains `match`."""
        with self._lock:
            for text, queue in self._routed:
                if text == match:
                    queue.extend(replies)
                    return self
            self._routed.append((match, deque(replies)))
        return self

    def respond(self, responder: Responder) -> ScriptedLLM:
        """Answer requests nothing is queued for by calling `responder(request)`."""
        self._responder = responder
        return self

    def gate(self, check: Responder) -> ScriptedLLM:
        """Ask `check(request)` before anything scripted; a Reply it returns is sent instead."""
        self._gates.append(check)
        return self

    def pending(self) -> int:
        """Replies scripted but not yet sent."""
        with self._lock:
            return len(self._fifo) + sum(len(q) for _, q in self._routed)

    def requests_matching(self, match: str) -> list[RecordedRequest]:
        return [r for r in self.requests if match in r.system or match in r.first_user]

    # lifecycle -------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> ScriptedLLM:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="scripted-llm", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # wakes handlers sleeping in a scripted delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # serving ---------------------------------------------------------------

    def _next_reply(self, request: RecordedRequest) -> Reply | None:
        for check in self._gates:
            if (answer := check(request)) is not None:
                return answer
        with self._lock:
            for match, queue in self._routed:
                if queue and (match in request.system or match in request.first_user):
                    return queue.popleft()
            if self._fifo:
                return self._fifo.popleft()
        if self._responder is not None:
            return self._responder(request)
        return None

    def _record(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> RecordedRequest:
        with self._lock:
            request = RecordedRequest(len(self.requests), path, headers, body, time.monotonic())
            self.requests.append(request)
        return request


def _handler_for(owner: ScriptedLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers after close()

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {"_unparsed": raw.decode("utf-8", "replace")}
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = owner._record(self.path, headers, body)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, b'{"error": {"message": "only /v1/chat/completions is scripted"}}', {})
                    return
                scripted = owner._next_reply(request)
                if scripted is None:
                    message = f"scripted server: nothing scripted for request #{request.index}"
                    self._send(418, json.dumps({"error": {"message": message}}).encode(), {})
                    return
                if scripted.delay_s and owner._closing.wait(scripted.delay_s):
                    return  # server closing: drop the request
                payload = scripted.payload(request.index, str(body.get("model") or "scripted-model"))
                self._send(scripted.status, payload, scripted.headers)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout or cancellation): nothing to answer

        def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

    return Handler
