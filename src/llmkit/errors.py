"""Every exception llmkit raises, in one tree.

::

    LLMKitError
    ├── InvalidRequestError          bad input: names the field (``options.temperature``)
    │   ├── UnsupportedOptionError   an option the chosen backend cannot honour
    │   ├── UnsupportedFeatureError  a request field the chosen backend cannot honour
    │   ├── ContextWindowError       the prompt cannot fit ``num_ctx`` (says how many tokens)
    │   ├── TemplateError            a Go template failed (``.name``, ``.line``, ``.column``)
    │   │   ├── TemplateSyntaxError     it does not parse
    │   │   ├── TemplateExecError       it failed while rendering
    │   │   │   ├── TemplateLimitError      past one of its ``Limits``, or out of memory
    │   │   │   └── TemplateCancelledError  the caller cancelled the render
    │   │   └── JinjaExportError        no exact Jinja equivalent (``.construct``)
    │   └── ChatTemplateError        a Jinja chat template failed or went past a limit
    ├── BackendError                 a backend could not be chosen, loaded or run
    │   ├── BackendNotFoundError     no backend answers to that name or URL scheme
    │   │   └── BackendNotInstalledError  a known backend whose plug-in is missing
    │   ├── ModelNotFoundError       no such model file or registry name (names the path)
    │   ├── ModelLoadError           the runtime could not load the model
    │   ├── GenerationError          the runtime failed while generating
    │   │   ├── RemoteGenerationError   a server reported an error inside a stream
    │   │   └── WorkerLostError         a batch line's Ray worker or node kept dying
    │   ├── BackendBusyError         every slot is taken and the queue is full (``.retry_after``)
    │   ├── RequestCancelledError    the async caller went away while the request was prepared
    │   └── RemoteError              an HTTP backend's server failed (``.url``, ``.status_code``)
    │       ├── ConnectionFailedError   no connection, or it dropped before a response
    │       ├── RemoteTimeoutError      connect, read or whole-request timeout
    │       ├── ResponseTooLargeError   a body, stream line or stream past a byte limit (``.limit``)
    │       └── HTTPStatusError         an error status; ``.body`` holds the server's message
    │           ├── BadRequestError         400/422 (also an ``InvalidRequestError``)
    │           ├── AuthenticationError     401/403
    │           ├── RemoteModelNotFoundError  404 (also a ``ModelNotFoundError``)
    │           └── RateLimitError          429, still refused after the retries
    ├── StreamError                  a stream could not be read to its end
    │   ├── StreamInterruptedError   cut off mid-way; ``.partial`` holds what arrived
    │   └── StreamDecodeError        bytes that are not the stream's format; names the line
    ├── ModelStoreError              the local model store could not pull or remove a model
    ├── BatchFileError               a batch output file is locked by another batch, or unwritable
    ├── ServeError                   ``llmkit serve`` refuses a request (``.status``, ``.code``)
    ├── TokenizerError               a tokenizer could not be built (names the vocabulary type)
    ├── GGUFError                    a corrupt or truncated GGUF file (names byte offset and key)
    ├── ResponseFormatError          a response does not match the requested ``format``
    └── ToolLoopError                the tool loop reached ``max_steps``; ``.messages`` so far

Lower-level errors (pydantic's ``ValidationError``, a runtime's ``ValueError``,
``OSError``) are translated at the boundary where llmkit meets them and chained
(``raise ... from exc``), so ``__cause__`` shows the original.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError

    from llmkit.types.messages import Message
    from llmkit.types.responses import ChatResponse, GenerateResponse

__all__ = [
    "AuthenticationError",
    "BackendBusyError",
    "BackendError",
    "BackendNotFoundError",
    "BackendNotInstalledError",
    "BadRequestError",
    "BatchFileError",
    "ChatTemplateError",
    "ConnectionFailedError",
    "ContextWindowError",
    "GGUFError",
    "GenerationError",
    "HTTPStatusError",
    "InvalidRequestError",
    "JinjaExportError",
    "LLMKitError",
    "ModelLoadError",
    "ModelNotFoundError",
    "ModelStoreError",
    "RateLimitError",
    "RemoteError",
    "RemoteGenerationError",
    "RemoteModelNotFoundError",
    "RemoteTimeoutError",
    "RequestCancelledError",
    "ResponseFormatError",
    "ResponseTooLargeError",
    "ServeError",
    "StreamDecodeError",
    "StreamError",
    "StreamInterruptedError",
    "TemplateCancelledError",
    "TemplateError",
    "TemplateExecError",
    "TemplateLimitError",
    "TemplateSyntaxError",
    "TokenizerError",
    "ToolLoopError",
    "UnsupportedFeatureError",
    "UnsupportedOptionError",
    "WorkerLostError",
]


class LLMKitError(Exception):
    """The base of every llmkit error."""


class InvalidRequestError(LLMKitError, ValueError):
    """A request, message, tool or option is invalid.

    ``fields`` lists the dotted paths of the offending fields, e.g.
    ``["options.temperature"]``; ``errors`` holds pydantic's error dicts.
    """

    def __init__(
        self,
        message: str,
        *,
        fields: list[str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.fields = fields or []
        self.errors = errors or []

    @classmethod
    def from_validation_error(
        cls, exc: ValidationError, *, prefix: str = ""
    ) -> InvalidRequestError:
        """Turn pydantic's error into one that names each field and what is wrong with it."""
        fields: list[str] = []
        lines: list[str] = []
        for error in exc.errors():
            path = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
            fields.append(path)
            if error["type"] == "extra_forbidden":
                lines.append(f"{path}: unknown field")
            else:
                lines.append(f"{path}: {error['msg']} (got {error.get('input')!r})")
        noun = "error" if len(lines) == 1 else "errors"
        title = f"invalid {exc.title}: {len(lines)} {noun}"
        return cls(
            title + "\n  " + "\n  ".join(lines),
            fields=fields,
            errors=[dict(e) for e in exc.errors()],
        )


