"""The walk over a Go template's parse tree that writes the Jinja statements.

This module owns :class:`_Emitter`: one Go template body at a time (fresh variables, ``$``
and dot), each statement kind (text, action, ``if``/``else if`` chains with constant
conditions folded, ``with``, ``range`` with ``break``/``continue`` as flags, ``template``
inlined), and the expressions inside them (pipelines, commands, fields of the template data
and of Ollama's structs, constants).  A function call is checked, its arguments evaluated,
and the result looked up by name in :data:`._functions.FUNCTIONS`.
"""

from __future__ import annotations

from llmkit.template.jinja._flow import _exits, _is_atom, _Loop, _loop_exits
from llmkit.template.jinja._functions import FUNCTIONS, _check_call
from llmkit.template.jinja._macros import _lit
from llmkit.template.jinja._printing import _printed
from llmkit.template.jinja._state import _Export
from llmkit.template.jinja._truth import _const_truth, _truth
from llmkit.template.jinja._values import (
    _ELEMENTS,
    _FIELDS,
    _LOOP_NAMES,
    _MAPS,
    _NILLABLE,
    K,
    _const,
    _number_value,
    _Val,
)
from llmkit.template.jinja._variables import _analyse, _DeclInfo, _Var
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
from llmkit.template.runtime import NO_VALUE, Runtime


class _Emitter(_Export):
    """Writes the Jinja statements of a template body into :attr:`_Export.lines`."""

    # -- templates and statements ------------------------------------------------------------

    def body(self, root: ListNode, dot: _Val) -> None:
        """One execution of a Go template: fresh variables, ``$`` and dot."""
        saved = (self.scopes, self.dot, self.loops)
        self.scopes = [{"$": _Var(dot.expr, dot)}]
        self.dot = dot
        self.loops = []
        _analyse(root, self.decls)
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
            self.output(_printed(self, val, node))

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
        return val, None if _const_truth(val) is not None else _truth(self, val)

    def if_node(self, node: IfNode) -> None:
        """``if``/``else if`` chains become ``if``/``elif``; constant conditions are folded."""
        depth = len(self.scopes)
        opened = False
        current: IfNode | None = node
        while current is not None:
            self.node = current
            self.scopes.append({})  # the pipeline's variables live until {{ end }}
            cond, truth = self.condition(current.pipe, current)
            known = _const_truth(cond)
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
        known = _const_truth(val)
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

    # -- function calls ----------------------------------------------------------------------

    def call(self, name: str, arg_nodes: list[Node], final: _Val | None, node: Node) -> _Val:
        _check_call(self, name, len(arg_nodes) + (final is not None), node)
        args = [self.term(arg, node) for arg in arg_nodes]
        if final is not None:
            args.append(final)
        function = FUNCTIONS.get(name)
        if function is None:
            raise self.refuse(f"the function {name} cannot be expressed in Jinja", node)
        return function(self, args, node)
