"""The one seam to language models: `get_model(name)` for offline, fake, echo and openai:<model>.

Only this module knows providers. Every LLM call returns a pydantic object or raises `LLMError`; callers fall back
to the offline engine for that step.
"""
from __future__ import annotations

import collections
import concurrent.futures
import json
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, PrivateAttr, ValidationError

from bot.config import Settings, load_settings
from bot.llm_progress import Relay, current_listener
from bot.tokens import count_tokens

if TYPE_CHECKING:  # LangChain is imported when a language model is first used: the offline engine starts ~1 s faster
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage

T = TypeVar("T", bound=BaseModel)


class LLMError(RuntimeError):
    """A model call that did not give a valid answer in time; carries every attempt for diagnosis."""

    def __init__(self, message: str, attempts: list[str] | None = None, kind: str = "error") -> None:
        super().__init__(message)
        self.attempts = attempts or []
        self.kind = kind


@dataclass
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    log: list[dict] = field(default_factory=list)

    def add(self, step: str, prompt: int, completion: int) -> None:
        self.calls += 1
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.log.append({"step": step, "prompt_tokens": prompt, "completion_tokens": completion})


@lru_cache(maxsize=1)
def scripted_chat_model() -> type:
    """The class of the fake and echo models (a LangChain chat model, so tests run LangChain's real code path)."""
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
    from langchain_core.utils.function_calling import convert_to_openai_tool

    class ScriptedChatModel(BaseChatModel):
        """Deterministic chat model for tests and evals: replies come from a queue filled with `enqueue`.

        A dict reply becomes a tool call for the bound schema, so structured output runs LangChain's real code path.
        """

        tool_name: str | None = None
        echo: bool = False
        responder: Any = None  # called with the messages when the queue is empty (a scripted judge for evals)
        streaming: bool = False
        stream_delay: float = 0.0
        _queue: collections.deque = PrivateAttr(default_factory=collections.deque)
        _received: list = PrivateAttr(default_factory=list)
        _lock: Any = PrivateAttr(default_factory=threading.Lock)

        @property
        def _llm_type(self) -> str:
            return "echo" if self.echo else "fake"

        def enqueue(self, *replies: Any) -> None:
            with self._lock:
                self._queue.extend(replies)

        def pending(self) -> int:
            return len(self._queue)

        def clear(self) -> None:
            with self._lock:
                self._queue.clear()
                self._received.clear()

        @property
        def received(self) -> list[list[BaseMessage]]:
            return self._received

        def bind_tools(self, tools, **kwargs):  # noqa: D401 - LangChain signature
            bound = self.model_copy(update={"tool_name": convert_to_openai_tool(tools[0])["function"]["name"]})
            bound._queue, bound._received, bound._lock = self._queue, self._received, self._lock
            return bound

        def _reply(self, messages) -> AIMessage:
            with self._lock:
                self._received.append(list(messages))
                if self.echo:
                    reply: Any = str(messages[-1].content)
                elif self._queue:
                    reply = self._queue.popleft()
                elif self.responder is not None:
                    reply = self.responder
                else:
                    raise LLMError("the fake model has no scripted reply left (call enqueue)", kind="exhausted")
            if callable(reply):
                reply = reply(messages)
            if isinstance(reply, BaseException):
                raise reply
            if isinstance(reply, dict) and self.tool_name:
                return AIMessage(content="", tool_calls=[{"name": self.tool_name, "args": reply, "id": "call_0"}])
            return AIMessage(content=reply if isinstance(reply, str) else json.dumps(reply))

        def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
            return ChatResult(generations=[ChatGeneration(message=self._reply(messages))])

        def _stream(self, messages, stop=None, run_manager=None, **kwargs):
            """The same reply in pieces of about 12 characters (tool-call arguments as tool-call chunks), so
            streaming runs LangChain's real aggregation; `stream_delay` seconds between pieces."""
            message = self._reply(messages)
            if message.tool_calls:
                call = message.tool_calls[0]
                text = json.dumps(call["args"])
                pieces = [AIMessageChunk(content="", tool_call_chunks=[
                    {"name": call["name"] if i == 0 else None, "args": text[i:i + 12], "id": call["id"] if i == 0
                     else None, "index": 0}]) for i in range(0, len(text), 12)]
            else:
                text = str(message.content)
                pieces = [AIMessageChunk(content=text[i:i + 12]) for i in range(0, len(text), 12)] or \
                    [AIMessageChunk(content="")]
            for piece in pieces:
                chunk = ChatGenerationChunk(message=piece)
                if run_manager:
                    run_manager.on_llm_new_token(piece.content, chunk=chunk)
                if self.stream_delay:
                    time.sleep(self.stream_delay)
                yield chunk

    return ScriptedChatModel


