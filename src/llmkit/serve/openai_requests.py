"""OpenAI request bodies → llmkit requests, on the server side (pure, no I/O).

The bodies of ``/v1/chat/completions``, ``/v1/completions`` and ``/v1/embeddings``
are validated as OpenAI validates them: an unknown argument is a 400 naming it.
Then they are mapped:

===============================================  =======================================
OpenAI (and llama.cpp / vLLM server extras)      llmkit
===============================================  =======================================
``temperature``, ``top_p``, ``seed``, ``stop``,  ``options`` of the same name
``frequency_penalty``, ``presence_penalty``
``max_tokens`` / ``max_completion_tokens``       ``options.num_predict``
``top_k``, ``min_p``, ``typical_p``, ``tfs_z``,  ``options`` of the same name
``repeat_penalty``, ``repeat_last_n``
``repetition_penalty`` (vLLM)                    ``options.repeat_penalty``
``mirostat_mode`` / ``mirostat``, ``_tau``,      ``options.mirostat``, ``mirostat_tau``,
``_eta``; ``penalize_nl``                        ``mirostat_eta``; ``penalize_newline``
``response_format`` json_object / json_schema    ``format`` ``"json"`` / the schema
``reasoning_effort``                             ``think`` (``none``/``minimal``: off)
``chat_template_kwargs.enable_thinking``         ``think`` (llama.cpp's and vLLM's switch)
``tools`` (``strict`` is accepted, not enforced) ``tools``
``tool_choice`` (a string, or a named function)  ``tool_choice`` (the function's name)
``messages`` (``developer`` → ``system``;        ``messages`` (``images``; ``tool_name``
text parts joined; ``data:`` image URLs;         found from the assistant's call id)
``tool_calls`` arguments parsed from JSON)
===============================================  =======================================

``logprobs`` / ``top_logprobs`` of a chat go to the request as they are (a completion's
``logprobs`` is refused).  Arguments llmkit cannot honour (``n`` > 16, ``logit_bias``,
``echo``, remote image URLs,
audio, ...) are refused with a 400 naming the argument, never dropped.
``user``, ``metadata``, ``store``, ``service_tier``, ``safety_identifier`` and
``prompt_cache_key`` only label a request and are accepted without effect.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from llmkit.errors import InvalidRequestError
from llmkit.serve.wire import validate
from llmkit.types.options import Options
from llmkit.types.requests import ChatRequest, EmbedRequest, GenerateRequest

__all__ = [
    "ChatCompletionRequest",
    "CompletionRequest",
    "EmbeddingRequest",
    "OpenAICall",
    "chat_request",
    "completion_request",
    "embedding_request",
    "openai_param",
]

R = TypeVar("R", ChatRequest, GenerateRequest, EmbedRequest)

Temperature = Annotated[float, Field(ge=0.0, le=2.0)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Penalty = Annotated[float, Field(ge=-2.0, le=2.0)]
NonNegFloat = Annotated[float, Field(ge=0.0)]
NonNegInt = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StreamOptions(_Strict):
    """``stream_options``."""

    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class _Sampling(_Strict):
    """The arguments every generating endpoint shares, the servers' extras included."""

    model: str
    stream: StrictBool | None = None
    stream_options: StreamOptions | None = None
    temperature: Temperature | None = None
    top_p: Probability | None = None
    max_tokens: NonNegInt | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    frequency_penalty: Penalty | None = None
    presence_penalty: Penalty | None = None
    n: Annotated[int, Field(ge=1)] | None = None
    logit_bias: dict[str, float] | None = None
    # labels only: accepted, no effect
    user: str | None = None
    metadata: dict[str, Any] | None = None
    store: bool | None = None
    service_tier: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    # extras of llama.cpp's and vLLM's servers
    top_k: NonNegInt | None = None
    min_p: Probability | None = None
    typical_p: Probability | None = None
    tfs_z: NonNegFloat | None = None
    repeat_penalty: NonNegFloat | None = None
    repetition_penalty: NonNegFloat | None = None
    repeat_last_n: Annotated[int, Field(ge=-1)] | None = None
    penalize_nl: bool | None = None
    mirostat_mode: Annotated[int, Field(ge=0, le=2)] | None = None
    mirostat: Annotated[int, Field(ge=0, le=2)] | None = None
    mirostat_tau: NonNegFloat | None = None
    mirostat_eta: NonNegFloat | None = None
    min_tokens: NonNegInt | None = None
    grammar: str | None = None
    logit_bias_type: str | None = None


