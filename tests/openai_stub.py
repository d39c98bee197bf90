"""A scripted, OpenAI-compatible HTTP stub for testing the real client path (openai + langchain-openai) offline.

Standard library only: `http.server.ThreadingHTTPServer` on 127.0.0.1, a free port, served from a daemon thread.

    with OpenAIStub() as stub:                       # or the `openai_stub` pytest fixture below
        stub.enqueue(tool({"text": "..."}), rate_limited(retry_after=0.1), sleep(3))
        os.environ["OPENAI_BASE_URL"] = stub.base_url   # http://127.0.0.1:<port>/v1
        ...
        stub.requests[0]["body"]                     # every request received, parsed JSON body included

Endpoints
    POST /v1/chat/completions  JSON, or server-sent events when the request says "stream": true
    GET  /v1/models            one model, "stub-model" (plus any ids passed as `models=`)

Behaviours: each chat request pops the next behaviour from the queue (see the constructors below: `tool`,
`content`, `sleep`, `rate_limited`, `server_error`, `malformed_json`, `truncated`, `slow_stream`, `judge`).

Default when the queue is empty: HTTP 500 with the error message "openai stub: no scripted reply left". An
unscripted request is a mistake in the test, so it should be loud, never a plausible grade; it is also counted in
`stub.unscripted`. Pass `default=judge()` to get a well-formed answer for every unscripted request instead (useful
for driving a whole interview): a valid `LLMGrade` call (nothing covered, score 0) for a grading request, a
valid `LLMQuestion` call for phrasing and probes, and plain text otherwise.

Like the real API (and unlike an in-process fake), the stub rejects with HTTP 400 a conversation in which an
assistant message with `tool_calls` is not followed by one `tool` message per tool_call_id (`strict=True`).
"""
from __future__ import annotations

import collections
import json
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

STUB_MODEL = "stub-model"


# ---------------------------------------------------------------------------------------------------- behaviours
@dataclass
class Behaviour:
    """One scripted reply. `delay` seconds pass before anything is sent (interrupted when the stub closes)."""

    kind: str
    args: dict | None = None          # tool call arguments (a dict, sent as JSON)
    name: str | None = None           # tool name; None = the request's tools[0].function.name
    text: str | None = None           # plain content, or the raw body for `malformed_json`
    status: int = 200
    headers: dict = field(default_factory=dict)
    finish_reason: str | None = None
    delay: float = 0.0
    interval: float = 0.0             # between SSE chunks
    chunks: int = 4                   # how many pieces a streamed reply is cut into
    usage: bool = True                # report token usage
    truncate: float | None = None     # keep only this fraction of the tool call's JSON arguments


def tool(args: dict, name: str | None = None, delay: float = 0.0, finish_reason: str = "tool_calls") -> Behaviour:
    """A tool call whose arguments are `args`; the function name defaults to the request's tools[0]."""
    return Behaviour("tool", args=args, name=name, delay=delay, finish_reason=finish_reason)


def content(text: str, delay: float = 0.0, finish_reason: str = "stop") -> Behaviour:
    """A plain assistant message (no tool call): for a structured-output request this is a schema failure."""
    return Behaviour("content", text=text, delay=delay, finish_reason=finish_reason)


def sleep(seconds: float, then: Behaviour | None = None) -> Behaviour:
    """Wait `seconds`, then reply with `then` (default: a plain 'too late' message)."""
    reply = then or content("too late")
    reply.delay = seconds
    return reply


def rate_limited(retry_after: float | str | None = 1, delay: float = 0.0) -> Behaviour:
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return Behaviour("error", status=429, headers=headers, delay=delay,
                     text=_error_body("Rate limit reached for stub-model", "rate_limit_exceeded", "requests"))


def server_error(status: int = 500, delay: float = 0.0) -> Behaviour:
    return Behaviour("error", status=status, delay=delay,
                     text=_error_body(f"stub server error {status}", "server_error", None))


def malformed_json(body: str = '{"id": "chatcmpl-broken", "choices": [{"message": {"role": "assist') -> Behaviour:
    """HTTP 200, content-type application/json, a body that is not JSON."""
    return Behaviour("raw", status=200, text=body)


def truncated(args: dict, name: str | None = None, keep: float = 0.5) -> Behaviour:
    """finish_reason "length": the tool call's JSON arguments are cut off after `keep` of their characters."""
    return Behaviour("tool", args=args, name=name, finish_reason="length", truncate=keep)


