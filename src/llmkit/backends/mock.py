"""A scripted backend that ships with llmkit, for tests, docs and examples.

It needs no model: by default it echoes the last user message (or the
prompt) back, one word per event; given ``script=`` it replays those replies
in turn.  It honours ``num_predict`` (in words) and ``stop`` as a real backend
does, rejects options it cannot honour, and can be slowed down with
``delay`` to try cancellation.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from llmkit.errors import UnsupportedFeatureError, UnsupportedOptionError
from llmkit.types.events import Done, StreamEvent, TextDelta
from llmkit.types.options import Options
from llmkit.types.requests import ChatRequest, EmbedRequest, GenerateRequest
from llmkit.types.responses import EmbedResponse, Usage

#: The options the mock backend honours; any other set option is rejected.
MOCK_OPTIONS = frozenset({"num_predict", "stop", "seed", "temperature"})

Reply = str | Sequence[StreamEvent]


class MockBackend:
    """Echoes, or replays a script; see the module docstring."""

    name: ClassVar[str] = "mock"

    def __init__(
        self,
        script: Sequence[Reply] | None = None,
        *,
        model: str = "mock",
        delay: float = 0.0,
        dimensions: int = 8,
    ) -> None:
        self.model = model
        self.delay = delay
        self.dimensions = dimensions
        self._script = list(script or [])
        self.requests: list[ChatRequest | GenerateRequest | EmbedRequest] = []
        self.closed = False

    @classmethod
    def from_target(cls, target: str, /, **kwargs: Any) -> MockBackend:
        """``mock`` or ``mock:echo`` (echo); other targets name the model reported."""
        model = target if target and target != "echo" else "mock"
        return cls(model=model, **kwargs)

    # -- the protocol ---------------------------------------------------------

    def chat(self, request: ChatRequest) -> Iterator[StreamEvent]:
        self.requests.append(request)
        _refuse_logprobs(request, self.name)
        users = [m.content for m in request.messages if m.role == "user"]
        return self._reply(users[-1] if users else "", request.options, request.model)

    def generate(self, request: GenerateRequest) -> Iterator[StreamEvent]:
        self.requests.append(request)
        _refuse_logprobs(request, self.name)
        return self._reply(request.prompt, request.options, request.model)

    def embed(self, request: EmbedRequest) -> EmbedResponse:
        self.requests.append(request)
        self._check(request.options)
        inputs = [request.input] if isinstance(request.input, str) else request.input
        size = request.dimensions or self.dimensions
        return EmbedResponse(
            model=request.model or self.model,
            embeddings=[_pseudo_vector(text, size) for text in inputs],
            prompt_eval_count=sum(len(text.split()) for text in inputs),
        )

    def close(self) -> None:
        self.closed = True

    # -- internals ------------------------------------------------------------

    def _check(self, options: Options | None) -> None:
        if options is None:
            return
        for option in options.given():
            if option not in MOCK_OPTIONS:
                raise UnsupportedOptionError(option, self.name)
        if options.extra:
            raise UnsupportedOptionError(
                f"extra.{next(iter(options.extra))}", self.name, "no extra options"
            )

    def _reply(
        self, echo: str, options: Options | None, model: str | None
    ) -> Iterator[StreamEvent]:
        self._check(options)  # before the first event, like a real backend
        reply: Reply = self._script.pop(0) if self._script else echo
        return self._events(reply, options or Options(), model or self.model)

    def _events(self, reply: Reply, options: Options, model: str) -> Iterator[StreamEvent]:
        started = time.perf_counter_ns()
        if not isinstance(reply, str):
            for event in reply:
                self._pause()
                yield event
            return
        pieces = re.findall(r"\S+\s*|\s+", reply)
        limit = (
            options.num_predict
            if options.num_predict is not None and options.num_predict >= 0
            else None
        )
        text = ""
        reason = "stop"
        count = 0
        for piece in pieces:
            if limit is not None and count >= limit:
                reason = "length"
                break
            candidate = text + piece
            cut = _first_stop(candidate, options.stop or [])
            if cut is not None:
                if cut > len(text):
                    yield TextDelta(text=candidate[len(text) : cut])
                    count += 1
                break
            self._pause()
            text = candidate
            count += 1
            yield TextDelta(text=piece)
        yield Done(
            done_reason=reason,
            model=model,
            created_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            usage=Usage(
                prompt_eval_count=0,
                eval_count=count,
                eval_duration=time.perf_counter_ns() - started,
            ),
        )

    def _pause(self) -> None:
        if self.delay:
            time.sleep(self.delay)


def _first_stop(text: str, stops: Sequence[str]) -> int | None:
    found = [index for stop in stops if stop and (index := text.find(stop)) >= 0]
    return min(found) if found else None


def _pseudo_vector(text: str, size: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [(digest[i % len(digest)] - 128) / 128 for i in range(size)]


__all__ = ["MOCK_OPTIONS", "MockBackend"]


def _refuse_logprobs(request: ChatRequest | GenerateRequest, backend: str) -> None:
    if request.logprobs:
        raise UnsupportedFeatureError("logprobs", backend, "a scripted reply has no model")
