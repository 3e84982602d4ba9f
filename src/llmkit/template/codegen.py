"""Code generation: a parsed template set to Python source (pure, deterministic).

Each template becomes one function ``_tN(rt, dot)`` that appends to ``rt.out``
and returns how many characters it wrote (at most ``rt.room``).  Go variables
become Python locals resolved at compile time (shadowing and scopes as in Go);
``and``/``or`` short-circuit through conditional expressions; ``range`` is a
Python ``for`` loop, so ``break`` and ``continue`` map one to one.  Every
generated line that can fail is recorded in ``line_map`` with the template
offset it came from, so an execution error names the template line and column
without any bookkeeping at run time.

The limits of :class:`~llmkit.template.runtime.Limits` cost the generated code
little.  The characters written are counted exactly in the local ``n``: the
length of template text is a constant added with the next value written (text
left at the end of a block waits in the local ``p``, a small int, so counting
it allocates nothing), and ``n`` is compared with ``room`` before every value
is written, after every template call, at the end of the template, and in a
loop once its text-only turns have left :data:`TEXT_CHECK` characters in ``p``.
``rt.tick()`` counts loop iterations and template calls; ``rt.poll()`` (the
deadline and cancel check) runs every 16th tick and after every
:data:`POLL_EVERY` actions of a block; the results of functions the runtime does
not bound itself pass through ``rt.produced``.

Template text only ever appears in the output as Python string literals made
by ``repr()``, and names from the template are never Python identifiers, so
compiling a template cannot inject code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from llmkit.template.nodes import (
    ActionNode,
    BoolNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    IfNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    RangeNode,
    StringNode,
    TemplateNode,
    TextNode,
    VariableNode,
    WithNode,
)

__all__ = ["FUNCTION_PARAMS", "GeneratedCode", "generate"]

#: How each function's arguments are passed: "value" (reflect.Value: no value is an error),
#: "any" (no value is nil), "string" (must be a string). The last kind repeats.
FUNCTION_PARAMS: dict[str, tuple[str, ...]] = {
    "and": ("value",),
    "or": ("value",),
    "not": ("value",),
    "len": ("value",),
    "index": ("value",),
    "slice": ("value",),
    "eq": ("value",),
    "ne": ("value",),
    "lt": ("value",),
    "le": ("value",),
    "gt": ("value",),
    "ge": ("value",),
    "call": ("value",),
    "print": ("any",),
    "println": ("any",),
    "printf": ("string", "any"),
    "html": ("any",),
    "js": ("any",),
    "urlquery": ("any",),
    "json": ("any",),
    "currentDate": ("string",),
    "yesterdayDate": ("string",),
    "toTypeScriptType": ("any",),
}
#: Exact arity where Go's signature fixes it (name: (min, max)); max None = variadic.
FUNCTION_ARITY: dict[str, tuple[int, int | None]] = {
    "and": (1, None), "or": (1, None), "not": (1, 1), "len": (1, 1), "index": (1, None),
    "slice": (1, None), "eq": (1, None), "ne": (2, 2), "lt": (2, 2), "le": (2, 2),
    "gt": (2, 2), "ge": (2, 2), "call": (1, None), "printf": (1, None), "json": (1, 1),
    "toTypeScriptType": (1, 1),
}  # fmt: skip


#: Functions that always return a bool (so ``if`` needs no truth test).
BOOL_FUNCTIONS = frozenset({"eq", "ne", "lt", "le", "gt", "ge", "not"})

#: Builtins whose results need no check: they make no new string or list, or the runtime
#: bounds them itself (``print``, ``printf``, the escapers, ``slice``).  Any other function's
#: result passes through ``rt.produced`` (see ``generate``).
CHECKED_FUNCTIONS = frozenset(
    {"eq", "ne", "lt", "le", "gt", "ge", "not", "len", "index", "call"}
    | {"print", "println", "printf", "html", "js", "urlquery", "slice"}
)

#: Straight-line actions between two deadline/cancel checks (``rt.poll()``).
POLL_EVERY = 16
#: Template text a loop may leave uncounted in ``p`` before a turn counts and checks it.
TEXT_CHECK = 4096


@dataclass
class GeneratedCode:
    source: str
    functions: dict[str, str]
    """Template name -> generated function name."""
    line_map: dict[int, int] = field(default_factory=dict)
    """Generated line number (1-based) -> template offset."""
    functions_used: set[str] = field(default_factory=set)


class _Scope:
    def __init__(self) -> None:
        self.frames: list[dict[str, str]] = [{}]

    def declare(self, name: str, python: str) -> None:
        self.frames[-1][name] = python

    def lookup(self, name: str) -> str:
        for frame in reversed(self.frames):
            if name in frame:
                return frame[name]
        raise KeyError(name)  # the parser rejects undefined variables

    def push(self) -> None:
        self.frames.append({})

    def pop(self) -> None:
        self.frames.pop()


class _Generator:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.line_map: dict[int, int] = {}
        self.counter = 0
        self.indent = 1
        self.scope = _Scope()
        self.dot = "dot"
        self.functions_used: set[str] = set()
        self.prebound: set[str] = set()
        self.checked: frozenset[str] = CHECKED_FUNCTIONS
        self.pending = 0  # characters of template text written but not yet counted
        self.dirty = False  # whether the local p may hold uncounted text here

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def emit(self, line: str, pos: int | None = None) -> None:
        self.lines.append("    " * self.indent + line)
        if pos is not None:
            self.line_map[len(self.lines)] = pos

    def to_p(self) -> None:
        """Leave the pending template text in the local ``p`` (the end of a block, where the
        paths join): a small int, so counting it allocates nothing; the next value written
        adds it to ``n``."""
        if self.pending:
            self.emit(f"p += {self.pending}" if self.dirty else f"p = {self.pending}")
            self.pending = 0
            self.dirty = True

    def flush(self) -> None:
        """Make ``n`` exact: add the pending template text and ``p``."""
        parts = ([str(self.pending)] if self.pending else []) + (["p"] if self.dirty else [])
        if parts:
            self.emit(f"n += {' + '.join(parts)}")
        if self.dirty:
            self.emit("p = 0")
        self.pending = 0
        self.dirty = False

    # -- statements --------------------------------------------------------------

    def body(self, nodes: ListNode | None) -> None:
        start = len(self.lines)
        actions = 0
        for node in nodes.nodes if nodes else []:
            self.node(node)
            if not isinstance(node, TextNode | BreakNode | ContinueNode):
                actions += 1
                if actions == POLL_EVERY:  # straight-line code checks the clock now and then
                    self.emit("rt.poll()", node.pos)
                    actions = 0
        self.to_p()
        if len(self.lines) == start:
            self.emit("pass")

    def node(self, node: Node) -> None:
        if isinstance(node, TextNode):
            if node.text:
                self.emit(f"w({node.text!r})")
                self.pending += len(node.text)
        elif isinstance(node, ActionNode):
            value = self.pipeline(node.pipe)
            if node.pipe.decl:
                self.emit(value, node.pos)
            else:
                temp = self.fresh("_p")
                # strings, the usual case, skip the call to printable(); the size, with the
                # text not yet counted, is checked before the value is written (len + text
                # first: often a small, shared int)
                text = f"{temp} if type({temp} := {value}) is str else printable({temp})"
                size = f"len({temp} := ({text}))"
                if self.pending and self.dirty:
                    size = f"({size} + ({self.pending} + p))"  # a small int, then one sum
                elif self.pending or self.dirty:
                    size = f"({size} + {self.pending or 'p'})"
                self.emit(f"if (n := n + {size}) > room: rt.overflow()", node.pos)
                self.emit(f"w({temp})", node.pos)
                if self.dirty:
                    self.emit("p = 0")
                self.pending = 0
                self.dirty = False
        elif isinstance(node, IfNode):
            self.if_node(node)
        elif isinstance(node, WithNode):
            self.with_node(node)
        elif isinstance(node, RangeNode):
            self.range_node(node)
        elif isinstance(node, TemplateNode):
            self.flush()
            dot = f"dig({self.pipeline(node.pipe)})" if node.pipe else "NO_VALUE"
            self.emit(
                f"if (n := n + rt_template({node.name!r}, {dot}, room - n)) > room: rt.overflow()",
                node.pos,
            )
        elif isinstance(node, BreakNode):
            self.to_p()
            self.emit("break")
        elif isinstance(node, ContinueNode):
            self.to_p()
            self.emit("continue")
        else:  # pragma: no cover - the parser makes no other statement nodes
            raise TypeError(f"unexpected node {type(node).__name__}")

    def _block(self, nodes: ListNode | None, dot: str | None = None) -> None:
        saved = self.dot
        if dot is not None:
            self.dot = dot
        self.indent += 1
        self.scope.push()
        self.body(nodes)
        self.scope.pop()
        self.indent -= 1
        self.dot = saved

    def _branches(self, first: ListNode | None, other: ListNode | None, dot: str | None) -> None:
        """The two branches of an ``if`` or ``with``: each starts with what ``p`` may hold
        before it; after them ``p`` may hold text if either path leaves some."""
        start = self.dirty
        self._block(first, dot=dot)
        dirty = self.dirty
        self.dirty = start
        if other is not None:
            self.emit("else:")
            self._block(other)
        self.dirty = self.dirty or dirty

    def if_node(self, node: IfNode) -> None:
        self.to_p()
        self.scope.push()  # variables of the pipeline live until {{end}}
        self.emit(f"if {self.condition(node.pipe)}:", node.pos)
        self._branches(node.list, node.else_list, None)
        self.scope.pop()

    def with_node(self, node: WithNode) -> None:
        self.to_p()
        self.scope.push()
        value = self.fresh("_w")
        self.emit(f"{value} = {self.pipeline(node.pipe)}", node.pos)
        self.emit(f"if truth({value}):")
        self._branches(node.list, node.else_list, value)
        self.scope.pop()

    def range_node(self, node: RangeNode) -> None:
        self.flush()  # n exact and p empty before the loop; p may carry text between turns
        self.scope.push()
        pipe = node.pipe
        decl = pipe.decl
        iterable = self.fresh("_r")
        key, elem, ran = self.fresh("_k"), self.fresh("_e"), self.fresh("_n")
        self.emit(f"{iterable} = {self.pipeline(pipe)}", node.pos)
        if node.else_list is not None:
            self.emit(f"{ran} = False")
        two = len(decl) > 1
        self.emit(f"for {key}, {elem} in rt.iterate({iterable}, {two}):", node.pos)
        self.indent += 1
        self.emit("tick()", node.pos)
        # text-only turns add up in p: count and check it once it is a few KiB
        self.emit(f"if p > {TEXT_CHECK}:")
        self.emit("    n += p")
        self.emit("    p = 0")
        self.emit("    if n > room: rt.overflow()", node.pos)
        if node.else_list is not None:
            self.emit(f"{ran} = True")
        if decl:
            if pipe.is_assign:
                first = self.scope.lookup(decl[0].ident[0])
                self.emit(f"{first} = {key if two else elem}")
                if two:
                    self.emit(f"{self.scope.lookup(decl[1].ident[0])} = {elem}")
            else:
                names = [self.scope.lookup(v.ident[0]) for v in decl]
                if two:
                    self.emit(f"{names[0]} = {key}")
                    self.emit(f"{names[1]} = {elem}")
                else:
                    self.emit(f"{names[0]} = {elem}")
        self.indent -= 1
        saved = self.dot
        self.dot = elem
        self.indent += 1
        self.scope.push()
        self.dirty = True  # what the last turn left in p
        self.body(node.list)
        self.scope.pop()
        self.indent -= 1
        self.dot = saved
        self.dirty = True  # what the last turn (or a break) left in p
        if node.else_list is not None:
            self.emit(f"if not {ran}:")
            self._block(node.else_list)
            self.dirty = True
        self.scope.pop()

    # -- expressions -------------------------------------------------------------

    def condition(self, pipe: PipeNode) -> str:
        """``truth(pipeline)``, or the pipeline itself when it already is a bool."""
        value = self.pipeline(pipe)
        last = pipe.cmds[-1].args[0]
        if not pipe.decl and isinstance(last, IdentifierNode) and last.ident in BOOL_FUNCTIONS:
            return value
        return f"truth({value})"

    def pipeline(self, pipe: PipeNode) -> str:
        """The expression of a pipeline; declarations become assignments (walrus)."""
        value = ""
        for cmd in pipe.cmds:
            value = self.command(cmd, value or None)
        if not pipe.decl:
            # Go turns a nil interface into "no value" between commands; llmkit's runtime
            # treats None and NO_VALUE alike everywhere but in field access, so only values
            # that are kept (variables) or walked into (chains, template calls) are dug.
            return value
        value = f"dig({value})"
        targets = []
        for variable in pipe.decl:
            name = variable.ident[0]
            if pipe.is_assign:
                targets.append(self.scope.lookup(name))
            else:
                python = self.fresh("v")
                self.scope.declare(name, python)
                targets.append(python)
        if len(targets) == 1:
            return f"({targets[0]} := {value})"
        # range $i, $e := pipeline: both start as the pipeline's value
        return f"({targets[0]} := ({targets[1]} := {value}))"

    def command(self, cmd: CommandNode, final: str | None) -> str:
        first, args = cmd.args[0], cmd.args[1:]
        if isinstance(first, IdentifierNode):
            return self.function(first, args, final)
        if isinstance(first, FieldNode):
            return self.fields(self.dot, first.ident, bool(args) or final is not None)
        if isinstance(first, VariableNode):
            receiver = self.scope.lookup(first.ident[0])
            if len(first.ident) == 1:
                return self.not_a_function(cmd, final, receiver)
            return self.fields(receiver, first.ident[1:], bool(args) or final is not None)
        if isinstance(first, ChainNode):
            if isinstance(first.node, NilNode):
                return "fail('indirection through explicit nil')"
            return self.fields(
                self.operand(first.node, "chain"), first.field, bool(args) or final is not None
            )
        if isinstance(first, PipeNode):
            return self.not_a_function(cmd, final, self.pipeline(first))
        if isinstance(first, NilNode):
            return "fail('nil is not a command')"
        return self.not_a_function(cmd, final, self.literal(first))

    def not_a_function(self, cmd: CommandNode, final: str | None, value: str) -> str:
        if len(cmd.args) > 1 or final is not None:
            message = "can't give argument to non-function " + _describe(cmd.args[0])
            return f"fail({message!r})"
        return value

    def fields(self, receiver: str, names: list[str], has_args: bool) -> str:
        expr = receiver
        for i, name in enumerate(names):
            last = i == len(names) - 1
            flag = ", True" if last and has_args else ""
            expr = f"field({expr}, {name!r}{flag})"
        return expr

    def literal(self, node: Node) -> str:
        if isinstance(node, BoolNode):
            return "True" if node.true else "False"
        if isinstance(node, StringNode):
            return repr(node.text)
        if isinstance(node, DotNode):
            return self.dot
        if isinstance(node, NumberNode):
            return _ideal_constant(node)
        raise TypeError(type(node).__name__)  # pragma: no cover

    def operand(self, node: Node, kind: str) -> str:
        """An argument's value for a parameter of ``kind`` (value, any, string, chain)."""
        if isinstance(node, NilNode):
            if kind == "any":
                return "None"
            if kind in ("chain", "value"):
                return "NO_VALUE"  # a reflect.Value parameter takes the zero Value
            return "fail('cannot assign nil to string')"
        if isinstance(node, FieldNode):
            value = self.fields(self.dot, node.ident, False)
        elif isinstance(node, VariableNode):
            receiver = self.scope.lookup(node.ident[0])
            value = (
                self.fields(receiver, node.ident[1:], False) if len(node.ident) > 1 else receiver
            )
        elif isinstance(node, ChainNode):
            inner = self.operand(node.node, "chain")
            value = self.fields(inner, node.field, False)
        elif isinstance(node, PipeNode):
            value = self.pipeline(node)
            if kind == "chain":
                return f"dig({value})"
        elif isinstance(node, IdentifierNode):
            value = self.function(node, [], None)
        elif kind == "string" and not isinstance(node, StringNode):
            return f"fail({('expected string; found ' + _describe(node))!r})"
        else:
            return self.literal(node)
        if kind == "any":
            return f"any_arg({value})"
        if kind == "value":
            return value  # invalid values pass as the zero reflect.Value
        if kind == "string":
            return f"string_arg({value})"
        return value

    def function(self, ident: IdentifierNode, args: list[Node], final: str | None) -> str:
        name = ident.ident
        kinds = FUNCTION_PARAMS.get(name, ("any",))
        count = len(args) + (final is not None)
        low, high = FUNCTION_ARITY.get(name, (0, None))
        if count < low or (high is not None and count > high):
            want = f"at least {low}" if high is None else str(low)
            return f"fail({f'wrong number of args for {name}: want {want} got {count}'!r})"
        values = [self.operand(arg, kinds[min(i, len(kinds) - 1)]) for i, arg in enumerate(args)]
        if final is not None:
            kind = kinds[min(len(args), len(kinds) - 1)]
            wrap = {"any": "any_arg", "value": "", "string": "string_arg"}[kind]
            values.append(f"{wrap}({final})")
        if name in ("and", "or"):
            return _short_circuit(name, values, self.fresh)
        if name == "len" and final is None and _is_slice_from(args[0]):
            # len (slice X $i), the "last message" idiom: no copy of X each iteration
            inner = args[0]
            assert isinstance(inner, PipeNode)
            slice_args = inner.cmds[0].args[1:]
            return f"len_slice_from({', '.join(self.operand(a, 'value') for a in slice_args)})"
        self.functions_used.add(name)
        if name == "call":
            return f"rt.call_value({', '.join(values)})"
        call = f"{self.function_local(name)}({', '.join(values)})"
        if name not in self.checked:
            return f"rt.produced({call}, {name!r})"
        return call

    def function_local(self, name: str) -> str:
        """The local a function is bound to in each template function's prologue."""
        return f"_f{sorted(self.prebound).index(name)}" if name in self.prebound else "_unbound"


