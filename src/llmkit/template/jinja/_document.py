"""The whole exported document around the template's own statements.

This module owns the order and text of what an export writes: the opening comment
(:func:`_header`), the helper macros the body used (from :mod:`llmkit.template.jinja._macros`),
the prologue with Ollama's request checks and preprocessing of ``messages``, ``tools`` and
``think`` (:func:`_prologue`), the ``ns`` namespace, and the body: the template itself on the
chat path, or on Ollama's legacy path two turn macros and the loop over the collated messages
that calls them (:func:`_legacy_body`).  :func:`_export` puts them together.
"""

from __future__ import annotations

from llmkit.errors import JinjaExportError
from llmkit.template.jinja._emitter import _Emitter
from llmkit.template.jinja._macros import _HELPERS, _helper_order, _is_list
from llmkit.template.jinja._values import K, _Val
from llmkit.template.nodes import ListNode
from llmkit.template.ollama import OllamaTemplate, _CutPanic, cut_at_response


def _export(template: OllamaTemplate) -> str:
    """The Jinja source of ``template``."""
    emitter = _Emitter(template)
    root = emitter.trees[emitter.name]
    if template.uses_messages:
        emitter.body(root, _Val("", K.DATA))
        body = emitter.lines
        prologue = _prologue(emitter.needs, legacy=False)
    else:
        body = _legacy_body(emitter, root)
        emitter.needs.add("messages")
        prologue = _prologue(emitter.needs, legacy=True)
    out = [_header(emitter.name)]
    for name in _helper_order(emitter.helpers):
        out.append(_HELPERS[name][1])
    out.extend(prologue)
    if emitter.ns_used and template.uses_messages:
        out.append("{%- set ns = namespace() %}")
    out.extend(body)
    return "\n".join(out)


def _legacy_body(emitter: _Emitter, root: ListNode) -> list[str]:
    """The legacy path: the turn macros (the template, and the template cut after
    ``.Response`` for the last turn) and the loop over the collated messages calling them."""
    emitter.legacy = True
    try:
        cut = cut_at_response(root)
    except _CutPanic:
        emitter.node = None
        raise JinjaExportError(
            "cannot export: Ollama cannot cut this legacy template at .Response (it sits "
            "in a block with an else branch); Ollama itself fails on it",
            construct=".Response",
            name=emitter.name,
        ) from None
    lines: list[str] = []
    for macro, tree, no_functions in (
        ("ollama_turn", root, False),
        ("ollama_last_turn", cut, True),
    ):
        emitter.lines = []
        emitter.level = 1
        emitter.ns_used = False
        emitter.no_functions = no_functions
        emitter.body(tree, _Val("", K.DATA))
        lines.append(f"{{%- macro {macro}(system, prompt, response) %}}")
        if emitter.ns_used:
            lines.append("  {%- set ns = namespace() %}")
        lines.extend(emitter.lines)
        lines.append("{%- endmacro %}")
    emitter.ns_used = False
    emitter.lines = []
    lines += [
        "{#- Ollama's legacy path: each turn is the template run with .System, .Prompt and",
        "    .Response; the last turn runs the template cut after .Response #}",
        "{%- set turn = namespace(system='', prompt='', response='') %}",
        "{%- for message in ollama.messages %}",
        "  {%- if message['role'] == 'system' %}",
        "    {%- if turn.prompt or turn.response %}",
        "      {{- ollama_turn(turn.system, turn.prompt, turn.response) }}",
        "      {%- set turn.prompt = '' %}",
        "      {%- set turn.response = '' %}",
        "    {%- endif %}",
        "    {%- set turn.system = message['content'] %}",
        "  {%- elif message['role'] == 'user' %}",
        "    {%- if turn.response %}",
        "      {{- ollama_turn(turn.system, turn.prompt, turn.response) }}",
        "      {%- set turn.system = '' %}",
        "      {%- set turn.response = '' %}",
        "    {%- endif %}",
        "    {%- set turn.prompt = message['content'] %}",
        "  {%- elif message['role'] == 'assistant' %}",
        "    {%- set turn.response = message['content'] %}",
        "  {%- endif %}",
        "{%- endfor %}",
        "{{- ollama_last_turn(turn.system, turn.prompt, turn.response) }}",
    ]
    return lines


def _header(name: str) -> str:
    """The comment that opens the export."""
    name = (name or "template").replace("#}", "# }")
    return (
        f"{{#- Jinja chat template exported by llmkit from the Ollama Go template {name}.\n"
        "    Inputs: messages (Ollama's fields: role, content, thinking, images, tool_calls,\n"
        "    tool_name, tool_call_id), tools (OpenAI shape), think (or enable_thinking).\n"
        "    add_generation_prompt and bos_token are not used: the template itself opens\n"
        "    the assistant's turn, as Ollama's does. #}"
    )