class ImageURL(_Strict):
    """``image_url`` in a content part."""

    url: str
    detail: str | None = None


class ContentPart(_Strict):
    """One part of a message's content."""

    type: Literal["text", "image_url", "refusal", "input_audio", "file"]
    text: str | None = None
    image_url: ImageURL | None = None
    refusal: str | None = None
    input_audio: dict[str, Any] | None = None
    file: dict[str, Any] | None = None


class FunctionCall(_Strict):
    """A call's ``function``: name and JSON-encoded arguments."""

    name: str
    arguments: str = "{}"


class ToolCallIn(_Strict):
    """A tool call in an assistant message."""

    id: str | None = None
    type: Literal["function"] = "function"
    function: FunctionCall
    index: int | None = None


class ChatMessage(_Strict):
    """One message, in any of OpenAI's roles."""

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    function_call: dict[str, Any] | None = None
    audio: dict[str, Any] | None = None


class FunctionDefinition(_Strict):
    """A tool's ``function``."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDefinition(_Strict):
    """A tool offered to the model."""

    type: Literal["function"]
    function: FunctionDefinition


class JSONSchemaFormat(_Strict):
    """``response_format.json_schema``."""

    name: str | None = None
    description: str | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Strict):
    """``response_format`` (``schema`` beside ``json_object`` is llama.cpp's extension)."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None
    json_object_schema: dict[str, Any] | None = Field(default=None, alias="schema")


class ChatCompletionRequest(_Sampling):
    """A ``/v1/chat/completions`` body."""

    messages: list[ChatMessage]
    max_completion_tokens: NonNegInt | None = None
    tools: list[ToolDefinition] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None
    chat_template_kwargs: dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    functions: list[Any] | None = None
    function_call: str | dict[str, Any] | None = None
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    web_search_options: dict[str, Any] | None = None


class CompletionRequest(_Sampling):
    """A ``/v1/completions`` body."""

    prompt: str | list[str] | list[int] | list[list[int]] = ""
    suffix: str | None = None
    echo: bool | None = None
    best_of: int | None = None
    logprobs: int | None = None


class EmbeddingRequest(_Strict):
    """A ``/v1/embeddings`` body."""

    model: str
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: Annotated[int, Field(ge=1)] | None = None
    user: str | None = None


@dataclass(frozen=True)
class OpenAICall(Generic[R]):
    """A parsed request: model as named, streaming, usage in the stream, encoding, request."""

    model: str
    stream: bool
    include_usage: bool
    request: R
    encoding_format: str = "float"
    n: int = 1
    """Choices to generate (OpenAI's ``n``): sibling sequences of one prompt."""


#: OpenAI / server-extra argument → llmkit option (num_predict is handled apart).
_OPTION_FIELDS: dict[str, str] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "seed": "seed",
    "stop": "stop",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "top_k": "top_k",
    "min_p": "min_p",
    "typical_p": "typical_p",
    "tfs_z": "tfs_z",
    "repeat_penalty": "repeat_penalty",
    "repetition_penalty": "repeat_penalty",
    "repeat_last_n": "repeat_last_n",
    "penalize_nl": "penalize_newline",
    "mirostat_mode": "mirostat",
    "mirostat": "mirostat",
    "mirostat_tau": "mirostat_tau",
    "mirostat_eta": "mirostat_eta",
}
_PARAM_OF_OPTION: dict[str, str] = {"num_predict": "max_tokens"}
for _field, _option in _OPTION_FIELDS.items():
    _PARAM_OF_OPTION.setdefault(_option, _field)
_PARAM_OF_FIELD = {"format": "response_format", "think": "reasoning_effort", "suffix": "suffix"}