class Breaker:
    """Shared by every Model of one endpoint: after `failures` failed calls in a row it stays open (every call
    fails at once) for `cooldown` seconds, then lets the next call try the model again."""

    def __init__(self) -> None:
        self.failures = 0
        self.open_until = 0.0
        self.lock = threading.Lock()

    def check(self, name: str) -> None:
        with self.lock:
            if time.monotonic() < self.open_until:
                left = self.open_until - time.monotonic()
                raise LLMError(f"{name} failed {self.failures} times in a row; the offline engine answers for "
                               f"{left:.0f} s more before it is tried again", kind="switched_off")

    def record(self, ok: bool, settings: Settings) -> bool:
        """Count a call; True when this failure switched the model off."""
        with self.lock:
            if ok:
                self.failures = 0
                return False
            self.failures += 1
            if self.failures >= settings.llm_breaker_failures and time.monotonic() >= self.open_until:
                self.open_until = time.monotonic() + settings.llm_breaker_cooldown
                return True
            return False


_breakers: dict[tuple, Breaker] = {}
UNREACHABLE = ("timeout", "connection", "server")  # failures that make the rest of a turn skip the model


def reset_breakers() -> None:
    """Forget every endpoint's failures (tests start each case clean)."""
    with _registry_lock:
        _breakers.clear()


def breaker_for(name: str, settings: Settings) -> Breaker:
    with _registry_lock:
        return _breakers.setdefault((name, settings.openai_base_url), Breaker())


# Completion budgets per step, in tokens: enough for the schema's bounded content, never open-ended.
STEP_TOKENS = {"question": 220, "probe": 160, "text": 400}
GRADE_TOKENS_BASE, GRADE_TOKENS_PER_POINT = 260, 90  # 80 words of feedback; per point a 25-word quote


