"""llmkit: a typed Python SDK for language models, local or remote.

>>> import llmkit
>>> client = llmkit.Client("mock")
>>> client.chat([{"role": "user", "content": "hello there"}]).message.content
'hello there'

Nothing is read, loaded or connected at import time.
"""

from llmkit import errors
from llmkit.agent import ToolRun, arun_tools, run_tools
from llmkit.backends.base import AsyncBackend, Backend
from llmkit.backends.mock import MockBackend
from llmkit.client import AsyncClient, Client
from llmkit.errors import (
    BackendBusyError,
    BackendError,
    ContextWindowError,
    InvalidRequestError,
    LLMKitError,
    ModelNotFoundError,
    StreamInterruptedError,
    ToolLoopError,
    UnsupportedFeatureError,
    UnsupportedOptionError,
)
from llmkit.stream import AsyncStream, Stream
from llmkit.tokens import ContextFit, ContextTruncatedWarning, Tokenizer, fit_messages
from llmkit.tools import FunctionTool, ToolResult, tool
from llmkit.types import (
    ChatRequest,
    ChatResponse,
    Done,
    EmbedRequest,
    EmbedResponse,
    GenerateRequest,
    GenerateResponse,
    Message,
    Options,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    Tool,
    ToolCall,
    ToolCallEvent,
    Usage,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncBackend",
    "AsyncClient",
    "AsyncStream",
    "Backend",
    "BackendBusyError",
    "BackendError",
    "ChatRequest",
    "ChatResponse",
    "Client",
    "ContextFit",
    "ContextTruncatedWarning",
    "ContextWindowError",
    "Done",
    "EmbedRequest",
    "EmbedResponse",
    "FunctionTool",
    "GenerateRequest",
    "GenerateResponse",
    "InvalidRequestError",
    "LLMKitError",
    "Message",
    "MockBackend",
    "ModelNotFoundError",
    "Options",
    "Stream",
    "StreamEvent",
    "StreamInterruptedError",
    "TextDelta",
    "ThinkingDelta",
    "Tokenizer",
    "Tool",
    "ToolCall",
    "ToolCallEvent",
    "ToolLoopError",
    "ToolResult",
    "ToolRun",
    "UnsupportedFeatureError",
    "UnsupportedOptionError",
    "Usage",
    "__version__",
    "arun_tools",
    "errors",
    "fit_messages",
    "run_tools",
    "tool",
]