def slow_stream(text: str = "a slow streamed reply", chunks: int = 10, interval: float = 0.3) -> Behaviour:
    """Plain content sent piece by piece with `interval` seconds between SSE chunks (needs "stream": true;
    without it the full reply comes after chunks * interval seconds)."""
    return Behaviour("content", text=text, chunks=chunks, interval=interval, finish_reason="stop")


def judge() -> Behaviour:
    """A well-formed reply for whatever was asked (see the module docstring)."""
    return Behaviour("judge")


def _error_body(message: str, code: str | None, param: str | None) -> str:
    kind = "requests" if code == "rate_limit_exceeded" else "server_error"
    return json.dumps({"error": {"message": message, "type": kind, "param": param, "code": code}})


# ---------------------------------------------------------------------------------------------------- the server
class OpenAIStub:
    def __init__(self, *behaviours: Behaviour, default: Behaviour | None = None, strict: bool = True,
                 models: tuple[str, ...] = ()) -> None:
        self.default = default
        self.strict = strict
        self.models = (STUB_MODEL, *models)
        self.requests: list[dict] = []
        self.unscripted = 0
        self._queue: collections.deque[Behaviour] = collections.deque(behaviours)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "OpenAIStub":
        handler = type("StubHandler", (_Handler,), {"stub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="openai-stub", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # wakes every handler that is sleeping on a delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "OpenAIStub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def port(self) -> int:
        assert self._server is not None, "the stub is not running"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # ------------------------------------------------------------ scripting and inspection
    def enqueue(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._queue.extend(behaviours)

    def pending(self) -> int:
        return len(self._queue)

    @property
    def chat_requests(self) -> list[dict]:
        """Bodies of the chat completion requests, in arrival order."""
        return [r["body"] for r in self.requests if r["path"].endswith("/chat/completions")]

    def prompt(self, index: int = -1) -> str:
        """All message contents of one chat request, joined (what the model was shown)."""
        return "\n".join(_text(m.get("content")) for m in self.chat_requests[index].get("messages", []))

    def messages(self, index: int = -1) -> list[dict]:
        return self.chat_requests[index].get("messages", [])

    def _next(self) -> Behaviour | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            self.unscripted += 1
            return self.default

    def _record(self, handler: "_Handler", body: Any) -> None:
        with self._lock:
            self.requests.append({"method": handler.command, "path": handler.path, "body": body,
                                  "headers": dict(handler.headers.items()), "time": time.monotonic()})


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_base_url() -> str:
    """A loopback URL where nothing listens: connecting is refused at once."""
    return f"http://127.0.0.1:{free_port()}/v1"


@pytest.fixture
def openai_stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as stub:
        yield stub


# ---------------------------------------------------------------------------------------------------- handler
class _Handler(BaseHTTPRequestHandler):
    stub: OpenAIStub
    protocol_version = "HTTP/1.1"
    server_version = "OpenAIStub/1.0"

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass

    def do_GET(self):
        self.stub._record(self, None)
        if self.path.rstrip("/").endswith("/models"):
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "stub"} for m in self.stub.models]
            return self._json(200, {"object": "list", "data": data})
        return self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self.stub._record(self, raw.decode("utf-8", "replace"))
            return self._json(400, {"error": {"message": "request body is not JSON", "type": "invalid_request_error"}})
        self.stub._record(self, body)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            return self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
        problem = _conversation_problem(body) if self.stub.strict else None
        if problem:
            return self._json(400, {"error": {"message": problem, "type": "invalid_request_error",
                                              "param": "messages", "code": None}})
        behaviour = self.stub._next()
        if behaviour is None:
            return self._json(500, {"error": {"message": "openai stub: no scripted reply left",
                                              "type": "server_error", "param": None, "code": None}})
        if behaviour.delay and self.stub._closing.wait(behaviour.delay):
            return self._json(503, {"error": {"message": "stub closing", "type": "server_error"}})
        try:
            self._reply(behaviour, body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): nothing to do

    # ------------------------------------------------------------ replies
    def _reply(self, b: Behaviour, body: dict) -> None:
        if b.kind == "error":
            return self._send(b.status, (b.text or "").encode(), "application/json", b.headers)
        if b.kind == "raw":
            return self._send(b.status, (b.text or "").encode(), "application/json", b.headers)
        if b.kind == "judge":
            b = _judge(body)
        message: dict = {"role": "assistant", "content": None, "refusal": None}
        if b.kind == "tool":
            tools = body.get("tools") or []
            name = b.name or (tools[0]["function"]["name"] if tools else None)
            if name is None:
                return self._json(500, {"error": {"message": "openai stub: a tool reply needs tools in the request",
                                                  "type": "server_error"}})
            arguments = json.dumps(b.args)
            if b.truncate is not None:
                arguments = arguments[: max(1, int(len(arguments) * b.truncate))]
            message["tool_calls"] = [{"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
                                      "function": {"name": name, "arguments": arguments}}]
            completion_text = arguments
        else:
            message["content"] = b.text or ""
            completion_text = message["content"]
        finish = b.finish_reason or ("tool_calls" if b.kind == "tool" else "stop")
        usage = _usage(body, completion_text)
        if body.get("stream"):
            return self._stream(body, message, finish, usage, b)
        if b.interval:
            if self.stub._closing.wait(b.interval * b.chunks):
                return
        payload = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
                   "model": body.get("model", STUB_MODEL), "system_fingerprint": "fp_stub",
                   "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}]}
        if b.usage:
            payload["usage"] = usage
        self._json(200, payload)

    def _stream(self, body: dict, message: dict, finish: str, usage: dict, b: Behaviour) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        base = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": body.get("model", STUB_MODEL), "system_fingerprint": "fp_stub"}

        def event(delta: dict, finish_reason: str | None = None, **extra) -> None:
            chunk = dict(base, choices=[{"index": 0, "delta": delta, "logprobs": None,
                                         "finish_reason": finish_reason}], **extra)
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()

        event({"role": "assistant", "content": ""})
        if message.get("tool_calls"):
            call = message["tool_calls"][0]
            event({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                   "function": {"name": call["function"]["name"], "arguments": ""}}]})
            pieces = _split(call["function"]["arguments"], b.chunks)
            deltas = [{"tool_calls": [{"index": 0, "function": {"arguments": p}}]} for p in pieces]
        else:
            deltas = [{"content": p} for p in _split(message["content"] or "", b.chunks)]
        for delta in deltas:
            if b.interval and self.stub._closing.wait(b.interval):
                return
            event(delta)
        event({}, finish)
        if b.usage and (body.get("stream_options") or {}).get("include_usage"):
            chunk = dict(base, choices=[], usage=usage)
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _json(self, status: int, payload: dict) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", {})

    def _send(self, status: int, data: bytes, content_type: str, headers: dict) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


