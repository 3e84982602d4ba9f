"""The context-window policy: which messages fit ``num_ctx``, and what was dropped (pure).

:func:`fit_messages` follows Ollama's ``chatPrompt`` (``server/prompt.go``):
render the whole conversation; while its prompt is longer than the window,
drop the oldest message that is not a system message and try again; system
messages and the last message are always kept.  Where llmkit differs:

- **It reports.**  The :class:`ContextFit` lists what was dropped, by index;
  Ollama only logs it at debug level.
- **It refuses instead of overflowing.**  When even the system messages and
  the last message do not fit, Ollama sends that prompt anyway (its runner
  then cuts tokens out of the middle, or fails); llmkit raises
  :class:`~llmkit.errors.ContextWindowError` saying how many tokens it needs.
- **Room for the answer.**  ``reserve`` tokens are kept free (Ollama's runner
  needs one: a prompt must be shorter than ``num_ctx``); Ollama's prompt
  check itself reserves none.
- ``truncate=False`` drops nothing and raises when the prompt does not fit,
  as Ollama's runner does when truncation is off.

Images count ``tokens_per_image`` each (Ollama counts 768 per image for a
model with a vision projector, and none otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from llmkit.errors import ContextWindowError, InvalidRequestError
from llmkit.types.messages import Message

__all__ = [
    "ContextFit",
    "ContextTruncatedWarning",
    "MessageCounter",
    "TextCounter",
    "fit_messages",
    "prompt_counter",
]

MessageCounter = Callable[[list[Message]], int]
"""Counts the tokens of the prompt these messages render to."""


class TextCounter(Protocol):
    """Anything that counts the tokens of a text (a :class:`~llmkit.tokens.Tokenizer`)."""

    def count(self, text: str, *, add_special: bool = ..., parse_special: bool = ...) -> int:
        """The number of tokens of ``text``."""
        ...


@dataclass(frozen=True)
class ContextFit:
    """The messages that fit the context window, and the ones dropped to get there.

    ``messages`` are the kept messages in their order; ``kept`` and
    ``dropped`` are indexes into the messages given; ``dropped_messages`` are
    the dropped messages themselves.  ``prompt_tokens`` counts the prompt of
    the kept messages (images included); ``num_ctx - reserved`` was the limit.
    """

    messages: list[Message]
    kept: list[int]
    dropped: list[int]
    dropped_messages: list[Message]
    prompt_tokens: int
    num_ctx: int
    reserved: int = 0
    tried: int = field(default=1, compare=False)
    """How many candidate prompts were counted (1 when everything fits; about
    ``2 + log2(len(messages))`` otherwise)."""

    @property
    def truncated(self) -> bool:
        """Whether any message was dropped."""
        return bool(self.dropped)


class ContextTruncatedWarning(UserWarning):
    """Messages were dropped so the prompt fits ``num_ctx``; ``fit`` says which."""

    def __init__(self, fit: ContextFit) -> None:
        noun = "message" if len(fit.dropped) == 1 else "messages"
        super().__init__(
            f"dropped {len(fit.dropped)} {noun} (indexes {fit.dropped}) so the prompt fits "
            f"num_ctx={fit.num_ctx}: {fit.prompt_tokens} prompt tokens remain"
        )
        self.fit = fit


def fit_messages(
    messages: Sequence[Message],
    count: MessageCounter,
    num_ctx: int,
    *,
    reserve: int = 0,
    truncate: bool = True,
    tokens_per_image: int = 0,
) -> ContextFit:
    """Keep the newest messages that fit ``num_ctx - reserve`` tokens (Ollama's rule).

    ``count`` renders messages to a prompt and counts its tokens.  Candidate
    ``i`` is the system messages before ``i`` followed by every message from
    ``i`` on; the first that fits, from the whole conversation down, is kept.
    The whole conversation is counted first; when it does not fit, the first
    candidate that does is found by bisection (a candidate renders a subset of
    the messages of the one before it, so it never has more tokens), which
    counts about ``log2(len(messages))`` candidates instead of every one.  The
    last message is always kept.  With ``truncate=False`` only the whole
    conversation is tried.

    Raises :class:`~llmkit.errors.ContextWindowError` when even the smallest
    candidate does not fit.
    """
    if isinstance(num_ctx, bool) or not isinstance(num_ctx, int) or num_ctx < 1:
        raise InvalidRequestError(
            f"num_ctx must be a positive integer, got {num_ctx!r}", fields=["options.num_ctx"]
        )
    if reserve < 0 or tokens_per_image < 0:
        raise InvalidRequestError(
            f"reserve and tokens_per_image must not be negative "
            f"(got {reserve} and {tokens_per_image})",
            fields=["reserve"],
        )
    history = list(messages)
    limit = num_ctx - reserve
    last = len(history) - 1
    # Candidate ``i`` keeps the system messages before ``i`` and everything from ``i`` on; a
    # start right after a system message is the candidate before it again (Ollama renders it
    # twice), so it is left out.
    starts = [
        start
        for start in (range(max(last, 0) + 1) if truncate else range(1))
        if not (start and history[start - 1].role == "system")
    ]
    counted: dict[int, tuple[list[int], list[Message], int]] = {}

    def tokens_of(position: int) -> int:
        start = starts[position]
        kept = [i for i in range(start) if history[i].role == "system"]
        kept += range(start, len(history))
        candidate = [history[i] for i in kept]
        tokens = count(candidate) + tokens_per_image * sum(
            len(message.images or ()) for message in candidate
        )
        counted[position] = (kept, candidate, tokens)
        return tokens

    # A candidate never has more tokens than the one before it (it renders fewer messages),
    # so the first that fits is found by bisection: a few renders of the conversation
    # rather than one per message, which made long histories quadratic.
    if tokens_of(0) <= limit:
        chosen: int | None = 0
    else:
        low, high, chosen = 1, len(starts) - 1, None
        while low <= high:
            middle = (low + high) // 2
            if tokens_of(middle) <= limit:
                chosen, high = middle, middle - 1
            else:
                low = middle + 1
    if chosen is None:
        raise _too_long(
            counted[max(counted)][2], num_ctx, reserve, truncate=truncate, size=len(history)
        )
    kept, candidate, tokens = counted[chosen]
    keep = set(kept)
    dropped = [i for i in range(len(history)) if i not in keep]
    return ContextFit(
        messages=candidate,
        kept=kept,
        dropped=dropped,
        dropped_messages=[history[i] for i in dropped],
        prompt_tokens=tokens,
        num_ctx=num_ctx,
        reserved=reserve,
        tried=len(counted),
    )


def _too_long(
    tokens: int, num_ctx: int, reserve: int, *, truncate: bool, size: int
) -> ContextWindowError:
    if not truncate:
        what = "the whole conversation (truncate=False: nothing is dropped)"
    elif size > 1:
        what = "the system messages and the last message alone"
    else:
        what = "the one message" if size == 1 else "the empty conversation"
    room = f"num_ctx={num_ctx}" + (f" less {reserve} kept for the answer" if reserve else "")
    return ContextWindowError(
        f"the prompt of {what} is {tokens} tokens, which does not fit {room}; "
        "raise num_ctx or shorten the messages",
        prompt_tokens=tokens,
        num_ctx=num_ctx,
        reserved=reserve,
    )


def prompt_counter(
    render: Callable[[list[Message]], str], tokenizer: TextCounter
) -> MessageCounter:
    """A :data:`MessageCounter`: render the messages, count the tokens (special tokens parsed).

    ``render`` is e.g. ``lambda m: template.render(m, tools=tools)`` for a
    :class:`~llmkit.chat_template.JinjaChatTemplate` or an Ollama
    :class:`~llmkit.template.Template`.
    """

    def count(messages: list[Message]) -> int:
        return tokenizer.count(render(messages), add_special=True, parse_special=True)

    return count