def _is_slice_from(node: Node) -> bool:
    return (
        isinstance(node, PipeNode)
        and not node.decl
        and len(node.cmds) == 1
        and isinstance(node.cmds[0].args[0], IdentifierNode)
        and node.cmds[0].args[0].ident == "slice"
        and len(node.cmds[0].args) == 3
    )


def _short_circuit(name: str, values: list[str], fresh: Callable[[str], str]) -> str:
    """``and a b c`` as nested conditional expressions; later arguments stay unevaluated."""
    expr = values[-1]
    for value in reversed(values[:-1]):
        temp = fresh("_s")
        test = f"not truth({temp} := {value})" if name == "and" else f"truth({temp} := {value})"
        expr = f"({temp} if {test} else {expr})"
    return expr


def _ideal_constant(node: NumberNode) -> str:
    """Go's ``idealConstant``: the value a number literal has as an ``any`` argument."""
    text = node.text
    if node.is_complex:
        return repr(node.complex128)
    hex_int = (
        len(text) > 2 and text[0] == "0" and text[1] in "xX" and not any(c in text for c in "pP")
    )
    rune = text.startswith("'")
    if node.is_float and not hex_int and not rune and any(c in text for c in ".eEpP"):
        return repr(node.float64)
    if node.is_int:
        return repr(node.int64)
    return f"fail({(text + ' overflows int')!r})"