# ---------------------------------------------------------------------------------------------------- helpers
def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "\n".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return json.dumps(content)


def _usage(body: dict, completion: str) -> dict:
    prompt_text = "\n".join(_text(m.get("content")) for m in body.get("messages", []))
    prompt = max(1, len(prompt_text.split()) * 4 // 3)   # a rough word-based count: > 0 for any prompt
    done = max(1, len(completion.split()) * 4 // 3)
    return {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}


def _split(text: str, n: int) -> list[str]:
    n = max(1, n)
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _conversation_problem(body: dict) -> str | None:
    """The check the real API makes: every assistant tool call must be answered by a tool message."""
    messages = body.get("messages") or []
    for i, m in enumerate(messages):
        if m.get("role") != "assistant" or not m.get("tool_calls"):
            continue
        wanted = {c.get("id") for c in m["tool_calls"]}
        answered = set()
        for follower in messages[i + 1 :]:
            if follower.get("role") != "tool":
                break
            answered.add(follower.get("tool_call_id"))
        missing = wanted - answered
        if missing:
            return ("An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                    f"'tool_call_id'. The following tool_call_ids did not have response messages: "
                    f"{', '.join(sorted(str(x) for x in missing))}")
    return None


def _judge(body: dict) -> Behaviour:
    tools = body.get("tools") or []
    name = tools[0]["function"]["name"] if tools else None
    prompt = "\n".join(_text(m.get("content")) for m in body.get("messages", []))
    if name == "LLMGrade":
        section = prompt.split("Key points (index: statement):", 1)[-1].split("Score anchors:", 1)[0]
        indices = [int(i) for i in re.findall(r"^(\d+):", section, re.MULTILINE)] or [0]
        return tool({"key_points": [{"index": i, "covered": False, "evidence": ""} for i in indices],
                     "score": 0, "feedback": "Stub judge: no key point was verified.", "injection_detected": False})
    if name == "LLMQuestion":  # the question or follow-up it was asked to rephrase, in the stub's own frame
        marker = "Suggested probe from the question bank:" if "Suggested probe" in prompt else "):"
        asked = prompt.split(marker, 1)[-1].strip().split("\n\n", 1)[0]
        return tool({"text": f"Stub interviewer: imagine you face this at work. {asked}"})
    if name:
        return Behaviour("error", status=500, text=_error_body(f"stub judge cannot answer tool {name}", None, None))
    return content("Stub judge reply.")