def openai_param(field: str) -> str:
    """The OpenAI argument for an llmkit field path (``options.num_predict`` → ``max_tokens``)."""
    head, _, rest = field.partition(".")
    if head == "options" and rest:
        option = rest.split(".")[0]
        return _PARAM_OF_OPTION.get(option, option)
    return _PARAM_OF_FIELD.get(head, field)


def _refuse(param: str, reason: str) -> InvalidRequestError:
    return InvalidRequestError(f"{param}: {reason}", fields=[param])


def _options(body: _Sampling, max_tokens: int | None) -> Options | None:
    options: dict[str, Any] = {}
    source: dict[str, str] = {}
    for field, option in _OPTION_FIELDS.items():
        value = getattr(body, field)
        if value is None:
            continue
        if option in options and options[option] != value:
            raise _refuse(field, f"conflicts with {source[option]}, which sets the same option")
        options[option] = value
        source[option] = field
    if max_tokens is not None:
        options["num_predict"] = max_tokens
    if not options:
        return None
    try:
        return validate(Options, options, prefix="options")
    except InvalidRequestError as exc:
        params = [openai_param(field) for field in exc.fields]
        raise InvalidRequestError(str(exc), fields=params, errors=exc.errors) from exc


#: The most choices (``n``) one request may ask for.
MAX_CHOICES = 16


def _refuse_unsupported(body: _Sampling) -> None:
    if body.n is not None and body.n > MAX_CHOICES:
        raise _refuse("n", f"at most {MAX_CHOICES} choices are generated for one request")
    if body.n not in (None, 1) and body.stream:
        raise _refuse("n", "n > 1 is answered whole: send stream=false")
    if body.logit_bias:
        raise _refuse("logit_bias", "is not supported")
    if body.min_tokens:
        raise _refuse("min_tokens", "is not supported")
    if body.grammar is not None:
        raise _refuse("grammar", "is not supported; use response_format with a JSON schema")
    if body.logit_bias_type is not None:
        raise _refuse("logit_bias_type", "is not supported")
    if body.stream_options is not None and not body.stream:
        raise _refuse(
            "stream_options",
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        )


def _include_usage(body: _Sampling) -> bool:
    return bool(body.stream and body.stream_options and body.stream_options.include_usage)


def _max_tokens(first: int | None, second: int | None) -> int | None:
    if first is not None and second is not None and first != second:
        raise _refuse("max_completion_tokens", "conflicts with max_tokens; give one of them")
    return second if second is not None else first


def _image(url: str, where: str) -> str:
    if not url.startswith("data:"):
        raise _refuse(where, "only data: URLs are supported; this server does not fetch images")
    header, comma, data = url.partition(",")
    if not comma or not header.endswith(";base64"):
        raise _refuse(where, "expected a base64 data: URL (data:image/png;base64,...)")
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _refuse(where, f"the image is not valid base64: {exc}") from exc
    return data


def _content(
    content: str | list[ContentPart] | None, where: str, *, images_allowed: bool
) -> tuple[str, list[str]]:
    if content is None or isinstance(content, str):
        return content or "", []
    texts: list[str] = []
    images: list[str] = []
    for index, part in enumerate(content):
        at = f"{where}.content.{index}"
        if part.type == "text" and part.text is not None:
            texts.append(part.text)
        elif part.type == "refusal" and part.refusal is not None:
            texts.append(part.refusal)
        elif part.type == "image_url" and part.image_url is not None and images_allowed:
            images.append(_image(part.image_url.url, f"{at}.image_url.url"))
        else:
            raise _refuse(
                f"{at}.type", f"content parts of type {part.type!r} are not supported here"
            )
    return "\n".join(texts), images


def _tool_call(call: ToolCallIn, where: str) -> dict[str, Any]:
    try:
        arguments = json.loads(call.function.arguments or "{}")
    except ValueError as exc:
        raise _refuse(f"{where}.function.arguments", f"not valid JSON: {exc}") from exc
    if not isinstance(arguments, dict):
        raise _refuse(f"{where}.function.arguments", "must be a JSON object")
    out: dict[str, Any] = {"function": {"name": call.function.name, "arguments": arguments}}
    if call.id is not None:
        out["id"] = call.id
    return out