@dataclass
class Model:
    """A named engine. `chat` is None for the offline engine, which needs no language model."""

    name: str
    chat: BaseChatModel | None
    settings: Settings
    usage: Usage = field(default_factory=Usage)

    @property
    def is_llm(self) -> bool:
        return self.chat is not None

    def enqueue(self, *replies: Any) -> None:
        if not isinstance(self.chat, scripted_chat_model()):
            raise TypeError(f"model {self.name!r} is not scriptable; use get_model('fake')")
        self.chat.enqueue(*replies)

    def begin_turn(self) -> None:
        """A new turn: the model may be tried again (unless switched off for a while)."""
        self.__dict__["_turn_failed"] = None

    def _guard(self) -> None:
        failed = self.__dict__.get("_turn_failed")
        if failed:
            raise LLMError(f"{self.name} already failed in this turn ({failed}); the offline engine answers",
                           kind="skipped")
        breaker_for(self.name, self.settings).check(self.name)

    def _record(self, error: LLMError | None) -> None:
        if error is not None and error.kind in UNREACHABLE:
            self.__dict__["_turn_failed"] = error.kind
        if breaker_for(self.name, self.settings).record(error is None or error.kind not in UNREACHABLE,
                                                        self.settings):
            self.__dict__["switched_off"] = (
                f"The {self.name} model failed {self.settings.llm_breaker_failures} times in a row, so the offline "
                f"engine answers for the next {self.settings.llm_breaker_cooldown:.0f} s; then the model is tried "
                "again.")

    def _deadline(self, fn, step: str, ends_at: float | None = None):
        """Run one call with a hard deadline: no step waits longer than the configured timeout."""
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"llm-{step}")
        future = pool.submit(fn)
        remaining = self.settings.llm_timeout if ends_at is None else max(ends_at - time.monotonic(), 0.01)
        try:
            return future.result(timeout=remaining)
        except concurrent.futures.TimeoutError:
            raise LLMError(f"{self.name} did not answer within {self.settings.llm_timeout:g} s", kind="timeout")
        except LLMError:
            raise
        except Exception as exc:  # transport errors after the client's own bounded retries
            raise LLMError(f"{self.name} failed: {type(exc).__name__}: {str(exc)[:200]}", kind=_kind(exc)) from exc
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _watched(self, call, step: str, listener, reveal=None, ends_at: float | None = None):
        """`call(config)` within the deadline, its streamed tokens relayed to `listener` (if any) until it ends."""
        relay = Relay(listener, step, reveal) if listener is not None else None
        try:
            return self._deadline(lambda: call({"callbacks": [relay]} if relay else None), step, ends_at)
        finally:
            if relay is not None:
                relay.close()

    def _structured_runnable(self, schema: type, max_tokens: int, streaming: bool = False):
        """The chat model bound to `schema` and a completion budget (built once per pair: binding costs ~2 ms);
        `streaming` when someone watches the turn (bot/llm_progress.py)."""
        cache = self.__dict__.setdefault("_bound", {})
        key = (schema, max_tokens, streaming)
        if key not in cache:
            chat = _bounded(self.chat, max_tokens, self.settings, streaming)
            cache[key] = chat.with_structured_output(schema, method=structured_method(self.settings),
                                                     include_raw=True)
        return cache[key]

    def structured(self, messages: list[BaseMessage], schema: type[T], step: str, max_tokens: int | None = None,
                   reveal=None) -> T:
        """Ask for `schema` within `max_tokens` (the step's budget by default); a reply that fails validation or
        is cut off is re-asked once with the error, inside the same time budget, then LLMError. After a timeout or
        connection failure the rest of the turn skips the model; after repeated ones it is switched off a while.
        While a listener watches (bot/llm_progress.py) the reply streams to it; `reveal(text)` False hides prose."""
        if self.chat is None:
            raise LLMError("the offline engine has no language model", kind="offline")
        self._guard()
        try:
            result = self._structured(messages, schema, step, max_tokens, reveal)
        except LLMError as exc:
            self._record(exc)
            raise
        self._record(None)
        return result

    def _structured(self, messages: list[BaseMessage], schema: type[T], step: str, max_tokens: int | None,
                    reveal=None) -> T:
        listener = current_listener()
        runnable = self._structured_runnable(schema, max_tokens or STEP_TOKENS.get(step, 400), listener is not None)
        attempts: list[str] = []
        conversation = list(messages)
        ends_at = time.monotonic() + self.settings.llm_timeout  # the re-ask shares the step's time budget
        for attempt in range(2):
            try:
                result = self._watched(lambda config: runnable.invoke(conversation, config=config), step,
                                       listener, reveal, ends_at)
            except LLMError as exc:
                # The client itself refuses a reply cut off at the length limit (json_schema parsing): re-ask
                # once, asking for the bounds, inside the same time budget.
                if exc.kind != "truncated" or attempt:
                    raise
                attempts.append(str(exc)[:300])
                from langchain_core.messages import HumanMessage

                conversation = conversation + [HumanMessage(content=(
                    f"Your reply was cut off at the length limit. Reply again with a complete {schema.__name__}: "
                    "quotes of at most 25 words, feedback of at most 80 words."))]
                continue
            raw: AIMessage = result["raw"]
            self._count(step, conversation, raw)
            finish = (raw.response_metadata or {}).get("finish_reason")
            attempts.append(_describe(raw))
            parsed, error = result.get("parsed"), result.get("parsing_error")
            if finish == "length":
                error = error or ValueError("the reply was cut off (finish_reason=length)")
                parsed = None
            if parsed is not None and error is None:
                return parsed
            if attempt == 0:
                conversation = conversation + _reask_messages(raw, _reask(error, schema))
        raise LLMError(f"{self.name} gave no valid {schema.__name__} after 2 attempts", attempts, kind="invalid")

    def text(self, messages: list[BaseMessage], step: str) -> str:
        if self.chat is None:
            raise LLMError("the offline engine has no language model", kind="offline")
        self._guard()
        listener = current_listener()
        try:
            chat = _bounded(self.chat, STEP_TOKENS["text"], self.settings, listener is not None)
            raw = self._watched(lambda config: chat.invoke(messages, config=config), step, listener)
        except LLMError as exc:
            self._record(exc)
            raise
        self._record(None)
        self._count(step, messages, raw)
        content = raw.content if isinstance(raw.content, str) else json.dumps(raw.content)
        if not content.strip():
            raise LLMError(f"{self.name} returned an empty reply", kind="invalid")
        return content.strip()

    def _count(self, step: str, messages: list[BaseMessage], raw: AIMessage) -> None:
        meta = getattr(raw, "usage_metadata", None) or {}
        model = self.name.split(":", 1)[-1]
        prompt = meta.get("input_tokens") or sum(count_tokens(str(m.content), model) for m in messages)
        completion = meta.get("output_tokens") or count_tokens(_describe(raw), model)
        self.usage.add(step, int(prompt), int(completion))


