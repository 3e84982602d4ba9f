"""Statement and control-flow helpers of the Jinja export (:mod:`llmkit.template.jinja`).

This module owns what the exporter asks about the shape of Go template statements, apart
from any value: the flags standing for a range loop's ``continue``/``break``
(:class:`_Loop`), whether a statement may leave the loop around it (:func:`_exits`), which
exits leave a given loop body (:func:`_loop_exits`), and whether a Jinja expression is a
plain name that needs no parentheses (:func:`_is_atom`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from llmkit.template.nodes import BranchNode, BreakNode, ContinueNode, ListNode, Node, RangeNode


@dataclass
class _Loop:
    """The flags that stand for ``continue``/``break`` of one range loop."""

    skip: str
    stop: str


def _is_atom(expr: str) -> bool:
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", expr) is not None


def _exits(node: Node) -> bool:
    """Whether a statement may ``continue`` or ``break`` the loop around it."""

    def walk(n: Node | None, in_loop: bool) -> Iterator[bool]:
        if n is None:
            return
        if isinstance(n, ContinueNode | BreakNode):
            yield not in_loop
        elif isinstance(n, ListNode):
            for child in n.nodes:
                yield from walk(child, in_loop)
        elif isinstance(n, RangeNode):
            yield from walk(n.list, True)
            yield from walk(n.else_list, in_loop)
        elif isinstance(n, BranchNode):
            yield from walk(n.list, in_loop)
            yield from walk(n.else_list, in_loop)

    return any(walk(node, False))


def _loop_exits(body: ListNode) -> set[str]:
    """``continue``/``break`` that leave the loop whose body this is (not inner loops')."""
    found: set[str] = set()

    def walk(n: Node | None) -> None:
        if isinstance(n, ContinueNode):
            found.add("continue")
        elif isinstance(n, BreakNode):
            found.add("break")
        elif isinstance(n, ListNode):
            for child in n.nodes:
                walk(child)
        elif isinstance(n, RangeNode):
            walk(n.else_list)
        elif isinstance(n, BranchNode):
            walk(n.list)
            walk(n.else_list)

    walk(body)
    return found
