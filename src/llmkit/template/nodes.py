"""The parse tree, with node names as in Go's ``text/template/parse`` (pure).

Every node has ``pos``, its character offset in the template source.  The
tree of each template is a :class:`ListNode`; a set of templates
(``define`` / ``block``) is a dict of them by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "ActionNode",
    "BoolNode",
    "BranchNode",
    "BreakNode",
    "ChainNode",
    "CommandNode",
    "ContinueNode",
    "DotNode",
    "FieldNode",
    "IdentifierNode",
    "IfNode",
    "ListNode",
    "NilNode",
    "Node",
    "NumberNode",
    "PipeNode",
    "RangeNode",
    "StringNode",
    "TemplateNode",
    "TextNode",
    "VariableNode",
    "WithNode",
]


@dataclass(eq=False)
class Node:
    pos: int


@dataclass(eq=False)
class ListNode(Node):
    nodes: list[Node] = field(default_factory=list)


@dataclass(eq=False)
class TextNode(Node):
    text: str


@dataclass(eq=False)
class CommandNode(Node):
    args: list[Node] = field(default_factory=list)


@dataclass(eq=False)
class VariableNode(Node):
    """``$`` or ``$x``, possibly followed by fields: ``ident = ["$x", "Field", ...]``."""

    ident: list[str]


@dataclass(eq=False)
class PipeNode(Node):
    is_assign: bool = False
    decl: list[VariableNode] = field(default_factory=list)
    cmds: list[CommandNode] = field(default_factory=list)


@dataclass(eq=False)
class ActionNode(Node):
    pipe: PipeNode


@dataclass(eq=False)
class IdentifierNode(Node):
    """A function name."""

    ident: str


@dataclass(eq=False)
class DotNode(Node):
    pass


@dataclass(eq=False)
class NilNode(Node):
    pass


@dataclass(eq=False)
class FieldNode(Node):
    """``.A.B``: ``ident = ["A", "B"]``."""

    ident: list[str]


@dataclass(eq=False)
class ChainNode(Node):
    """A term followed by fields: ``(pipeline).A.B``."""

    node: Node
    field: list[str]


@dataclass(eq=False)
class BoolNode(Node):
    true: bool


@dataclass(eq=False)
class NumberNode(Node):
    text: str
    is_int: bool = False
    is_uint: bool = False
    is_float: bool = False
    is_complex: bool = False
    int64: int = 0
    uint64: int = 0
    float64: float = 0.0
    complex128: complex = 0j


@dataclass(eq=False)
class StringNode(Node):
    quoted: str
    text: str


@dataclass(eq=False)
class BranchNode(Node):
    pipe: PipeNode
    list: ListNode
    else_list: ListNode | None = None


@dataclass(eq=False)
class IfNode(BranchNode):
    pass


@dataclass(eq=False)
class RangeNode(BranchNode):
    pass


@dataclass(eq=False)
class WithNode(BranchNode):
    pass


@dataclass(eq=False)
class BreakNode(Node):
    pass


@dataclass(eq=False)
class ContinueNode(Node):
    pass


@dataclass(eq=False)
class TemplateNode(Node):
    name: str
    pipe: PipeNode | None = None