def _describe(node: Node) -> str:
    if isinstance(node, StringNode):
        return node.quoted
    if isinstance(node, NumberNode):
        return node.text
    if isinstance(node, BoolNode):
        return "true" if node.true else "false"
    if isinstance(node, DotNode):
        return "."
    if isinstance(node, NilNode):
        return "nil"
    if isinstance(node, FieldNode):
        return "." + ".".join(node.ident)
    if isinstance(node, VariableNode):
        return ".".join(node.ident)
    if isinstance(node, IdentifierNode):
        return node.ident
    return "(...)"


HEADER = """\
# Generated by llmkit.template from a Go text/template; deterministic; do not edit.
"""


def generate(
    trees: dict[str, ListNode], checked: frozenset[str] = CHECKED_FUNCTIONS
) -> GeneratedCode:
    """Python source defining one function per template, and ``TEMPLATES`` by name.

    ``checked`` names the functions whose results need no size check (by default the
    builtins of :data:`CHECKED_FUNCTIONS`); the results of every other function pass
    through ``rt.produced``.
    """
    first = _generate(trees, set(), checked)  # learn which functions are used
    return _generate(trees, first.functions_used, checked)


def _generate(
    trees: dict[str, ListNode], prebound: set[str], checked: frozenset[str]
) -> GeneratedCode:
    gen = _Generator()
    gen.prebound = prebound
    gen.checked = checked
    gen.indent = 0
    gen.lines.append(HEADER.rstrip("\n"))
    functions: dict[str, str] = {}
    for number, name in enumerate(sorted(trees)):
        python = f"_t{number}"
        functions[name] = python
        gen.emit("")
        gen.emit(f"def {python}(rt, dot):  # template {name!r}")
        gen.indent = 1
        gen.scope = _Scope()
        gen.scope.declare("$", "dot")
        gen.dot = "dot"
        gen.pending = 0
        gen.dirty = False
        gen.emit("n = 0")
        gen.emit("p = 0")
        gen.emit("room = rt.room")
        gen.emit("w = rt.out.append")
        gen.emit("tick = rt.tick")
        gen.emit("F = rt.functions")
        gen.emit("rt_template = rt.template")
        for index, function in enumerate(sorted(prebound)):
            gen.emit(f"_f{index} = F[{function!r}]")
        gen.body(trees[name])
        gen.flush()
        last = trees[name].nodes[-1].pos if trees[name].nodes else None
        gen.emit("if n > room: rt.overflow()", last if last is not None and last >= 0 else None)
        gen.emit("return n")
        gen.indent = 0
    gen.emit("")
    gen.emit("TEMPLATES = {" + ", ".join(f"{n!r}: {p}" for n, p in functions.items()) + "}")
    return GeneratedCode("\n".join(gen.lines) + "\n", functions, gen.line_map, gen.functions_used)