def _prologue(needs: set[str], *, legacy: bool) -> list[str]:
    """Ollama's request checks, and the preprocessing of the inputs the body ``needs``."""
    lines: list[str] = [
        "{%- set ollama = namespace(messages=[], system=[], tools=none) %}",
        "{%- set think_value = think if think is defined else "
        "(enable_thinking if enable_thinking is defined else none) %}",
        "{#- what Ollama rejects when it decodes the request #}",
        "{%- if think_value is string and think_value not in ('low', 'medium', 'high', 'max') %}",
        "  {{- raise_exception('think: ' ~ think_value ~ ' is not a valid level') }}",
        "{%- endif %}",
        "{%- for message in messages or [] %}",
        "  {%- for call in message.get('tool_calls') or [] %}",
        "    {%- set arguments = (call.get('function') or {}).get('arguments') %}",
        "    {%- if arguments is not none and arguments is not mapping %}",
        "      {{- raise_exception('tool call arguments must be a JSON object') }}",
        "    {%- endif %}",
        "  {%- endfor %}",
        "{%- endfor %}",
    ]
    if "messages" in needs:
        lines += [
            "{#- Ollama's collation: roles lower-cased, consecutive messages of one role"
            " (not tool) merged #}",
            "{%- for message in messages or [] %}",
            "  {%- set role = (message.get('role', '')|string)|lower %}",
            "  {%- set content = message.get('content') or '' %}",
            "  {%- if role == 'system' %}",
            "    {%- set ollama.system = ollama.system + [content] %}",
            "  {%- endif %}",
            "  {%- set previous = ollama.messages[-1] if ollama.messages else none %}",
            "  {%- if previous and previous['role'] == role and role != 'tool' %}",
            "    {%- set ollama.messages = ollama.messages[:-1] + [{'role': role, "
            "'content': previous['content'] ~ '\\n\\n' ~ content, "
            "'thinking': previous['thinking'], 'images': previous['images'], "
            "'tool_calls': previous['tool_calls'], 'tool_name': previous['tool_name'], "
            "'tool_call_id': previous['tool_call_id']}] %}",
            "  {%- else %}",
        ]
        if legacy:
            lines.append(
                "    {%- set ollama.messages = ollama.messages + [{'role': role, "
                "'content': content, 'thinking': '', 'images': [], 'tool_calls': [], "
                "'tool_name': '', 'tool_call_id': ''}] %}"
            )
        else:
            lines += [
                "    {%- set calls = namespace(items=[]) %}",
                "    {%- for call in message.get('tool_calls') or [] %}",
                "      {%- set function = call.get('function') or {} %}",
                "      {%- set arguments = function.get('arguments') %}",
                "      {%- set calls.items = calls.items + [{'id': call.get('id') or '', "
                "'index': (function.get('index') or 0)|int, 'name': function.get('name') "
                "or '', 'arguments': arguments if arguments is mapping else none}] %}",
                "    {%- endfor %}",
                "    {%- set ollama.messages = ollama.messages + [{'role': role, "
                "'content': content, 'thinking': message.get('thinking') or '', "
                "'images': message.get('images') or [], 'tool_calls': calls.items, "
                "'tool_name': message.get('tool_name') or '', "
                "'tool_call_id': message.get('tool_call_id') or ''}] %}",
            ]
        lines += [
            "  {%- endif %}",
            "{%- endfor %}",
            "{%- set ollama.system = ollama.system|join('\\n\\n') %}",
        ]
    if "tools" in needs:
        required = "parameters.get('required')"
        lines += [
            "{#- tools as Ollama converts them: only the schema keywords it knows #}",
            "{%- if tools is defined and tools is not none %}",
            "  {%- set ollama.tools = [] %}",
            "  {%- for tool in tools %}",
            "    {%- set function = tool.get('function') or {} %}",
            "    {%- set parameters = function.get('parameters') or {} %}",
            "    {%- set properties = parameters.get('properties') %}",
            "    {%- set ollama.tools = ollama.tools + [{'type': tool.get('type') or '', "
            "'items': tool.get('items'), 'function': {'name': function.get('name') or '', "
            "'description': function.get('description') or '', 'parameters': {"
            "'type': parameters.get('type') or '', 'defs': parameters.get('$defs'), "
            "'items': parameters.get('items'), "
            f"'required': {required}|map('string')|list if {_is_list(required)} else none, "
            "'properties': dict(properties.items()|selectattr('1', 'mapping')) "
            "if properties is mapping else none}}}] %}",
            "  {%- endfor %}",
            "{%- endif %}",
        ]
    if "think" in needs:
        lines += [
            "{%- set ollama.think = think_value not in (none, false, '') %}",
            "{%- set ollama.think_level = 'medium' if think_value is true else "
            "(think_value if think_value is string else '') %}",
            "{%- set ollama.is_think_set = think_value is not none %}",
        ]
    return lines
