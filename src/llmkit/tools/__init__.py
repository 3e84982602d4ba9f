"""Tool calling: tools from Python functions, and tool calls read out of a model's output.

* Tools from Python (:mod:`llmkit.tools.functions`): :func:`tool` / :func:`as_tool` make a
  :class:`FunctionTool` from a function, a pydantic model or a JSON schema; calling it
  validates the arguments first and returns a :class:`ToolResult`.
* Parsing tool calls (:mod:`llmkit.tools.parser`): :class:`ToolCallParser` reads a response
  chunk by chunk, for a named format (:data:`FORMAT_NAMES`) or for the format an Ollama
  template renders, and yields the events of :mod:`llmkit.tools.events`;
  :func:`~llmkit.tools.stream.parse_stream` applies it to a backend's stream of text.

The loop that calls the model and runs the calls it asks for is :mod:`llmkit.agent`
(:func:`~llmkit.agent.run_tools`): it sits above the client and imports this package;
this package imports neither the loop nor the client.
"""

from llmkit.tools.events import (
    Markup,
    ParseProblem,
    ParserEvent,
    TextChunk,
    ThinkingChunk,
    ToolCallArgumentsDelta,
    ToolCallComplete,
    ToolCallStart,
)
from llmkit.tools.functions import FunctionTool, ToolSource, as_tool, tool
from llmkit.tools.parser import FORMAT_NAMES, ParsedOutput, ToolCallParser
from llmkit.tools.results import ArgumentProblem, ToolResult
from llmkit.tools.stream import parse_stream, stream_parser
from llmkit.tools.thinking import ThinkingSplitter

__all__ = [
    "FORMAT_NAMES",
    "ArgumentProblem",
    "FunctionTool",
    "Markup",
    "ParseProblem",
    "ParsedOutput",
    "ParserEvent",
    "TextChunk",
    "ThinkingChunk",
    "ThinkingSplitter",
    "ToolCallArgumentsDelta",
    "ToolCallComplete",
    "ToolCallParser",
    "ToolCallStart",
    "ToolResult",
    "ToolSource",
    "as_tool",
    "parse_stream",
    "stream_parser",
    "tool",
]