def _messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    tool_names: dict[str, str] = {}
    converted: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        where = f"messages.{index}"
        if message.role == "function" or message.function_call is not None:
            raise _refuse(f"{where}.role", "function messages are deprecated; use tools")
        if message.audio is not None:
            raise _refuse(f"{where}.audio", "audio is not supported")
        if message.tool_calls and message.role != "assistant":
            raise _refuse(f"{where}.tool_calls", "only assistant messages carry tool calls")
        role = "system" if message.role == "developer" else message.role
        text, images = _content(message.content, where, images_allowed=role == "user")
        out: dict[str, Any] = {"role": role, "content": text}
        if images:
            out["images"] = images
        if role == "assistant":
            if not text and message.refusal:
                out["content"] = message.refusal
            thinking = message.reasoning_content or message.reasoning
            if thinking:
                out["thinking"] = thinking
            if message.tool_calls:
                calls = []
                for position, call in enumerate(message.tool_calls):
                    calls.append(_tool_call(call, f"{where}.tool_calls.{position}"))
                    if call.id:
                        tool_names[call.id] = call.function.name
                out["tool_calls"] = calls
        if role == "tool":
            if not message.tool_call_id:
                raise _refuse(f"{where}.tool_call_id", "a tool message needs the id of its call")
            out["tool_call_id"] = message.tool_call_id
            if message.tool_call_id in tool_names:
                out["tool_name"] = tool_names[message.tool_call_id]
        elif message.tool_call_id is not None:
            raise _refuse(f"{where}.tool_call_id", "only tool messages answer a call")
        converted.append(out)
    return converted


def _tools(body: ChatCompletionRequest) -> list[dict[str, Any]] | None:
    choice = _tool_choice(body)
    if body.parallel_tool_calls is False:
        raise _refuse("parallel_tool_calls", "false is not supported")
    if not body.tools or choice == "none":
        return None
    tools = []
    for tool in body.tools:
        function: dict[str, Any] = {"name": tool.function.name}
        if tool.function.description is not None:
            function["description"] = tool.function.description
        if tool.function.parameters is not None:
            function["parameters"] = tool.function.parameters
        tools.append({"type": "function", "function": function})
    return tools


def _tool_choice(body: ChatCompletionRequest) -> str | None:
    """OpenAI's ``tool_choice`` as llmkit's: a mode, or the name of the function it names."""
    choice = body.tool_choice
    if isinstance(choice, dict):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if choice.get("type") != "function" or not isinstance(name, str) or not name:
            raise _refuse("tool_choice", 'expected {"type": "function", "function": {"name": ...}}')
        choice = name
    elif choice not in (None, "auto", "none", "required"):
        raise _refuse("tool_choice", 'expected "auto", "none", "required" or a named function')
    if choice in (None, "auto", "none"):
        return choice
    names = [tool.function.name for tool in body.tools or []]
    if not names:
        raise _refuse("tool_choice", f"{choice!r} needs tools to choose from")
    if choice != "required" and choice not in names:
        raise _refuse("tool_choice", f"{choice!r} is not one of the tools")
    return choice


def _format(response_format: ResponseFormat | None) -> str | dict[str, Any] | None:
    if response_format is None or response_format.type == "text":
        return None
    if response_format.type == "json_object":
        return response_format.json_object_schema or "json"
    if response_format.json_schema is None or response_format.json_schema.json_schema is None:
        raise _refuse("response_format.json_schema.schema", "a json_schema format needs a schema")
    return response_format.json_schema.json_schema


