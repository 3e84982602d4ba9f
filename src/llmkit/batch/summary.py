"""What a batch hands back: a :class:`BatchResult` per line, and a :class:`BatchSummary` (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmkit.types.responses import ChatResponse, EmbedResponse, GenerateResponse

__all__ = ["BatchResult", "BatchSummary", "record_text", "record_tokens"]


def record_tokens(record: dict[str, Any]) -> tuple[int, int]:
    """Prompt and generated tokens of a record (OpenAI's ``usage`` or Ollama's counts)."""
    response = record.get("response") or {}
    body = response.get("body") or {}
    usage = body.get("usage")
    if isinstance(usage, dict):
        return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    return int(body.get("prompt_eval_count") or 0), int(body.get("eval_count") or 0)


def record_text(record: dict[str, Any]) -> str | None:
    """The generated text of a record (chat or completion, either shape); ``None`` otherwise."""
    response = record.get("response") or {}
    body = response.get("body") or {}
    choices = body.get("choices")
    if isinstance(choices, list) and choices:
        choice = choices[0]
        if "message" in choice:
            return str(choice["message"].get("content") or "")
        return str(choice.get("text") or "")
    if isinstance(body.get("message"), dict):
        return str(body["message"].get("content") or "")
    if "response" in body:
        return str(body["response"])
    return None


@dataclass(frozen=True)
class BatchResult:
    """One line's result: the record written for it, and how it came to be.

    ``resumed`` is true for a result found in the output file from an earlier run
    (then ``response`` is ``None``); ``response`` is the typed answer when this
    run produced it in this process.
    """

    line: int
    key: str
    custom_id: str | None
    record: dict[str, Any]
    resumed: bool = False
    response: ChatResponse | GenerateResponse | EmbedResponse | None = None

    @property
    def ok(self) -> bool:
        """Whether the line was answered without error."""
        return self.record.get("error") is None

    @property
    def error(self) -> dict[str, Any] | None:
        """``{"code", "message", "line", ...}`` for a failed line."""
        error = self.record.get("error")
        return error if isinstance(error, dict) else None

    @property
    def body(self) -> dict[str, Any] | None:
        """The answer's JSON body, as the endpoint the line named returns it."""
        response = self.record.get("response")
        return response.get("body") if isinstance(response, dict) else None

    @property
    def text(self) -> str | None:
        """The generated text (chat and generate lines)."""
        return record_text(self.record)


@dataclass
class BatchSummary:
    """How a batch run went.  Counts are of input lines; tokens of this run's answers."""

    total: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    """Lines already done by an earlier run, not run again."""
    skipped_failed: int = 0
    """Of those, lines whose earlier result is a failure (kept: it would fail again)."""
    dropped: int = 0
    """Earlier results let go: of requests changed since, or failures retried."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_seconds: float = 0.0
    failures: list[tuple[int, str]] = field(default_factory=list)
    """``(line, message)`` of each line whose result is a failure, earlier runs' included."""

    @property
    def completed(self) -> bool:
        """Whether every line now has a result."""
        return self.succeeded + self.failed + self.skipped == self.total

    def add(self, result: BatchResult) -> None:
        """Count one result of this run."""
        if result.ok:
            self.succeeded += 1
            prompt, generated = record_tokens(result.record)
            self.prompt_tokens += prompt
            self.completion_tokens += generated
        else:
            self.failed += 1
            error = result.error or {}
            self.failures.append((result.line, str(error.get("message", ""))))

    def __str__(self) -> str:
        rate = self.completion_tokens / self.wall_seconds if self.wall_seconds > 0 else 0.0
        parts = [
            f"{self.succeeded} done",
            f"{self.failed} failed",
            f"{self.skipped} already done"
            + (f" ({self.skipped_failed} of them failed)" if self.skipped_failed else ""),
            f"of {self.total} lines",
            f"{self.prompt_tokens} prompt + {self.completion_tokens} generated tokens",
            f"{self.wall_seconds:.1f} s ({rate:.1f} tokens/s)",
        ]
        return ", ".join(parts)
