"""Export a compiled Ollama Go template as an equivalent Hugging Face Jinja2 chat template.

:func:`to_jinja` walks the parse tree (:mod:`.nodes`) and writes Jinja source that,
rendered with Hugging Face's variables, gives the same bytes as
:meth:`llmkit.template.Template.render` (current Ollama, ``compat="current"``) for the same
conversation::

    env = jinja2.sandbox.ImmutableSandboxedEnvironment()
    env.from_string(to_jinja(t)).render(messages=messages, tools=tools, think=think)
    == Template(t).render(messages, tools=tools, think=think)

What the exported template reads
    ``messages`` (list of dicts with Ollama's field names: ``role``, ``content``,
    ``thinking``, ``images``, ``tool_calls`` with ``function.name`` / ``function.arguments``
    (an object) / ``function.index`` and ``id``, ``tool_name``, ``tool_call_id``), ``tools``
    (OpenAI shape, or ``None``) and ``think`` (as ``Template.render``: a bool or a level such
    as ``"high"``; when it is undefined ``enable_thinking`` is read instead).  Hugging Face's
    aliases ``reasoning_content`` and ``name`` are *not* read, because Ollama does not read
    them either.  ``add_generation_prompt`` and ``bos_token`` are ignored: an Ollama template
    always decides itself whether to open the assistant's turn, and Ollama's prompt never
    contains the BOS token (llama.cpp adds it when tokenizing).

What the exported template does, inside Jinja
    Ollama's request checks (a think level it does not know, tool-call arguments that are
    not an object: ``raise_exception``) and preprocessing (roles lower-cased; consecutive
    messages of the same role other than ``tool`` merged with ``"\\n\\n"``, the later ones'
    other fields dropped; ``.System`` = all system contents joined with ``"\\n\\n"``; tools
    converted to Ollama's schema subset), then Go's printing: strings verbatim,
    ``true``/``false``, Go's ``%v`` for numbers (``1e+06``), ``map[k:v]`` / ``[a b]`` for
    nested values, Go's ``encoding/json`` (compact, map keys sorted, ``<>&`` as ``\\u003c``
    ..., numbers as Go writes a float64) for ``json``, tools, tool-call arguments and
    properties, and Go struct syntax for ``{{ .Function }}`` of a tool (Ollama issue #14601).
    These are Jinja macros (``go_json``, ``go_float``, ...) built from stock Jinja filters and
    tests only: no filter has to be registered, and Hugging Face's ``tojson`` is not used.
    ``currentDate``/``yesterdayDate`` use Hugging Face's ``strftime_now``; ``index``/``slice``
    out of range and JSON of image data call its ``raise_exception``, where Go fails.  All
    text is written as string literals in ``{{- ... }}`` (template text can never become
    Jinja code), so the result is the same with or without ``trim_blocks``/``lstrip_blocks``;
    ``break``/``continue`` become flags, so the ``loopcontrols`` extension is not needed.
    Constant conditions (``.Suffix``, ``.Response`` on the chat path) are folded away.

Templates without ``.Messages`` (Ollama's legacy path) are exported as a loop over the
collated messages with Ollama's three registers (system, prompt, response), calling the
template as a macro per turn and a copy cut after ``.Response`` for the last turn.

Limits (the export is exact only within them)
    * Only the chat path: the fill-in-the-middle path (``prompt`` + ``suffix``), a
      Modelfile ``system`` and ``image_tags`` have no Hugging Face counterpart.
    * Message ``content`` must be a string or ``None``; tool definitions and arguments must
      be JSON values (``dict``/``list``/``str``/``int``/``float``/``bool``/``None``) with
      string keys.  Numbers are printed as Go prints the ``float64`` Ollama decodes them to
      (``1000000`` -> ``1e+06`` in text, ``1000000`` in JSON; integers beyond 2**53 keep
      Go's shortest digits: ``12345678901234567890`` -> ``12345678901234567000``).  Not
      reproduced: NaN and infinities inside JSON (Go's ``json`` fails and Ollama prints an
      empty string; the export raises), lone surrogates and byte-level string handling
      (``len`` of a string counts UTF-8 bytes via ``str.encode``; ``index``/``slice`` of
      strings are refused).
    * Refused with :class:`JinjaExportError`, which names the construct and its template
      line: what Go can only print with heap addresses or raw bytes (``{{ .Messages }}``, a
      whole message, images, an ``api.ToolProperty``), Go's ``js`` and ``call``, ``printf``
      verbs other than plain ``%s %v %d %t %%``, comparisons, ``len``, ``range`` and field
      access on JSON values of unknown type, ``slice`` of anything but ``.Messages``,
      variables that change type, recursion through ``template``, Ollama's functions in the
      last legacy turn (Ollama runs it without them), and operations that always fail in Go.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from llmkit.errors import JinjaExportError
from llmkit.template import gofmt, gojson, runtime
from llmkit.template.codegen import FUNCTION_ARITY
from llmkit.template.gotemplate import BUILTINS
from llmkit.template.jinja_flow import _exits, _is_atom, _Loop, _loop_exits
from llmkit.template.jinja_macros import _HELPERS, _helper_order, _is_list, _lit
from llmkit.template.jinja_values import (
    _BASIC,
    _ELEMENTS,
    _FIELDS,
    _LOOP_NAMES,
    _MAPS,
    _NATIVE_TRUTH,
    _NILLABLE,
    _STRUCTS,
    K,
    _const,
    _number_value,
    _Val,
)
from llmkit.template.nodes import (
    ActionNode,
    BoolNode,
    BranchNode,
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
from llmkit.template.ollama import OLLAMA_FUNCTIONS, OllamaTemplate, _CutPanic, cut_at_response
from llmkit.template.parser import position
from llmkit.template.runtime import NO_VALUE, ExecError, Runtime

__all__ = ["JinjaExportError", "to_jinja"]


#: Names the export never gives a Go variable: Jinja's words, inputs and its own names.
_RESERVED: Final = frozenset(
    (
        "and", "or", "not", "in", "is", "if", "else", "elif", "endif", "for", "endfor", "true",
        "false", "none", "True", "False", "None", "loop", "self", "caller", "varargs", "kwargs",
        "namespace", "range", "dict", "lipsum", "cycler", "joiner", "macro", "endmacro", "call",
        "set", "block", "extends", "include", "import", "from", "with", "without", "context",
        "raw", "filter", "messages", "tools", "think", "enable_thinking", "add_generation_prompt",
        "bos_token", "eos_token", "raise_exception", "strftime_now", "ollama", "ns", "turn",
        "think_value", "ollama_turn", "ollama_last_turn",
    )
) | frozenset(_HELPERS)  # fmt: skip
#: The legacy turn macros' parameters.
_LEGACY_PARAMS: Final = frozenset({"system", "prompt", "response"})


@dataclass
class _Var:
    ref: str
    val: _Val


@dataclass
class _DeclInfo:
    loop_depth: int
    needs_ns: bool = False
    assigned: bool = False


# -- the exporter -------------------------------------------------------------------------


class _Exporter:
    def __init__(self, template: OllamaTemplate) -> None:
        self.template = template
        self.source = template.source
        self.name = template.name
        self.trees = template.trees
        self.helpers: set[str] = set()
        self.needs: set[str] = set()
        self.names: set[str] = set()
        self.lines: list[str] = []
        self.level = 0
        self.scopes: list[dict[str, _Var]] = []
        self.decls: dict[int, _DeclInfo] = {}
        self.loops: list[_Loop] = []
        self.inlining: list[str] = []
        self.dot = _Val("", K.DATA)
        self.legacy = False
        self.no_functions = False
        self.ns_used = False
        self.node: Node | None = None

    # -- errors and naming ---------------------------------------------------------------

    def refuse(self, reason: str, node: Node | None = None) -> JinjaExportError:
        """The error for something the export cannot express (the caller raises it)."""
        node = node if node is not None else self.node
        pos = node.pos if node is not None else -1
        if pos < 0:
            construct = "{{ .Response }} (appended by Ollama)"
            return JinjaExportError(
                f"cannot export {construct}: {reason}", construct=construct, name=self.name
            )
        start = self.source.rfind("{{", 0, pos + 1)
        end = self.source.find("}}", pos)
        if start < 0 or end < 0 or self.source.rfind("}}", start, pos) >= 0:
            construct = self.source[pos : pos + 60]
        else:
            construct = self.source[start : end + 2]
        if len(construct) > 100:
            construct = construct[:97] + "..."
        line, column, source_line = position(self.source, pos)
        return JinjaExportError(
            f"cannot export {construct} (line {line}): {reason}",
            construct=construct,
            name=self.name,
            line=line,
            column=column,
            source_line=source_line,
        )

    def fresh(self, base: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_]", "_", base).strip("_") or "v"
        if base[0].isdigit():
            base = "v" + base
        name = base
        number = 1
        while name in self.names or name in _RESERVED or (self.legacy and name in _LEGACY_PARAMS):
            number += 1
            name = f"{base}_{number}"
        self.names.add(name)
        return name

    def use(self, helper: str) -> str:
        self.helpers.add(helper)
        return helper

    # -- output ----------------------------------------------------------------------------

    def emit(self, statement: str) -> None:
        self.lines.append("  " * self.level + statement)

    def text(self, text: str) -> None:
        if not text:
            return
        for piece in re.findall(r"[^\n]*\n+|[^\n]+", text):
            self.emit(f"{{{{- {_lit(piece)} }}}}")

    def output(self, expr: str) -> None:
        self.emit(f"{{{{- {expr} }}}}")

    # -- variables --------------------------------------------------------------------------

    def analyse(self, root: ListNode) -> None:
        """Which variables are assigned, and which from inside a deeper loop (need ``ns``)."""
        scopes: list[dict[str, _DeclInfo]] = [{"$": _DeclInfo(0)}]

        def lookup(name: str) -> _DeclInfo | None:
            for scope in reversed(scopes):
                if name in scope:
                    return scope[name]
            return None

        def pipe(node: PipeNode | None, depth: int) -> None:
            if node is None:
                return
            for cmd in node.cmds:
                for arg in cmd.args:
                    if isinstance(arg, PipeNode):
                        pipe(arg, depth)
            for variable in node.decl:
                if node.is_assign:
                    info = lookup(variable.ident[0])
                    if info is not None:
                        info.assigned = True
                        info.needs_ns |= depth > info.loop_depth
                else:
                    info = _DeclInfo(depth)
                    self.decls[id(variable)] = info
                    scopes[-1][variable.ident[0]] = info

        def walk(node: Node | None, depth: int) -> None:
            if isinstance(node, ListNode):
                for child in node.nodes:
                    walk(child, depth)
            elif isinstance(node, ActionNode):
                pipe(node.pipe, depth)
            elif isinstance(node, RangeNode):
                scopes.append({})
                pipe(node.pipe, depth + 1)
                scopes.append({})
                walk(node.list, depth + 1)
                scopes.pop()
                scopes.append({})
                walk(node.else_list, depth)
                scopes.pop()
                scopes.pop()
            elif isinstance(node, BranchNode):
                scopes.append({})
                pipe(node.pipe, depth)
                for body in (node.list, node.else_list):
                    scopes.append({})
                    walk(body, depth)
                    scopes.pop()
                scopes.pop()
            elif isinstance(node, TemplateNode):
                pipe(node.pipe, depth)

        walk(root, 0)

    def lookup(self, name: str) -> _Var:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise self.refuse(f"variable {name} is not defined here")

    def declare(self, variable: VariableNode, val: _Val, *, origin: str | None = None) -> str:
        """A new Go variable holding ``val``; returns its Jinja reference."""
        info = self.decls.get(id(variable), _DeclInfo(0))
        if val.kind is K.UNION and val.truth is not None:
            raise self.refuse("a variable cannot hold an and/or result of mixed types")
        base = self.fresh(variable.ident[0].lstrip("$") or "v")
        if info.needs_ns:
            self.ns_used = True
            ref = f"ns.{base}"
        else:
            ref = base
        stored = _Val(
            ref,
            val.kind,
            truth=None,
            origin=origin if not info.assigned else None,
        )
        self.scopes[-1][variable.ident[0]] = _Var(ref, stored)
        return ref

    def assign(self, variable: VariableNode, val: _Val) -> None:
        var = self.lookup(variable.ident[0])
        if var.val.kind is not val.kind:
            raise self.refuse(
                f"variable {variable.ident[0]} changes type ({var.val.kind.value} to "
                f"{val.kind.value})"
            )
        self.emit(f"{{%- set {var.ref} = {val.expr} %}}")

    # -- templates ---------------------------------------------------------------------------

    def body(self, root: ListNode, dot: _Val) -> None:
        """One execution of a Go template: fresh variables, ``$`` and dot."""
        saved = (self.scopes, self.dot, self.loops)
        self.scopes = [{"$": _Var(dot.expr, dot)}]
        self.dot = dot
        self.loops = []
        self.analyse(root)
        self.block(root.nodes)
        self.scopes, self.dot, self.loops = saved

    def block(self, nodes: list[Node]) -> None:
        """A list of statements; after one that may ``continue``/``break``, guard the rest."""
        for index, node in enumerate(nodes):
            if isinstance(node, ContinueNode | BreakNode):
                loop = self.loops[-1]
                self.emit(f"{{%- set {loop.skip} = true %}}")
                if isinstance(node, BreakNode):
                    self.emit(f"{{%- set {loop.stop} = true %}}")
                return
            self.statement(node)
            rest = nodes[index + 1 :]
            if rest and self.loops and _exits(node):
                self.emit(f"{{%- if not {self.loops[-1].skip} %}}")
                self.level += 1
                self.block(rest)
                self.level -= 1
                self.emit("{%- endif %}")
                return

    def statement(self, node: Node) -> None:
        self.node = node
        if isinstance(node, TextNode):
            self.text(node.text)
        elif isinstance(node, ActionNode):
            self.action(node)
        elif isinstance(node, IfNode):
            self.if_node(node)
        elif isinstance(node, WithNode):
            self.with_node(node)
        elif isinstance(node, RangeNode):
            self.range_node(node)
        elif isinstance(node, TemplateNode):
            self.template_node(node)
        else:  # pragma: no cover - the parser makes no other statements
            raise self.refuse(f"unexpected node {type(node).__name__}", node)

    def scoped(self, nodes: list[Node], dot: _Val | None = None, *, indent: bool = True) -> None:
        saved = self.dot
        if dot is not None:
            self.dot = dot
        self.scopes.append({})
        self.level += indent
        self.block(nodes)
        self.level -= indent
        self.scopes.pop()
        self.dot = saved

    def action(self, node: ActionNode) -> None:
        pipe = node.pipe
        val = self.pipeline(pipe, node)
        if pipe.decl:
            self.bind(pipe, val, node)
            return
        if val.is_const:
            self.text(Runtime.printable(val.const))
        else:
            self.output(self.printed(val, node))

    def bind(self, pipe: PipeNode, val: _Val, node: Node) -> _Val:
        """Declare or assign the pipeline's variables; returns the value as stored."""
        if len(pipe.decl) != 1:
            raise self.refuse("only one variable can be declared outside range", node)
        variable = pipe.decl[0]
        if pipe.is_assign:
            self.assign(variable, val)
            return self.lookup(variable.ident[0]).val
        ref = self.declare(variable, val)
        self.emit(f"{{%- set {ref} = {val.expr} %}}")
        return self.lookup(variable.ident[0]).val

    def condition(self, pipe: PipeNode, node: Node) -> tuple[_Val, str | None]:
        """The value of an if/with pipeline and its Jinja truth (``None`` when constant)."""
        val = self.pipeline(pipe, node)
        if pipe.decl:
            val = self.bind(pipe, val, node)
        return val, None if self.const_truth(val) is not None else self.truth(val)

    def if_node(self, node: IfNode) -> None:
        """``if``/``else if`` chains become ``if``/``elif``; constant conditions are folded."""
        depth = len(self.scopes)
        opened = False
        current: IfNode | None = node
        while current is not None:
            self.node = current
            self.scopes.append({})  # the pipeline's variables live until {{ end }}
            cond, truth = self.condition(current.pipe, current)
            known = self.const_truth(cond)
            rest = current.else_list.nodes if current.else_list is not None else []
            if known is True:
                if opened:
                    self.emit("{%- else %}")
                self.scoped(current.list.nodes, indent=opened)
                current = None
            elif known is False:
                follower = rest[0] if len(rest) == 1 else None
                if isinstance(follower, IfNode) and not follower.pipe.decl:
                    current = follower
                else:
                    if rest and opened:
                        self.emit("{%- else %}")
                    self.scoped(rest, indent=opened)
                    current = None
            else:
                self.emit(f"{{%- {'elif' if opened else 'if'} {truth} %}}")
                opened = True
                self.scoped(current.list.nodes)
                follower = rest[0] if len(rest) == 1 else None
                if isinstance(follower, IfNode) and not follower.pipe.decl:
                    current = follower
                else:
                    if rest:
                        self.emit("{%- else %}")
                        self.scoped(rest)
                    current = None
        if opened:
            self.emit("{%- endif %}")
        del self.scopes[depth:]

    def with_node(self, node: WithNode) -> None:
        self.scopes.append({})
        val, truth = self.condition(node.pipe, node)
        known = self.const_truth(val)
        if known is not None:
            if known:
                self.scoped(node.list.nodes, dot=val, indent=False)
            elif node.else_list is not None:
                self.scoped(node.else_list.nodes, indent=False)
            self.scopes.pop()
            return
        if not node.pipe.decl and not _is_atom(val.expr) and val.kind is not K.UNION:
            name = self.fresh("value")
            self.emit(f"{{%- set {name} = {val.expr} %}}")
            val = _Val(name, val.kind, origin=val.origin)
        self.emit(f"{{%- if {truth} %}}")
        self.scoped(node.list.nodes, dot=val)
        if node.else_list is not None and node.else_list.nodes:
            self.emit("{%- else %}")
            self.scoped(node.else_list.nodes)
        self.emit("{%- endif %}")
        self.scopes.pop()

    def range_node(self, node: RangeNode) -> None:
        pipe = node.pipe
        self.scopes.append({})
        val = self.pipeline(pipe, node)
        if val.kind is K.NOVALUE:  # Go ranges over nothing
            if node.else_list is not None:
                self.scoped(node.else_list.nodes, indent=False)
            self.scopes.pop()
            return
        two = len(pipe.decl) > 1
        if val.kind in _ELEMENTS:
            element = _ELEMENTS[val.kind]
            iterable = f"({val.expr} or [])" if val.kind in _NILLABLE else val.expr
        elif val.kind in _MAPS:
            element = _MAPS[val.kind]
            iterable = f"({val.expr} or {{}})|dictsort(true)"
        elif val.kind is K.INT and not two:
            element, iterable = K.INT, f"range({val.expr})"
        else:
            raise self.refuse(f"cannot range over a {val.kind.value} in the export", node)
        key_decl = pipe.decl[0] if two else None
        elem_decl = pipe.decl[-1] if pipe.decl else None
        hint = elem_decl.ident[0].lstrip("$") if elem_decl is not None else ""
        elem_name = self.fresh(hint if hint not in ("", "_") else _LOOP_NAMES.get(element, "item"))
        if val.kind in _MAPS:
            key_name = self.fresh(key_decl.ident[0].lstrip("$") if key_decl else "key")
            target = f"{key_name}, {elem_name}"
            key_val = _Val(key_name, K.STR)
        else:
            target = elem_name
            key_val = _Val("loop.index0", K.INT)
        elem_val = _Val(elem_name, element, raw=True)
        exits = _loop_exits(node.list)
        loop = _Loop(skip="", stop="")
        if exits:
            self.ns_used = True
            loop.skip = f"ns.{self.fresh('skip')}"
            loop.stop = f"ns.{self.fresh('stop')}"
        if "break" in exits:
            self.emit(f"{{%- set {loop.stop} = false %}}")
        self.emit(f"{{%- for {target} in {iterable} %}}")
        self.level += 1
        if "break" in exits:
            self.emit(f"{{%- if not {loop.stop} %}}")
            self.level += 1
        if exits:
            self.emit(f"{{%- set {loop.skip} = false %}}")
        self.scopes.append({})
        pairs: list[tuple[VariableNode, _Val, str | None]] = []
        if key_decl is not None:
            pairs.append((key_decl, key_val, val.expr if val.kind in _ELEMENTS else None))
        if elem_decl is not None:
            pairs.append((elem_decl, elem_val, None))
        for variable, value, origin in pairs:
            if pipe.is_assign:
                var = self.lookup(variable.ident[0])
                if var.val.kind is not value.kind:
                    raise self.refuse(f"variable {variable.ident[0]} changes type", node)
                self.emit(f"{{%- set {var.ref} = {value.expr} %}}")
                continue
            info = self.decls.get(id(variable), _DeclInfo(0))
            if value.expr != "loop.index0" and not info.needs_ns:  # the loop's own variable
                self.scopes[-1][variable.ident[0]] = _Var(value.expr, _Val(value.expr, value.kind))
                continue
            ref = self.declare(variable, value, origin=origin)
            self.emit(f"{{%- set {ref} = {value.expr} %}}")
        saved_dot = self.dot
        self.dot = elem_val
        self.loops.append(loop)
        self.block(node.list.nodes)
        self.loops.pop()
        self.dot = saved_dot
        self.scopes.pop()
        if "break" in exits:
            self.level -= 1
            self.emit("{%- endif %}")
        self.level -= 1
        if node.else_list is not None and node.else_list.nodes:
            self.emit("{%- else %}")
            self.scoped(node.else_list.nodes)
        self.emit("{%- endfor %}")
        self.scopes.pop()

    def template_node(self, node: TemplateNode) -> None:
        tree = self.trees.get(node.name)
        if tree is None:
            raise self.refuse(f'template "{node.name}" is not defined (Go fails here)', node)
        if node.name in self.inlining or len(self.inlining) > 20:
            raise self.refuse(f'template "{node.name}" calls itself', node)
        dot = self.pipeline(node.pipe, node) if node.pipe is not None else _const(NO_VALUE)
        if not _is_atom(dot.expr) and not dot.is_const and dot.kind not in (K.DATA, K.UNION):
            name = self.fresh("dot")
            self.emit(f"{{%- set {name} = {dot.expr} %}}")
            dot = _Val(name, dot.kind, dot.const, dot.truth, origin=dot.origin)
        self.inlining.append(node.name)
        self.body(tree, dot)
        self.inlining.pop()

    # -- expressions -------------------------------------------------------------------------

    def pipeline(self, pipe: PipeNode, node: Node) -> _Val:
        val: _Val | None = None
        for cmd in pipe.cmds:
            val = self.command(cmd, val, node)
        assert val is not None
        if val.raw:
            val = _Val(val.expr, val.kind, val.const, val.truth, origin=val.origin, of=val.of)
        return val

    def command(self, cmd: CommandNode, final: _Val | None, node: Node) -> _Val:
        first, args = cmd.args[0], cmd.args[1:]
        if isinstance(first, IdentifierNode):
            return self.call(first.ident, args, final, node)
        if args or final is not None:
            raise self.refuse("arguments given to a non-function (Go fails here)", node)
        return self.term(first, node)

    def term(self, arg: Node, node: Node) -> _Val:
        if isinstance(arg, FieldNode):
            return self.fields(self.dot, arg.ident, node)
        if isinstance(arg, VariableNode):
            var = self.lookup(arg.ident[0])
            if len(arg.ident) == 1:
                return var.val
            return self.fields(var.val, arg.ident[1:], node)
        if isinstance(arg, ChainNode):
            if isinstance(arg.node, NilNode):
                raise self.refuse("indirection through nil (Go fails here)", node)
            return self.fields(self.term(arg.node, node), arg.field, node)
        if isinstance(arg, PipeNode):
            if arg.decl:
                raise self.refuse("variables declared inside parentheses", node)
            return self.pipeline(arg, node)
        if isinstance(arg, IdentifierNode):
            return self.call(arg.ident, [], None, node)
        if isinstance(arg, DotNode):
            return self.dot
        if isinstance(arg, StringNode):
            return _const(arg.text)
        if isinstance(arg, BoolNode):
            return _const(arg.true)
        if isinstance(arg, NumberNode):
            value = _number_value(arg)
            if value is None:
                raise self.refuse(f"number {arg.text} is not an int or float64 constant", node)
            return _const(value)
        raise self.refuse("nil is not a value here (Go fails here)", node)

    def fields(self, val: _Val, names: list[str], node: Node) -> _Val:
        for name in names:
            val = self.field(val, name, node)
        return val

    def field(self, val: _Val, name: str, node: Node) -> _Val:
        if val.kind is K.NOVALUE:
            return _Val("none", K.NOVALUE, NO_VALUE, raw=True)
        if val.kind is K.DATA:
            return self.data_field(name)
        table = _FIELDS.get(val.kind)
        if table is not None:
            if name not in table:
                raise self.refuse(
                    f"can't evaluate field {name} in type {val.kind.value} (Go fails here)"
                )
            kind, build = table[name]
            return _Val(build(val.expr), kind, raw=True, of=val.expr)
        if val.kind is K.ARGS:
            return _Val(f"({val.expr} or {{}}).get({_lit(name)})", K.ANY, raw=True)
        raise self.refuse(f"field {name} of a {val.kind.value} is not supported", node)

    def data_field(self, name: str) -> _Val:
        think = {"Think": K.BOOL, "ThinkLevel": K.STR, "IsThinkSet": K.BOOL}
        if name in think:
            self.needs.add("think")
            snake = {"Think": "think", "ThinkLevel": "think_level", "IsThinkSet": "is_think_set"}
            return _Val(f"ollama.{snake[name]}", think[name], raw=True)
        if self.legacy:
            if name in ("System", "Prompt", "Response"):
                return _Val(name.lower(), K.STR, raw=True)
            return _Val("none", K.NOVALUE, NO_VALUE, raw=True)
        if name == "System":
            self.needs.add("messages")
            return _Val("ollama.system", K.STR, raw=True)
        if name == "Messages":
            self.needs.add("messages")
            return _Val("ollama.messages", K.MESSAGES, raw=True)
        if name == "Tools":
            self.needs.add("tools")
            return _Val("ollama.tools", K.TOOLS, raw=True)
        if name == "Response":
            return _Val("''", K.STR, "", raw=True)
        return _Val("none", K.NOVALUE, NO_VALUE, raw=True)

    # truth

    def const_truth(self, val: _Val) -> bool | None:
        if val.is_const:
            return runtime.truth(val.const)
        if val.kind in _STRUCTS:
            return True
        return None

    def truth(self, val: _Val) -> str:
        known = self.const_truth(val)
        if known is not None:
            return "true" if known else "false"
        if val.truth is not None:
            return val.truth
        if val.kind in _NATIVE_TRUTH or val.kind is K.UNION:  # a UNION here has native truth
            return val.expr
        if val.kind is K.PROPMAP:
            return f"({val.expr} is not none)"
        raise self.refuse(f"the truth of a {val.kind.value} is not supported")  # pragma: no cover

    # printing

    def printed(self, val: _Val, node: Node) -> str:
        """Jinja expression of the text Go prints for ``val`` (``{{ val }}``)."""
        kind, e = val.kind, val.expr
        if val.is_const:
            return _lit(Runtime.printable(val.const))
        if kind is K.UNION and val.alts:
            return self.choose(val.alts, val.is_and, lambda v: self.printed(v, node))
        if kind is K.STR or kind is K.INT:
            return e
        if kind is K.BOOL:
            return f"('true' if {e} else 'false')"
        if kind is K.FLOAT:
            return f"{self.use('go_float')}({e}, false)"
        if kind is K.ANY:
            return f"('<no value>' if {e} is none else {self.use('go_text')}({e}))"
        if kind is K.ARGS:
            return f"{self.use('go_json')}({e} or {{}})"
        if kind is K.TOOLS:
            return f"('null' if {e} is none else {self.use('go_tools_json')}({e}))"
        if kind is K.TOOL:
            return f"{self.use('go_tool_json')}({e})"
        if kind is K.TOOLFN:
            return f"{self.use('go_toolfn_text')}({e})"
        if kind is K.PARAMS:
            return f"{self.use('go_params_text')}({e})"
        if kind is K.PROPS:
            return f"('{{}}' if {e} is none else {self.use('go_props_json')}({e}))"
        if kind is K.PROPTYPE and val.of is not None:
            return f"{self.use('go_prop_type')}({val.of})"
        if kind is K.PROPTYPE:
            return f"({e}[0] if {e}|length == 1 else ('[' ~ {e}|join(' ') ~ ']' if {e} else ''))"
        if kind is K.STRLIST:
            return f"('[' ~ ({e} or [])|join(' ') ~ ']')"
        if kind is K.ANYLIST:
            return f"{self.use('go_text')}({e} or [])"
        if kind is K.CALLFN:
            return (
                f"('{{' ~ {e}['index'] ~ ' ' ~ {e}['name'] ~ ' ' ~ "
                f"{self.use('go_json')}({e}['arguments'] or {{}}) ~ '}}')"
            )
        if kind is K.CALL:
            return f"{self.use('go_call_text')}({e})"
        if kind is K.CALLS:
            return f"{self.use('go_calls_text')}({e})"
        reasons = {
            K.MESSAGES: "Go prints the messages as heap addresses",
            K.MESSAGE: "printing a whole message (Go struct syntax with image bytes)",
            K.IMAGES: "printing image bytes",
            K.PROP: "printing an api.ToolProperty (Go struct syntax with a pointer address)",
            K.PROPLIST: "printing api.ToolProperty values (Go struct syntax with pointers)",
            K.PROPMAP: "Go prints nested properties as a heap address",
            K.DATA: "printing the whole data map (it holds pointers)",
            K.UNION: "printing an and/or result whose type is not known in advance",
            K.NOVALUE: "printing no value",
        }
        raise self.refuse(reasons.get(kind, f"printing a {kind.value}"), node)

    def json(self, val: _Val, node: Node) -> str:
        """Jinja expression of ``json val``."""
        kind, e = val.kind, val.expr
        if kind is K.UNION and val.alts:
            return self.choose(val.alts, val.is_and, lambda v: self.json(v, node))
        if val.is_const:
            try:
                return _lit(gojson.go_json(None if val.const is NO_VALUE else val.const))
            except ValueError:
                return "''"
        simple = {
            K.STR: "go_json", K.ANY: "go_json", K.ARGS: "go_json", K.STRLIST: "go_json",
            K.ANYLIST: "go_json", K.TOOL: "go_tool_json", K.TOOLFN: "go_toolfn_json",
            K.PARAMS: "go_params_json", K.PROP: "go_prop_json", K.CALL: "go_call_json",
            K.CALLS: "go_calls_json", K.MESSAGE: "go_message_json",
            K.MESSAGES: "go_messages_json",
        }  # fmt: skip
        if kind is K.MESSAGES:  # every slice of no messages is Go's nil slice: null
            return f"{self.use(simple[kind])}({e}, ollama.messages)"
        if kind in simple:
            return f"{self.use(simple[kind])}({e})"
        if kind is K.INT:
            return f"({e}|string)"
        if kind is K.BOOL:
            return f"('true' if {e} else 'false')"
        if kind is K.FLOAT:
            return f"{self.use('go_float')}({e}, true)"
        if kind is K.TOOLS:
            return f"('null' if {e} is none else {self.use('go_tools_json')}({e}))"
        if kind is K.PROPS:
            return f"('null' if {e} is none else {self.use('go_props_json')}({e}))"
        if kind is K.PROPTYPE and val.of is not None:
            return f"{self.use('go_prop_type')}({val.of}, true)"
        if kind is K.PROPTYPE:
            return f"{self.use('go_json')}({e}[0] if {e}|length == 1 else {e})"
        if kind is K.PROPLIST:
            return f"('null' if {e} is none else {self.use('go_proplist_json')}({e}))"
        if kind is K.PROPMAP:
            return f"('null' if {e} is none else {self.use('go_propmap_json')}({e}))"
        if kind is K.CALLFN:
            go_json = self.use("go_json")
            return (
                f"('{{\"Index\":' ~ {e}['index'] ~ ',\"Name\":' ~ {go_json}({e}['name'])"
                f" ~ ',\"Arguments\":' ~ {go_json}({e}['arguments']) ~ '}}')"
            )
        raise self.refuse(f"json of a {kind.value} is not supported", node)

    def text_of(self, val: _Val, node: Node) -> str:
        """Jinja expression of ``val`` printed by fmt's %v (``print``, ``printf %v``)."""
        if val.kind is K.NOVALUE:
            return "'<nil>'"
        if val.kind is K.ANY:
            raise self.refuse("printing a JSON value of unknown type with print/printf", node)
        if val.kind is K.INT:
            return f"({val.expr}|string)"
        if val.kind is K.UNION and val.alts:
            return self.choose(val.alts, val.is_and, lambda v: self.text_of(v, node))
        return self.printed(val, node)

    # -- functions ---------------------------------------------------------------------------

    def call(self, name: str, arg_nodes: list[Node], final: _Val | None, node: Node) -> _Val:
        count = len(arg_nodes) + (final is not None)
        low, high = FUNCTION_ARITY.get(name, (0, None))
        if count < low or (high is not None and count > high):
            raise self.refuse(f"wrong number of arguments for {name} (Go fails here)", node)
        if self.no_functions and name in OLLAMA_FUNCTIONS:
            raise self.refuse(
                "Ollama runs the last turn of a legacy template without its functions, so "
                f'"{name}" '
                "is not defined there (Go fails here)",
                node,
            )
        args = [self.term(arg, node) for arg in arg_nodes]
        if final is not None:
            args.append(final)
        handler = getattr(self, f"fn_{name}", None)
        if handler is None:
            raise self.refuse(f"the function {name} cannot be expressed in Jinja", node)
        result: _Val = handler(args, node)
        return result

    def value_args(self, args: list[_Val], node: Node, name: str) -> None:
        for arg in args:
            if arg.kind is K.NOVALUE and not arg.raw:
                raise self.refuse(f"{name} of no value (Go fails here)", node)

    def fold(self, name: str, args: list[_Val], node: Node) -> _Val | None:
        """Evaluate a builtin at export time when all its arguments are constants."""
        if not all(arg.is_const for arg in args):
            return None
        values = [None if arg.const is NO_VALUE else arg.const for arg in args]
        function: Callable[..., Any] = gofmt.sprintf if name == "printf" else BUILTINS[name]
        try:
            return _const(function(*values))
        except ExecError as exc:
            raise self.refuse(f"{name} fails in Go: {exc}", node) from None
        except (ValueError, TypeError, OverflowError) as exc:
            raise self.refuse(f"{name} fails: {exc}", node) from None

    def fn_and(self, args: list[_Val], node: Node) -> _Val:
        return self.and_or(args, node, is_and=True)

    def fn_or(self, args: list[_Val], node: Node) -> _Val:
        return self.and_or(args, node, is_and=False)

    def and_or(self, args: list[_Val], node: Node, *, is_and: bool) -> _Val:
        self.value_args(args, node, "and" if is_and else "or")
        kept: list[_Val] = []
        for index, arg in enumerate(args):
            known = self.const_truth(arg)
            last = index == len(args) - 1
            if known is not None and not last:
                if known != is_and:  # decides: and's false / or's true
                    if not kept:
                        return arg
                    kept.append(arg)
                    break
                continue  # a constant that passes the value on
            kept.append(arg)
            if known is not None:
                break
        if len(kept) == 1:
            return kept[0]
        kinds = {arg.kind for arg in kept}
        kind = kept[0].kind if len(kinds) == 1 else K.UNION
        alts = tuple(kept)
        joiner = " and " if is_and else " or "
        if all(arg.kind in _NATIVE_TRUTH or arg.kind is K.NOVALUE for arg in kept):
            expr = "(" + joiner.join(arg.expr for arg in kept) + ")"
            return _Val(expr, kind, alts=alts, is_and=is_and)
        truth = "(" + joiner.join(self.truth(arg) for arg in kept) + ")"
        return _Val(
            self.choose(alts, is_and, lambda v: v.expr), kind, truth=truth, alts=alts, is_and=is_and
        )

    def choose(self, alts: tuple[_Val, ...], is_and: bool, form: Callable[[_Val], str]) -> str:
        """Jinja picking ``form`` of the operand an ``and``/``or`` returns."""
        expr = form(alts[-1])
        for arg in reversed(alts[:-1]):
            if is_and:
                expr = f"({expr} if {self.truth(arg)} else {form(arg)})"
            else:
                expr = f"({form(arg)} if {self.truth(arg)} else {expr})"
        return expr

    def fn_not(self, args: list[_Val], node: Node) -> _Val:
        self.value_args(args, node, "not")
        known = self.const_truth(args[0])
        if known is not None:
            return _const(not known)
        return _Val(f"(not {self.truth(args[0])})", K.BOOL)

    def compare(self, name: str, a: _Val, b: _Val, node: Node) -> str | bool:
        """Jinja for one ``eq``/``ne``/``lt``/... comparison, or its constant result."""
        if a.kind is K.ANY or b.kind is K.ANY:
            raise self.refuse(f"{name} on a JSON value of unknown type", node)
        if a.kind is K.NOVALUE or b.kind is K.NOVALUE:
            if name == "eq":
                return a.kind is b.kind
            raise self.refuse(f"{name} of no value (Go fails here)", node)
        if a.kind not in _BASIC or b.kind not in _BASIC:
            raise self.refuse(
                f"{name} of {a.kind.value} and {b.kind.value} (not basic types; Go fails or "
                "compares identity)",
                node,
            )
        if a.kind is not b.kind:
            raise self.refuse(
                f"incompatible types for comparison: {a.kind.value} and {b.kind.value}"
            )
        if name in ("lt", "le", "gt", "ge") and a.kind is K.BOOL:
            raise self.refuse("invalid type for comparison: bool", node)
        op = {"eq": "==", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[name]
        return f"({a.expr} {op} {b.expr})"

    def fn_eq(self, args: list[_Val], node: Node) -> _Val:
        self.value_args(args, node, "eq")
        if len(args) < 2:
            raise self.refuse("missing argument for comparison (Go fails here)", node)
        folded = self.fold("eq", args, node)
        if folded is not None:
            return folded
        parts: list[str] = []
        for other in args[1:]:
            result = self.compare("eq", args[0], other, node)
            if result is True:
                return _const(True)
            if result is not False:
                parts.append(result)
        if not parts:
            return _const(False)
        return _Val(parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")", K.BOOL)

    def fn_ne(self, args: list[_Val], node: Node) -> _Val:
        equal = self.fn_eq(args, node)
        if equal.is_const:
            return _const(not equal.const)
        return _Val(f"(not {equal.expr})", K.BOOL)

    def _order(self, name: str, args: list[_Val], node: Node) -> _Val:
        self.value_args(args, node, name)
        folded = self.fold(name, args, node)
        if folded is not None:
            return folded
        result = self.compare(name, args[0], args[1], node)
        assert isinstance(result, str)
        return _Val(result, K.BOOL)

    def fn_lt(self, args: list[_Val], node: Node) -> _Val:
        return self._order("lt", args, node)

    def fn_le(self, args: list[_Val], node: Node) -> _Val:
        return self._order("le", args, node)

    def fn_gt(self, args: list[_Val], node: Node) -> _Val:
        return self._order("gt", args, node)

    def fn_ge(self, args: list[_Val], node: Node) -> _Val:
        return self._order("ge", args, node)

    def fn_len(self, args: list[_Val], node: Node) -> _Val:
        self.value_args(args, node, "len")
        (item,) = args
        folded = self.fold("len", args, node)
        if folded is not None:
            return folded
        kind, e = item.kind, item.expr
        if kind is K.STR:
            return _Val(f"({e}.encode('utf-8')|length)", K.INT)
        if kind in (K.MESSAGES, K.CALLS, K.IMAGES, K.PROPTYPE):
            return _Val(f"({e}|length)", K.INT)
        if kind in (K.TOOLS, K.STRLIST, K.ANYLIST, K.PROPLIST):
            return _Val(f"(({e} or [])|length)", K.INT)
        if kind in (K.ARGS, K.PROPS):
            return _Val(f"(({e} or {{}})|length)", K.INT)
        raise self.refuse(f"len of {kind.value} (Go fails here or the type is not known)", node)

    def fn_index(self, args: list[_Val], node: Node) -> _Val:
        self.value_args(args, node, "index")
        item, keys = args[0], args[1:]
        folded = self.fold("index", args, node)
        if folded is not None:
            return folded
        for key in keys:
            item = self.index_one(item, key, node)
        return item

    def index_one(self, item: _Val, key: _Val, node: Node) -> _Val:
        kind, e = item.kind, item.expr
        if (kind in _ELEMENTS and kind is not K.PROPTYPE) or kind is K.PROPTYPE:
            if key.kind is not K.INT:
                raise self.refuse(
                    f"cannot index a list with {key.kind.value} (Go fails here)", node
                )
            target = f"({e} or [])" if kind in _NILLABLE else e
            element = _ELEMENTS[kind]
            if key.origin is not None and key.origin == e:
                return _Val(f"{target}[{key.expr}]", element, raw=True)
            return _Val(
                f"({target}[{key.expr}] if 0 <= {key.expr} < {target}|length else "
                f"raise_exception('index out of range: ' ~ {key.expr}))",
                element,
                raw=True,
            )
        if kind is K.ARGS:
            if key.kind is not K.STR:
                raise self.refuse(f"cannot index a map with {key.kind.value} (Go fails here)", node)
            return _Val(f"({e} or {{}}).get({key.expr})", K.ANY, raw=True)
        raise self.refuse(f"index of {kind.value} is not supported in the export", node)

    def fn_slice(self, args: list[_Val], node: Node) -> _Val:
        self.value_args(args, node, "slice")
        item, indexes = args[0], args[1:]
        folded = self.fold("slice", args, node)
        if folded is not None:
            return folded
        if item.kind is not K.MESSAGES:
            raise self.refuse(f"slice of {item.kind.value} is not supported in the export", node)
        if len(indexes) > 2 or any(i.kind is not K.INT for i in indexes):
            raise self.refuse("slice takes up to two int indexes here", node)
        e = item.expr
        if not indexes:
            return item
        low = indexes[0].expr
        if len(indexes) == 1:
            if indexes[0].origin == e:
                return _Val(f"{e}[{low}:]", K.MESSAGES)
            return _Val(
                f"({e}[{low}:] if 0 <= {low} <= {e}|length else "
                f"raise_exception('slice index out of range: ' ~ {low}))",
                K.MESSAGES,
            )
        high = indexes[1].expr
        return _Val(
            f"({e}[{low}:{high}] if 0 <= {low} <= {high} <= {e}|length else "
            f"raise_exception('slice index out of range'))",
            K.MESSAGES,
        )

    def fn_print(self, args: list[_Val], node: Node) -> _Val:
        folded = self.fold("print", args, node)
        if folded is not None:
            return folded
        parts: list[str] = []
        strings = [self.is_string(arg, node) for arg in args]
        for index, arg in enumerate(args):
            if index and not strings[index] and not strings[index - 1]:
                parts.append("' '")
            parts.append(self.text_of(arg, node))
        return _Val("(" + " ~ ".join(parts or ["''"]) + ")", K.STR)

    def is_string(self, val: _Val, node: Node) -> bool:
        """Whether ``print`` sees a string (it puts spaces only between non-strings)."""
        if val.kind is K.UNION:
            kinds = {self.is_string(alt, node) for alt in val.alts}
            if len(kinds) != 1:
                raise self.refuse("print of an and/or result that may or may not be a string", node)
            return kinds.pop()
        if val.kind is K.ANY:
            raise self.refuse("print of a JSON value of unknown type", node)
        return val.kind is K.STR

    def fn_println(self, args: list[_Val], node: Node) -> _Val:
        folded = self.fold("println", args, node)
        if folded is not None:
            return folded
        parts = [self.text_of(arg, node) for arg in args]
        return _Val("(" + " ~ ' ' ~ ".join(parts) + (" ~ " if parts else "") + "'\\n')", K.STR)

    def fn_printf(self, args: list[_Val], node: Node) -> _Val:
        folded = self.fold("printf", args, node)
        if folded is not None:
            return folded
        fmt = args[0]
        if not fmt.is_const or not isinstance(fmt.const, str):
            raise self.refuse("printf with a format that is not a string constant", node)
        values = args[1:]
        parts: list[str] = []
        literal: list[str] = []
        used = 0
        chars = fmt.const
        i = 0
        while i < len(chars):
            ch = chars[i]
            if ch != "%":
                literal.append(ch)
                i += 1
                continue
            verb = chars[i + 1] if i + 1 < len(chars) else ""
            i += 2
            if verb == "%":
                literal.append("%")
                continue
            if verb not in ("s", "v", "d", "t"):
                raise self.refuse(
                    f"printf verb %{verb} (only plain %s %v %d %t %% are exported)", node
                )
            if used >= len(values):
                raise self.refuse("printf has more verbs than arguments", node)
            arg = values[used]
            used += 1
            if literal:
                parts.append(_lit("".join(literal)))
                literal = []
            parts.append(self.printf_arg(verb, arg, node))
        if used != len(values):
            raise self.refuse("printf has more arguments than verbs", node)
        if literal:
            parts.append(_lit("".join(literal)))
        return _Val("(" + " ~ ".join(parts or ["''"]) + ")", K.STR)

    def printf_arg(self, verb: str, arg: _Val, node: Node) -> str:
        kind = arg.kind
        if kind is K.UNION and arg.alts:
            return self.choose(arg.alts, arg.is_and, lambda v: self.printf_arg(verb, v, node))
        if arg.is_const:
            return _lit(gofmt.sprintf(f"%{verb}", None if arg.const is NO_VALUE else arg.const))
        if verb == "d" and kind is K.INT:
            return f"({arg.expr}|string)"
        if verb == "t" and kind is K.BOOL:
            return self.printed(arg, node)
        if verb == "v" and kind not in (K.NOVALUE, K.ANY):
            return self.text_of(arg, node)
        if verb == "s" and kind not in (K.INT, K.BOOL, K.FLOAT, K.NOVALUE, K.ANY):
            return self.text_of(arg, node)
        raise self.refuse(f"printf %{verb} of a {kind.value}", node)

    def fn_html(self, args: list[_Val], node: Node) -> _Val:
        folded = self.fold("html", args, node)
        if folded is not None:
            return folded
        text = self.escaper_input(args, node)
        chain = "".join(
            f"|replace({_lit(a)}, {_lit(b)})"
            for a, b in (("&", "&amp;"), ("'", "&#39;"), ('"', "&#34;"), ("<", "&lt;"),
                         (">", "&gt;"), ("\0", "\ufffd"))
        )  # fmt: skip
        return _Val(f"({text}|string{chain})", K.STR)

    def escaper_input(self, args: list[_Val], node: Node) -> str:
        """``evalArgs`` of html/js/urlquery: one string as is, else ``fmt.Sprint``."""
        if len(args) == 1 and args[0].kind is K.STR:
            return args[0].expr
        return self.fn_print(
            [_const("<no value>") if a.kind is K.NOVALUE else a for a in args], node
        ).expr

    def fn_js(self, args: list[_Val], node: Node) -> _Val:
        folded = self.fold("js", args, node)
        if folded is None:
            raise self.refuse("Go's js escaping (unicode.IsPrint) has no Jinja equivalent", node)
        return folded

    def fn_urlquery(self, args: list[_Val], node: Node) -> _Val:
        folded = self.fold("urlquery", args, node)
        if folded is not None:
            return folded
        text = self.escaper_input(args, node)
        # Python's quote keeps "/" and writes a space as %20; Go's QueryEscape does neither.
        return _Val(f"({text}|string|urlencode|replace('/', '%2F')|replace('%20', '+'))", K.STR)

    def fn_json(self, args: list[_Val], node: Node) -> _Val:
        (value,) = args
        return _Val(self.json(value, node), K.STR)

    def fn_currentDate(self, args: list[_Val], node: Node) -> _Val:
        self.string_args(args, node, "currentDate")
        return _Val("strftime_now('%Y-%m-%d')", K.STR)

    def fn_yesterdayDate(self, args: list[_Val], node: Node) -> _Val:
        self.string_args(args, node, "yesterdayDate")
        return _Val(f"{self.use('go_yesterday')}()", K.STR)

    def string_args(self, args: list[_Val], node: Node, name: str) -> None:
        for arg in args:
            if arg.kind is not K.STR:
                raise self.refuse(f"{name} takes strings (Go fails here)", node)

    def fn_toTypeScriptType(self, args: list[_Val], node: Node) -> _Val:
        (value,) = args
        if value.kind is K.PROP:
            return _Val(f"{self.use('go_ts_type')}({value.expr})", K.STR)
        if value.kind is K.ANY:
            raise self.refuse("toTypeScriptType of a JSON value of unknown type", node)
        return _const("any")

    # -- the whole template ------------------------------------------------------------------

    def export(self) -> str:
        template = self.template
        root = self.trees[self.name]
        if template.uses_messages:
            self.body(root, _Val("", K.DATA))
            body = self.lines
            prologue = self.prologue(legacy=False)
        else:
            body = self.export_legacy(root)
            self.needs.add("messages")
            prologue = self.prologue(legacy=True)
        out = [self.header()]
        for name in _helper_order(self.helpers):
            out.append(_HELPERS[name][1])
        out.extend(prologue)
        if self.ns_used and template.uses_messages:
            out.append("{%- set ns = namespace() %}")
        out.extend(body)
        return "\n".join(out)

    def export_legacy(self, root: ListNode) -> list[str]:
        self.legacy = True
        try:
            cut = cut_at_response(root)
        except _CutPanic:
            self.node = None
            raise JinjaExportError(
                "cannot export: Ollama cannot cut this legacy template at .Response (it sits "
                "in a block with an else branch); Ollama itself fails on it",
                construct=".Response",
                name=self.name,
            ) from None
        lines: list[str] = []
        for macro, tree, no_functions in (
            ("ollama_turn", root, False),
            ("ollama_last_turn", cut, True),
        ):
            self.lines = []
            self.level = 1
            self.ns_used = False
            self.no_functions = no_functions
            self.body(tree, _Val("", K.DATA))
            lines.append(f"{{%- macro {macro}(system, prompt, response) %}}")
            if self.ns_used:
                lines.append("  {%- set ns = namespace() %}")
            lines.extend(self.lines)
            lines.append("{%- endmacro %}")
        self.ns_used = False
        self.lines = []
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

    def header(self) -> str:
        name = (self.name or "template").replace("#}", "# }")
        return (
            f"{{#- Jinja chat template exported by llmkit from the Ollama Go template {name}.\n"
            "    Inputs: messages (Ollama's fields: role, content, thinking, images, tool_calls,\n"
            "    tool_name, tool_call_id), tools (OpenAI shape), think (or enable_thinking).\n"
            "    add_generation_prompt and bos_token are not used: the template itself opens\n"
            "    the assistant's turn, as Ollama's does. #}"
        )

    def prologue(self, *, legacy: bool) -> list[str]:
        lines: list[str] = [
            "{%- set ollama = namespace(messages=[], system=[], tools=none) %}",
            "{%- set think_value = think if think is defined else "
            "(enable_thinking if enable_thinking is defined else none) %}",
            "{#- what Ollama rejects when it decodes the request #}",
            "{%- if think_value is string and think_value not in "
            "('low', 'medium', 'high', 'max') %}",
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
        if "messages" in self.needs:
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
        if "tools" in self.needs:
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
        if "think" in self.needs:
            lines += [
                "{%- set ollama.think = think_value not in (none, false, '') %}",
                "{%- set ollama.think_level = 'medium' if think_value is true else "
                "(think_value if think_value is string else '') %}",
                "{%- set ollama.is_think_set = think_value is not none %}",
            ]
        return lines


def to_jinja(template: OllamaTemplate) -> str:
    """A Jinja2 chat template (Hugging Face variables) that renders as ``template`` does.

    Raises :class:`JinjaExportError`, naming the construct and its line, for what Jinja
    cannot express exactly.  The output is deterministic.
    """
    return _Exporter(template).export()