class UnsupportedOptionError(InvalidRequestError):
    """The chosen backend cannot honour an option; ``option`` names it."""

    def __init__(self, option: str, backend: str, reason: str = "") -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(
            f"option {option!r} is not supported by the {backend} backend{detail}",
            fields=[f"options.{option}"],
        )
        self.option = option
        self.backend = backend


class UnsupportedFeatureError(InvalidRequestError):
    """The chosen backend cannot honour a request field (``think``, ``images``, ...).

    ``field`` names it as a dotted path (``messages.0.images``).
    """

    def __init__(self, field: str, backend: str, reason: str = "") -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(
            f"{field!r} is not supported by the {backend} backend{detail}", fields=[field]
        )
        self.field = field
        self.backend = backend


class ContextWindowError(InvalidRequestError):
    """The prompt does not fit the context window, even after dropping what may be dropped.

    ``prompt_tokens`` is the size of the smallest prompt that was tried,
    ``num_ctx`` the context window, ``reserved`` the tokens kept free for the
    answer.  ``fields`` is ``["options.num_ctx"]``.
    """

    def __init__(
        self, message: str, *, prompt_tokens: int, num_ctx: int, reserved: int = 0
    ) -> None:
        super().__init__(message, fields=["options.num_ctx"])
        self.prompt_tokens = prompt_tokens
        self.num_ctx = num_ctx
        self.reserved = reserved


class TemplateError(InvalidRequestError):
    """A Go template could not be compiled or rendered.

    ``name``, ``line`` and ``column`` (1-based) say where; ``source_line`` is
    the offending line of the template.
    """

    def __init__(
        self,
        message: str,
        *,
        name: str = "",
        line: int = 0,
        column: int = 0,
        source_line: str = "",
    ) -> None:
        where = f"{name}:{line}:{column}" if line else name
        text = f"template: {where}: {message}" if where else f"template: {message}"
        if source_line:
            caret = " " * max(column - 1, 0) + "^"
            text += f"\n    {source_line}\n    {caret}"
        super().__init__(text, fields=["template"])
        self.reason = message
        self.name = name
        self.line = line
        self.column = column
        self.source_line = source_line


