"""What Ollama infers from a template's parse tree (pure).

* ``tool_call_tag``: the text that starts a tool call (``tools/template.go``).
* ``thinking_tags``: the tags around reasoning (``thinking/template.go``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from llmkit.template.nodes import (
    ActionNode,
    BranchNode,
    CommandNode,
    FieldNode,
    IfNode,
    ListNode,
    Node,
    PipeNode,
    RangeNode,
    TemplateNode,
    TextNode,
    WithNode,
)

__all__ = ["thinking_tags", "tool_call_tag"]


def _mentions_tool_calls(node: IfNode) -> bool:
    return any(
        isinstance(arg, FieldNode) and "ToolCalls" in arg.ident
        for cmd in node.pipe.cmds
        for arg in cmd.args
    )


def _find_tool_call_if(nodes: Sequence[Node]) -> IfNode | None:
    for node in nodes:
        if isinstance(node, IfNode) and _mentions_tool_calls(node):
            return node
        if isinstance(node, BranchNode):
            found = _find_tool_call_if(node.list.nodes)
            if found is None and node.else_list is not None:
                found = _find_tool_call_if(node.else_list.nodes)
            if found is not None:
                return found
        elif isinstance(node, ListNode) and (found := _find_tool_call_if(node.nodes)):
            return found
    return None


def _find_text(nodes: Sequence[Node]) -> TextNode | None:
    for node in nodes:
        if isinstance(node, TextNode):
            if node.text.strip():
                return node
            continue
        if isinstance(node, BranchNode):
            found = _find_text(node.list.nodes)
            if found is None and node.else_list is not None:
                found = _find_text(node.else_list.nodes)
            return found
        if isinstance(node, ListNode):
            if found := _find_text(node.nodes):
                return found
        elif isinstance(node, ActionNode):
            return None
    return None


def tool_call_tag(root: ListNode) -> str:
    """The tag Ollama looks for before parsing tool calls; ``{`` when there is none."""
    node = _find_tool_call_if(root.nodes)
    text = _find_text(node.list.nodes) if node else None
    if text is None:
        return "{"
    tag = text.text.replace("\r\n", "\n").split("{", 1)[0].strip()
    return tag or "{"


def _visit(node: Node | None, enter: Callable[[Node, list[Node]], None], path: list[Node]) -> None:
    if node is None:
        return
    path.append(node)
    enter(node, path)
    children: list[Node | None] = []
    if isinstance(node, ListNode):
        children = list(node.nodes)
    elif isinstance(node, BranchNode):
        children = [node.pipe, node.list, node.else_list]
    elif isinstance(node, (ActionNode, TemplateNode)):
        children = [node.pipe]
    elif isinstance(node, PipeNode):
        children = list(node.cmds)
    elif isinstance(node, CommandNode):
        children = list(node.args)
    for child in children:
        _visit(child, enter, path)
    path.pop()


def _range_uses(node: RangeNode, name: str) -> bool:
    found = False

    def enter(child: Node, _path: list[Node]) -> None:
        nonlocal found
        if isinstance(child, FieldNode) and child.ident[0] == name:
            found = True

    _visit(node.pipe, enter, [])
    return found


def thinking_tags(root: ListNode) -> tuple[str, str]:
    """(opening, closing) thinking tags, ``("", "")`` when the template shows no thinking."""
    tags = ["", ""]

    def enter(node: Node, path: list[Node]) -> None:
        if not (isinstance(node, FieldNode) and node.ident and node.ident[0] == "Thinking"):
            return
        ranges = [n for n in path if isinstance(n, RangeNode)]
        if not ranges or not _range_uses(ranges[-1], "Messages"):
            return
        lists = [n for n in path if isinstance(n, ListNode)]
        if not lists:
            return
        nearest = lists[-1]
        first, last = nearest.nodes[0], nearest.nodes[-1]
        if isinstance(first, TextNode):
            tags[0] = first.text.strip()
        if isinstance(last, TextNode):
            tags[1] = last.text.strip()

    _visit(root, enter, [])
    return tags[0], tags[1]


_ = WithNode