JSON_SCHEMA_SERVERS = ("llamacpp", "vllm")  # /v1/models "owned_by" of servers that enforce a JSON schema


@lru_cache(maxsize=8)
def _server_kind(base_url: str) -> str:
    """Who serves `base_url` (its /models owner), asked once per process with a short timeout; "" if unknown."""
    import urllib.request

    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=2) as reply:
            models = json.loads(reply.read()).get("data") or []
        return str(models[0].get("owned_by", "")) if models else ""
    except Exception:  # an unreachable server fails its first step anyway, with the right notice
        return ""


def structured_method(settings: Settings) -> str:
    """BOT_LLM_STRUCTURED, or for auto: json_schema for servers that enforce it (llama.cpp, vLLM), function calling
    for OpenAI itself and the rest (Ollama and unknown servers)."""
    if settings.llm_structured != "auto":
        return settings.llm_structured
    if settings.openai_base_url and _server_kind(settings.openai_base_url) in JSON_SCHEMA_SERVERS:
        return "json_schema"
    return "function_calling"


def _bounded(chat, max_tokens: int, settings: Settings, streaming: bool = False):
    """The chat model with a completion budget. langchain-openai sends it as `max_completion_tokens`, which OpenAI
    wants; OpenAI-compatible servers (llama.cpp, Ollama, vLLM) read `max_tokens`, so it goes in the body too.
    `streaming`: the reply comes as server-sent events (LangChain still returns the whole message)."""
    if streaming:
        chat = chat.model_copy(update={"streaming": True})
    if "max_tokens" not in type(chat).model_fields:  # the scripted models
        return chat
    update: dict = {"max_tokens": max_tokens}
    if settings.openai_base_url:
        update["extra_body"] = {**(chat.extra_body or {}), "max_tokens": max_tokens}
    return chat.model_copy(update=update)


def _describe(raw: AIMessage) -> str:
    if raw.tool_calls:
        return json.dumps([c["args"] for c in raw.tool_calls])[:4000]
    if raw.invalid_tool_calls:  # e.g. arguments cut off by finish_reason=length: keep them for diagnosis
        return json.dumps([c.get("args") for c in raw.invalid_tool_calls])[:4000]
    return str(raw.content)[:4000]


def _reask(error: Exception | None, schema: type[BaseModel]) -> str:
    detail = str(error)[:800] if error else "no structured reply"
    if isinstance(error, ValidationError):
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:8])
    return (f"Your previous reply was not a valid {schema.__name__}: {detail}. "
            f"Reply again with only a valid {schema.__name__} call.")


def _reask_messages(raw: AIMessage, text: str) -> list[BaseMessage]:
    """The failed reply plus the correction. OpenAI-compatible APIs reject (HTTP 400) an assistant message with
    tool_calls that is not followed by one tool message per call id, so the error goes back as the tool result."""
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    ids = [c.get("id") for c in raw.tool_calls] + [c.get("id") for c in raw.invalid_tool_calls]
    if ids and all(ids):
        return [raw, *(ToolMessage(content=text, tool_call_id=i) for i in ids)]
    if ids:  # tool calls without ids cannot be answered: show the model what it sent as plain text
        return [AIMessage(content=_describe(raw) or "(empty)"), HumanMessage(content=text)]
    return [raw if raw.content else AIMessage(content="(empty)"), HumanMessage(content=text)]


