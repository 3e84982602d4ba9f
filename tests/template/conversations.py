"""Chat requests the differential tests render with Go and with llmkit.

Everything here is written by this project (no data is read from outside the repository):
each entry is an Ollama chat-API request body's ``messages``/``tools``/``think`` (and, for
fill-in-the-middle, the generate request's ``prompt``/``suffix``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["CONVERSATIONS", "NESTED_TOOL", "WEATHER_TOOL"]

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Look up today's weather for a place",
        "parameters": {
            "type": "object",
            "required": ["location", "format"],
            "properties": {
                "location": {"type": "string", "description": "A city, e.g. Lyon"},
                "format": {
                    "type": "string",
                    "description": "Which temperature unit to answer in",
                    "enum": ["celsius", "fahrenheit"],
                },
            },
        },
    },
}

NESTED_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "book_trip",
        "description": 'Book a trip <fast> & "cheap"',
        "parameters": {
            "type": "object",
            "required": ["city", "nights"],
            "properties": {
                "nights": {"type": "integer", "description": "nights", "minimum": 1},
                "city": {"type": ["string", "null"], "enum": ["Paris", "Zürich"]},
                "options": {
                    "type": "object",
                    "properties": {"zeta": {"type": "boolean"}, "alpha": {"type": "number"}},
                },
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
            },
        },
    },
}

CONVERSATIONS: dict[str, dict[str, Any]] = {
    "plain": {"messages": [{"role": "user", "content": "Hello"}]},
    "system-multi": {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "Hi"},
            {"role": "user", "content": "again"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Bye"},
        ]
    },
    "escapes-unicode": {
        "messages": [
            {"role": "user", "content": 'a <b> & "c" \\ \t é 日本 😀 \u2028 \b\f'},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": ""},
        ]
    },
    "prefill": {
        "messages": [
            {"role": "user", "content": "Write a poem"},
            {"role": "assistant", "content": "Roses are"},
        ]
    },
    "multi-turn": {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "One?"},
            {"role": "assistant", "content": "1"},
            {"role": "USER", "content": "Two?"},
            {"role": "assistant", "content": "2"},
            {"role": "system", "content": "Now be verbose."},
            {"role": "user", "content": "Three?"},
        ]
    },
    "tools": {
        "messages": [
            {"role": "system", "content": "You call tools."},
            {"role": "user", "content": "Weather in Paris and a trip?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "function": {
                            "name": "get_current_weather",
                            "arguments": {"location": "Paris", "format": "celsius"},
                        }
                    },
                    {
                        "id": "call_2",
                        "function": {
                            "index": 1,
                            "name": "book_trip",
                            "arguments": {
                                "city": "Zürich",
                                "nights": 1000000,
                                "ratio": 0.5,
                                "tiny": 1e-7,
                                "options": {"b": [1, 2.5, None, True], "a": {"deep": "<x>"}},
                            },
                        },
                    },
                ],
            },
            {"role": "tool", "content": "22", "tool_name": "get_current_weather"},
            {"role": "tool", "content": '{"ok": true}', "tool_call_id": "call_2"},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [WEATHER_TOOL, NESTED_TOOL],
    },
    "tool-call-last": {
        "messages": [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [{"id": "c1", "function": {"name": "get_current_weather"}}],
            },
        ],
        "tools": [WEATHER_TOOL],
    },
    "empty-tools": {"messages": [{"role": "user", "content": "x"}], "tools": []},
    "thinking": {
        "messages": [
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4", "thinking": "add them"},
            {"role": "user", "content": "3+3?"},
        ],
        "think": True,
    },
    "think-off": {"messages": [{"role": "user", "content": "quick"}], "think": False},
    "think-level": {"messages": [{"role": "user", "content": "q"}], "think": "high"},
    "images": {
        "messages": [
            {"role": "user", "content": "what is [img] this?", "images": ["aGVsbG8="]},
            {"role": "assistant", "content": "a greeting"},
            {"role": "user", "content": "and these", "images": ["aGk=", "eW8="]},
        ]
    },
    "fim": {"messages": [], "prompt": "def add(a, b):", "suffix": "return c"},
    "empty": {"messages": []},
}
