"""Typed models: messages, tools, options, requests, responses and stream events."""

from llmkit.types.events import Done, StreamEvent, TextDelta, ThinkingDelta, ToolCallEvent
from llmkit.types.messages import Message, Role, Tool, ToolCall, ToolCallFunction, ToolFunction
from llmkit.types.options import OLLAMA_OPTION_NAMES, Options
from llmkit.types.requests import ChatRequest, EmbedRequest, GenerateRequest
from llmkit.types.responses import ChatResponse, EmbedResponse, GenerateResponse, Usage

__all__ = [
    "OLLAMA_OPTION_NAMES",
    "ChatRequest",
    "ChatResponse",
    "Done",
    "EmbedRequest",
    "EmbedResponse",
    "GenerateRequest",
    "GenerateResponse",
    "Message",
    "Options",
    "Role",
    "StreamEvent",
    "TextDelta",
    "ThinkingDelta",
    "Tool",
    "ToolCall",
    "ToolCallEvent",
    "ToolCallFunction",
    "ToolFunction",
    "Usage",
]