class TemplateSyntaxError(TemplateError):
    """The template does not parse (Go reports these at parse time)."""


class TemplateExecError(TemplateError):
    """The template failed while executing (Go's execution errors)."""


class TemplateLimitError(TemplateExecError):
    """Rendering exceeded a safety limit of :class:`~llmkit.template.Limits` (steps, depth,
    output or value size, printf width, created values, time) or ran out of memory."""


class TemplateCancelledError(TemplateExecError):
    """The caller cancelled the render (``Limits.cancel`` became set)."""


class JinjaExportError(TemplateError):
    """The template uses something the Jinja export cannot express exactly.

    ``construct`` is the template text of the offending action (e.g. ``{{ js .Content }}``);
    ``line``/``column`` say where it is, as for every :class:`TemplateError`.
    """

    def __init__(
        self,
        message: str,
        *,
        construct: str = "",
        name: str = "",
        line: int = 0,
        column: int = 0,
        source_line: str = "",
    ) -> None:
        super().__init__(message, name=name, line=line, column=column, source_line=source_line)
        self.construct = construct


class ChatTemplateError(InvalidRequestError):
    """A chat template failed to compile, raised while rendering, or went past a limit."""


class BackendError(LLMKitError):
    """A backend could not be chosen, loaded or run."""


class BackendNotFoundError(BackendError, LookupError):
    """No backend answers to the given name or URL scheme."""


class BackendNotInstalledError(BackendNotFoundError):
    """A backend llmkit knows of, whose plug-in package is not installed."""

    def __init__(self, name: str, package: str) -> None:
        super().__init__(
            f"the {name!r} backend needs the package {package!r}, which is not installed; "
            f"install it with: pip install {package}"
        )
        self.name = name
        self.package = package


class ModelNotFoundError(BackendError, FileNotFoundError):
    """No model file at the given path, or no such name in the model registry."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class ModelLoadError(BackendError):
    """The runtime could not load the model."""


class GenerationError(BackendError):
    """The runtime failed while generating."""


class WorkerLostError(GenerationError):
    """The Ray worker running a batch line kept dying (or its node did): the line was given up."""


class BackendBusyError(BackendError):
    """Every slot is taken and the queue of waiting requests is full: try again later.

    ``retry_after`` is a suggested wait in seconds. ``llmkit serve`` answers it with 503 on
    the Ollama API (as Ollama does when its queue is full) and 429 with ``Retry-After`` on
    the OpenAI API (as OpenAI-style servers do).
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestCancelledError(BackendError):
    """The caller went away while a backend was still preparing or queueing its request.

    Raised in the worker thread of an in-process backend driven from async code
    (:class:`~llmkit.backends.ThreadedAsyncBackend`) once the awaiting task is cancelled
    (a client of ``llmkit serve`` disconnected, a timeout): a template render, a context
    fit or a wait for a free slot stops at its next check instead of running to its end.
    The async caller sees its own cancellation, not this error.
    """