def _kind(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return "invalid"  # a reply body that is not JSON
    # Match the whole class hierarchy: langchain-openai re-raises openai errors as subclasses such as
    # OpenAIAPIError(openai.InternalServerError), whose own name says nothing about the cause.
    name = " ".join(k.__name__ for k in type(exc).__mro__)
    if "Timeout" in name:
        return "timeout"
    if "LengthFinishReason" in name:
        return "truncated"  # the reply hit max_tokens
    if "RateLimit" in name:
        return "rate_limit"
    if "Connection" in name:
        return "connection"
    if "Status" in type(exc).__name__ or "Server" in name or "Internal" in name:
        return "server"
    return "error"


_fake_models: dict[str, Model] = {}
_registry_lock = threading.Lock()


def available_models(settings: Settings | None = None) -> list[str]:
    settings = settings or load_settings()
    names = ["offline"]
    if settings.openai_api_key or settings.openai_base_url:
        names.append(f"openai:{settings.openai_model}")
    return names


def get_model(name: str | None = None, settings: Settings | None = None) -> Model:
    """`offline` (default without a key), `fake` (scripted), `echo`, or `openai:<model>`."""
    settings = settings or load_settings()
    name = name or settings.model
    if name == "offline":
        return Model("offline", None, settings)
    if name in ("fake", "echo"):
        with _registry_lock:  # one scripted instance per process, so a test can enqueue for the app it drives
            if name not in _fake_models:
                _fake_models[name] = Model(name, scripted_chat_model()(echo=name == "echo"), settings)
            model = _fake_models[name]
            model.settings = settings
            return model
    if name.startswith("openai:"):
        return Model(name, _openai_chat(name.split(":", 1)[1], settings), settings)
    raise ValueError(f"unknown model {name!r}: use offline, fake, echo or openai:<model>")


def _openai_chat(model_name: str, settings: Settings) -> BaseChatModel:
    if not (settings.openai_api_key or settings.openai_base_url):
        raise ValueError("openai models need OPENAI_API_KEY (or OPENAI_BASE_URL for a local compatible server)")
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=model_name,
        api_key=settings.openai_api_key or "not-needed",
        base_url=settings.openai_base_url,
        # Each HTTP attempt gets a share of the step's budget, so client retries end inside the step deadline
        # and no request outlives its step by more than that share.
        timeout=settings.llm_timeout / (settings.llm_retries + 1),
        max_retries=settings.llm_retries,
        temperature=0,
    )


def prices(settings: Settings | None = None) -> dict[str, tuple[float, float]]:
    import yaml

    path = (settings or load_settings()).prompts_dir / "prices.yaml"
    return {name: (float(pin), float(pout)) for name, (pin, pout) in yaml.safe_load(path.read_text()).items()}


def estimated_cost(model_name: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """USD for a known OpenAI model, None for other engines or unknown models."""
    known = prices().get(model_name.split(":", 1)[-1]) if model_name.startswith("openai:") else None
    if known is None:
        return None
    return round((prompt_tokens * known[0] + completion_tokens * known[1]) / 1e6, 6)


def fallback_notice(model: Model, exc: LLMError, what: str) -> str:
    """The sentence the candidate sees when a step fell back to the offline engine."""
    if exc.kind == "skipped":
        return f"The {model.name} model failed earlier in this turn, so {what} without waiting for it again."
    if exc.kind == "switched_off":
        return f"The {model.name} model is switched off for now after repeated failures; {what}."
    return f"The {model.name} model was unavailable ({exc.kind}); {what}."


def to_messages(system: str, user: str) -> list[BaseMessage]:
    from langchain_core.messages import HumanMessage, SystemMessage

    return [SystemMessage(content=system), HumanMessage(content=user)]
