"""The one OpenAI-compatible client every tier uses (see libs/movierec_llm/README.md).

* :meth:`LlmClient.complete_json` sends ``response_format={"type": "json_schema", ...}`` (servers that
  enforce it by grammar, like llama.cpp, cannot answer anything else), parses the reply and validates
  it against the same schema. It never raises for a model or network fault: the :class:`LlmResult`
  says ``ok`` or carries a short ``error`` reason the caller logs and falls back on.
* :meth:`LlmClient.stream_text` streams a free-text reply; iterate it for text chunks, then read
  ``stream.result`` (same :class:`LlmResult`, ``data`` = the whole text).

No retries: every caller has a deadline and a deterministic fallback, which beats a second try.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import jsonschema
import openai
import prometheus_client

from movierec_llm.settings import LlmSettings

log = logging.getLogger("movierec.llm")

LLM_SECONDS = prometheus_client.Histogram(
    "movierec_llm_seconds", "LLM call latency by use and outcome (ok or the failure reason).",
    ("use", "outcome"), buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64))

# Failure reasons (the ``error`` of a result; also the ``outcome`` metric label).
TIMEOUT = "timeout"
DEADLINE = "deadline"
HTTP_ERROR = "http_error"
CONNECTION_ERROR = "connection_error"
CLIENT_ERROR = "client_error"
REFUSAL = "refusal"
INVALID_JSON = "invalid_json"
INVALID_OUTPUT = "invalid_output"
TRUNCATED = "truncated"


@dataclass(frozen=True)
class LlmResult:
    """What one call produced. ``data`` is the validated JSON (or the text of a stream) when ``ok``."""

    ok: bool
    use: str
    model: str
    latency_s: float
    data: Any = None
    error: str | None = None
    detail: str = ""
    content: str | None = None  # the raw reply text, kept for logs and recorded fixtures

    @property
    def failure(self) -> str:
        """``"<reason>: <detail>"`` for ``degraded_reason``-style messages."""
        return f"{self.error}: {self.detail}" if self.detail else str(self.error)


def parse_and_validate(content: str | None, schema: dict) -> tuple[Any, str | None, str]:
    """``(data, None, "")`` when ``content`` is JSON valid under ``schema``, else ``(None, reason, detail)``."""
    if content is None or not content.strip():
        return None, INVALID_OUTPUT, "empty reply"
    try:
        data = json.loads(content)
    except json.JSONDecodeError as error:
        return None, INVALID_JSON, f"{error.msg} at char {error.pos}"
    problem = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))
    if problem is not None:
        where = "/".join(str(p) for p in problem.absolute_path) or "(root)"
        return None, INVALID_OUTPUT, f"{where}: {problem.message[:200]}"
    return data, None, ""


def response_format(use: str, schema: dict) -> dict:
    return {"type": "json_schema", "json_schema": {"name": use, "schema": schema, "strict": True}}


class LlmClient:
    def __init__(self, settings: LlmSettings):
        self.settings = settings
        self.client = openai.AsyncOpenAI(base_url=settings.base_url, api_key=settings.api_key, max_retries=0,
                                         timeout=max(settings.timeouts_s.values(), default=60.0))
        self._completions = self.client.chat.completions  # built lazily (~0.1 s): do it now, not in a deadline

    @classmethod
    def from_env(cls) -> LlmClient | None:
        """The configured client, or ``None`` when ``LLM_BASE_URL`` is not set (LLM off)."""
        settings = LlmSettings.from_env()
        return None if settings is None else cls(settings)

    @property
    def model(self) -> str:
        return self.settings.model

    async def complete_json(self, use: str, messages: list[dict], schema: dict, *, timeout_s: float | None = None,
                            max_tokens: int | None = None, temperature: float | None = None) -> LlmResult:
        timeout = self.settings.timeout_for(use) if timeout_s is None else timeout_s
        started = time.perf_counter()
        if timeout <= 0:
            return self._finish(use, started, error=DEADLINE, detail="no time left for the LLM")
        try:
            # wait_for is the hard stop: a server that trickles bytes must not outlive the deadline.
            response = await asyncio.wait_for(self._completions.create(
                model=self.settings.model, messages=messages,
                temperature=self.settings.temperature if temperature is None else temperature,
                max_tokens=max_tokens or self.settings.max_tokens_for(use),
                response_format=response_format(use, schema), timeout=timeout), timeout)
        except Exception as error:  # every transport or protocol fault becomes a reason, never an exception
            return self._finish(use, started, *_classify(error, timeout))
        content, reason, detail = _content_of(response)
        if reason is None:
            data, reason, detail = parse_and_validate(content, schema)
        else:
            data = None
        return self._finish(use, started, error=reason, detail=detail, data=data, content=content)

    def stream_text(self, use: str, messages: list[dict], *, timeout_s: float | None = None,
                    max_tokens: int | None = None, temperature: float | None = None) -> TextStream:
        timeout = self.settings.timeout_for(use) if timeout_s is None else timeout_s
        return TextStream(self, use, messages, timeout, max_tokens or self.settings.max_tokens_for(use),
                          self.settings.temperature if temperature is None else temperature)

    def _finish(self, use: str, started: float, error: str | None = None, detail: str = "", data: Any = None,
                content: str | None = None) -> LlmResult:
        latency = time.perf_counter() - started
        LLM_SECONDS.labels(use, error or "ok").observe(latency)
        if error:
            log.info("llm %s failed after %.2fs: %s %s", use, latency, error, detail)
        return LlmResult(ok=error is None, use=use, model=self.settings.model, latency_s=latency,
                         data=data if error is None else None, error=error, detail=detail, content=content)

    async def close(self) -> None:
        await self.client.close()


class TextStream:
    """Async iterator of reply chunks; ``result`` is set once iteration ends (never raises for faults)."""

    def __init__(self, client: LlmClient, use: str, messages: list[dict], timeout_s: float, max_tokens: int,
                 temperature: float):
        self._client, self._use, self._messages = client, use, messages
        self._timeout_s, self._max_tokens, self._temperature = timeout_s, max_tokens, temperature
        self.result: LlmResult | None = None
        self.first_chunk_s: float | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[str]:
        started = time.perf_counter()
        parts: list[str] = []
        error, detail = None, ""
        if self._timeout_s <= 0:
            self.result = self._client._finish(self._use, started, error=DEADLINE, detail="no time left")
            return
        try:
            async with asyncio.timeout(self._timeout_s):
                stream = await self._client._completions.create(
                    model=self._client.settings.model, messages=self._messages, stream=True,
                    temperature=self._temperature, max_tokens=self._max_tokens, timeout=self._timeout_s)
                async for event in stream:
                    choice = event.choices[0] if event.choices else None
                    text = choice.delta.content if choice is not None and choice.delta else None
                    if text:
                        if self.first_chunk_s is None:
                            self.first_chunk_s = time.perf_counter() - started
                        parts.append(text)
                        yield text
                    if choice is not None and choice.finish_reason == "length":
                        error, detail = TRUNCATED, f"stopped at {self._max_tokens} tokens"
        except Exception as failure:
            error, detail = _classify(failure, self._timeout_s)
        text = "".join(parts)
        if error is None and not text.strip():
            error, detail = INVALID_OUTPUT, "empty reply"
        self.result = self._client._finish(self._use, started, error=error, detail=detail,
                                           data=text if error is None else None, content=text)


def _classify(error: BaseException, timeout_s: float) -> tuple[str, str]:
    if isinstance(error, (TimeoutError, openai.APITimeoutError)):
        return TIMEOUT, f"no reply within {timeout_s:.3f}s"
    if isinstance(error, openai.APIStatusError):
        return HTTP_ERROR, f"HTTP {error.status_code}"
    if isinstance(error, openai.APIConnectionError):
        return CONNECTION_ERROR, str(error)[:200]
    if isinstance(error, openai.OpenAIError):
        return CLIENT_ERROR, type(error).__name__
    log.exception("unexpected LLM client failure", exc_info=error)
    return CLIENT_ERROR, f"{type(error).__name__}: {error}"[:200]


def _content_of(response) -> tuple[str | None, str | None, str]:
    choices = getattr(response, "choices", None) or []
    if not choices:
        return None, INVALID_OUTPUT, "no choices in the reply"
    choice = choices[0]
    message = choice.message
    if getattr(message, "refusal", None) or choice.finish_reason == "content_filter":
        return None, REFUSAL, str(getattr(message, "refusal", "") or "content filter")
    if choice.finish_reason == "length":
        return message.content, TRUNCATED, "the reply hit max_tokens"
    return message.content, None, ""