class RemoteError(BackendError):
    """A remote (HTTP) backend's server could not be reached or answered with an error.

    ``url`` is the request's URL; ``status_code`` the HTTP status when there was one.
    """

    def __init__(
        self, message: str, *, url: str | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status_code = status_code


class ConnectionFailedError(RemoteError, ConnectionError):
    """No connection could be made, or it dropped before a response (after the retries)."""


class RemoteTimeoutError(RemoteError, TimeoutError):
    """The connect, read or whole-request timeout passed; ``phase`` says which."""

    def __init__(self, message: str, *, url: str | None = None, phase: str = "read") -> None:
        super().__init__(message, url=url)
        self.phase = phase


class ResponseTooLargeError(RemoteError):
    """The server sent more than a byte limit of the backend allows; reading stopped there.

    ``limit`` is the limit in bytes (counted after decompression), ``option`` the field of
    :class:`~llmkit.backends.http.limits.ResponseLimits` that sets it (``max_body_bytes``,
    ``max_line_bytes`` or ``max_stream_bytes``).
    """

    def __init__(self, message: str, *, url: str | None = None, limit: int, option: str) -> None:
        super().__init__(message, url=url)
        self.limit = limit
        self.option = option


class HTTPStatusError(RemoteError):
    """The server answered with an error status.

    ``body`` is the error message the server sent (Ollama's ``{"error": ...}``,
    OpenAI's ``{"error": {"message": ...}}``, or the raw text); ``retry_after``
    the seconds its ``Retry-After`` header asked for, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status_code: int,
        body: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, url=url, status_code=status_code)
        self.body = body
        self.retry_after = retry_after


class BadRequestError(HTTPStatusError, InvalidRequestError):
    """The server rejected the request as invalid (400, 422)."""


class AuthenticationError(HTTPStatusError):
    """The server refused the credentials (401, 403): check the API key."""


class RemoteModelNotFoundError(HTTPStatusError, ModelNotFoundError):
    """The server does not have the model (404)."""


class RateLimitError(HTTPStatusError):
    """The server kept answering 429 (too many requests) through every retry."""


class RemoteGenerationError(RemoteError, GenerationError):
    """The server reported an error inside a stream that had started (an ``{"error"}`` line)."""


class StreamError(LLMKitError):
    """A stream could not be read to its end."""


class StreamInterruptedError(StreamError):
    """A stream was cut off mid-way; ``partial`` is the response accumulated so far."""

    def __init__(self, message: str, *, partial: ChatResponse | GenerateResponse | None) -> None:
        super().__init__(message)
        self.partial = partial


class StreamDecodeError(StreamError):
    """The stream's bytes are not what its format allows (NDJSON, SSE, JSON).

    ``line`` is the 1-based line of the stream where decoding failed; ``data``
    up to 200 characters of what was there.
    """

    def __init__(self, message: str, *, line: int, data: str) -> None:
        super().__init__(f"{message} (stream line {line}: {data[:200]!r})")
        self.line = line
        self.data = data[:200]


class ModelStoreError(LLMKitError):
    """The local model store could not pull, verify or remove a model."""


class BatchFileError(LLMKitError):
    """A batch's output file cannot be used: another batch holds it, or a write failed.

    ``path`` is the file; ``line`` the input line whose result was being written,
    when there was one.
    """

    def __init__(self, message: str, *, path: str, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


class ServeError(LLMKitError):
    """A request the server refuses for a reason of its own (auth, route, model name)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.kind = kind


class TokenizerError(LLMKitError):
    """A tokenizer could not be built: an unsupported vocabulary or pre-tokenizer type
    (named in the message), or a vocabulary that contradicts itself."""


class GGUFError(LLMKitError):
    """A GGUF file is corrupt, truncated or not GGUF at all.

    ``offset`` is the byte offset where reading failed, ``field`` the metadata
    key being read (``None`` in the header), ``path`` the file when one was
    read; ``truncated`` says the bytes ran out before the metadata did.
    """

    def __init__(
        self,
        message: str,
        *,
        offset: int | None = None,
        field: str | None = None,
        path: str | None = None,
        truncated: bool = False,
    ) -> None:
        super().__init__(message)
        self.offset = offset
        self.field = field
        self.path = path
        self.truncated = truncated


class ResponseFormatError(LLMKitError):
    """A response does not match the ``format`` it was asked for: not JSON, or JSON that
    the schema (or pydantic model) rejects. ``response`` is the response; ``errors`` holds
    the validation problems (pydantic's or jsonschema's messages)."""

    def __init__(
        self,
        message: str,
        *,
        response: ChatResponse | GenerateResponse | None = None,
        errors: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.response = response
        self.errors = errors or []


class ToolLoopError(LLMKitError):
    """The tool loop (:func:`llmkit.run_tools`) made ``max_steps`` model calls and the
    model still asked for tools. ``messages`` is the conversation so far (the last tool
    results included), ready to continue; ``steps`` is how many model calls were made."""

    def __init__(self, message: str, *, messages: list[Message], steps: int) -> None:
        super().__init__(message)
        self.messages = messages
        self.steps = steps