def _think(effort: str | None, template_kwargs: dict[str, Any] | None) -> bool | str | None:
    switch = None
    for key, value in (template_kwargs or {}).items():
        if key != "enable_thinking":
            raise _refuse(f"chat_template_kwargs.{key}", "is not supported (only enable_thinking)")
        if not isinstance(value, bool):
            raise _refuse(
                "chat_template_kwargs.enable_thinking", f"expected true or false, got {value!r}"
            )
        switch = value
    if effort is None:
        return switch
    if effort in ("none", "minimal"):
        return False
    if effort in ("low", "medium", "high"):
        return effort
    raise _refuse(
        "reasoning_effort", f"unknown effort {effort!r} (none, minimal, low, medium, high)"
    )


def _refuse_chat_only(body: ChatCompletionRequest) -> None:
    if body.top_logprobs and not body.logprobs:
        raise _refuse("top_logprobs", "needs logprobs: true")
    if body.functions is not None or body.function_call is not None:
        name = "functions" if body.functions is not None else "function_call"
        raise _refuse(name, "is deprecated and not supported; use tools")
    if body.modalities not in (None, ["text"]):
        raise _refuse("modalities", 'only ["text"] is supported')
    for name in ("audio", "prediction", "web_search_options"):
        if getattr(body, name) is not None:
            raise _refuse(name, "is not supported")


def chat_request(body: dict[str, Any]) -> OpenAICall[ChatRequest]:
    """A ``/v1/chat/completions`` body as an llmkit chat request (model as the client named it)."""
    parsed = validate(ChatCompletionRequest, body)
    _refuse_unsupported(parsed)
    _refuse_chat_only(parsed)
    options = _options(parsed, _max_tokens(parsed.max_tokens, parsed.max_completion_tokens))
    data: dict[str, Any] = {"model": parsed.model, "messages": _messages(parsed.messages)}
    for key, value in (
        ("options", options),
        ("tools", _tools(parsed)),
        ("tool_choice", _tool_choice(parsed)),
        ("format", _format(parsed.response_format)),
        ("think", _think(parsed.reasoning_effort, parsed.chat_template_kwargs)),
        ("logprobs", parsed.logprobs or None),
        ("top_logprobs", parsed.top_logprobs if parsed.logprobs else None),
    ):
        if value is not None:
            data[key] = value
    request = validate(ChatRequest, data)
    return OpenAICall(
        parsed.model, bool(parsed.stream), _include_usage(parsed), request, n=parsed.n or 1
    )


def completion_request(body: dict[str, Any]) -> OpenAICall[GenerateRequest]:
    """A ``/v1/completions`` body: the prompt goes to the model as it is (``raw``)."""
    parsed = validate(CompletionRequest, body)
    _refuse_unsupported(parsed)
    if parsed.echo:
        raise _refuse("echo", "is not supported")
    if parsed.best_of not in (None, 1):
        raise _refuse("best_of", "only best_of=1 is supported")
    if parsed.logprobs:
        raise _refuse("logprobs", "is not supported")
    prompt = parsed.prompt
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise _refuse("prompt", "only one prompt, as text, is supported")
        prompt = prompt[0]
    data: dict[str, Any] = {"model": parsed.model, "prompt": prompt, "raw": True}
    options = _options(parsed, parsed.max_tokens)
    if options is not None:
        data["options"] = options
    if parsed.suffix:
        data["suffix"] = parsed.suffix
    request = validate(GenerateRequest, data)
    return OpenAICall(
        parsed.model, bool(parsed.stream), _include_usage(parsed), request, n=parsed.n or 1
    )


def embedding_request(body: dict[str, Any]) -> OpenAICall[EmbedRequest]:
    """A ``/v1/embeddings`` body (text inputs only; token arrays are refused)."""
    parsed = validate(EmbeddingRequest, body)
    inputs = parsed.input
    if isinstance(inputs, list) and not all(isinstance(item, str) for item in inputs):
        raise _refuse("input", "token arrays are not supported; send text")
    if inputs == [] or inputs == "":
        raise _refuse("input", "must not be empty")
    data: dict[str, Any] = {"model": parsed.model, "input": inputs}
    if parsed.dimensions is not None:
        data["dimensions"] = parsed.dimensions
    return OpenAICall(
        parsed.model,
        False,
        False,
        validate(EmbedRequest, data),
        encoding_format=parsed.encoding_format or "float",
    )
