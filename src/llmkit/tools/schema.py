"""JSON schemas for tools, from function signatures and pydantic models (pure).

Pydantic writes the schema (``create_model`` for a signature, ``model_json_schema`` for a
model); this module decides what llmkit offers a model on top of that:

* **References are inlined.** Ollama's ``ToolProperty`` (``api/types.go``) keeps ``type``,
  ``description``, ``enum``, ``anyOf``, ``items``, ``properties`` and ``required`` of each
  parameter but no ``$ref``, so a nested model or an enum behind a reference would reach the
  template as an empty property. Every reference is replaced by its definition, nested as it
  is; only a recursive model keeps a ``$ref`` (where it refers to itself) and its entry in
  ``$defs``, which Ollama and OpenAI both carry. Where the parameter and the model (or enum)
  both have a description, the parameter's comes first and the model's follows it.
* **No generated titles.** Pydantic titles each field after its name (``"City"``); those
  add tokens and say nothing. Titles written with ``Field(title=...)`` and model titles stay.
* **A ``const`` also gets an ``enum``** of its one value (``Literal["celsius"]``), since
  Ollama keeps ``enum`` but not ``const``.

Nothing else is changed: defaults, constraints (``minimum``, ``maxLength``...), formats and
descriptions stay in the schema.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, PydanticUserError, TypeAdapter, create_model
from pydantic.fields import FieldInfo
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaWarningKind
from pydantic_core import CoreSchema

from llmkit.errors import InvalidRequestError

__all__ = [
    "SignatureModel",
    "ToolJsonSchema",
    "inline_refs",
    "model_parameters",
    "signature_model",
    "tidy_schema",
]

ParamKind = Literal["positional", "keyword"]

# Keys whose value is one subschema, a list of subschemas, or a map of name -> subschema.
_ONE = frozenset(
    {
        "additionalProperties",
        "additionalItems",
        "contains",
        "else",
        "if",
        "items",
        "not",
        "propertyNames",
        "then",
        "unevaluatedItems",
        "unevaluatedProperties",
    }
)
_MANY = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_MAP = frozenset({"$defs", "definitions", "dependentSchemas", "patternProperties", "properties"})
_DEFS_PREFIX = "#/$defs/"


class ToolJsonSchema(GenerateJsonSchema):
    """Pydantic's JSON-schema generator without the titles it makes up from field names."""

    def field_title_should_be_set(self, schema: CoreSchema) -> bool:
        """Never add a generated title; a title given with ``Field(title=...)`` still shows."""
        return False

    def emit_warning(self, kind: JsonSchemaWarningKind, detail: str) -> None:
        """Warn as pydantic does, except for a default that is not JSON (a sentinel such as
        ``object()``): the parameter is simply optional, with no default shown."""
        if kind != "non-serializable-default":
            super().emit_warning(kind, detail)


def _map_children(node: dict[str, Any], visit: Callable[[Any], Any]) -> dict[str, Any]:
    """A copy of one schema node with ``visit`` applied to each of its direct subschemas."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _ONE and isinstance(value, dict):
            out[key] = visit(value)
        elif key in _ONE | _MANY and isinstance(value, list):
            out[key] = [visit(item) for item in value]
        elif key in _MAP and isinstance(value, dict):
            out[key] = {name: visit(item) for name, item in value.items()}
        else:
            out[key] = value
    return out


def inline_refs(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Replace each ``#/$defs/NAME`` reference by its definition; keep ``$defs`` only for
    definitions that refer to themselves (directly or through others)."""
    defs = schema.get("$defs")
    if not isinstance(defs, dict) or not defs:
        return dict(schema)
    kept: set[str] = set()

    def expand(node: Any, stack: frozenset[str]) -> Any:
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        name = ref[len(_DEFS_PREFIX) :] if isinstance(ref, str) else ""
        if ref == _DEFS_PREFIX + name and name in defs:
            if name in stack:
                kept.add(name)
            else:
                siblings = {k: v for k, v in node.items() if k != "$ref"}
                inner = expand(defs[name], stack | {name})
                merged = {**inner, **_map_children(siblings, lambda n: expand(n, stack))}
                own, given = inner.get("description"), siblings.get("description")
                if isinstance(own, str) and isinstance(given, str) and own not in given:
                    merged["description"] = f"{given}\n\n{own}"
                return merged
        return _map_children(node, lambda n: expand(n, stack))

    body = expand({k: v for k, v in schema.items() if k != "$defs"}, frozenset())
    done: dict[str, Any] = {}
    while pending := kept - done.keys():
        for name in sorted(pending):
            done[name] = expand(defs[name], frozenset({name}))
    if done:
        body["$defs"] = {name: done[name] for name in defs if name in done}
    return cast("dict[str, Any]", body)


def _enum_for_const(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    node = _map_children(node, _enum_for_const)
    if "const" in node and "enum" not in node:
        node["enum"] = [node["const"]]
    return node


def tidy_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A pydantic-generated schema made ready to offer: references inlined, ``enum`` beside
    each ``const``."""
    return cast("dict[str, Any]", _enum_for_const(inline_refs(schema)))


def model_parameters(model: type[BaseModel]) -> dict[str, Any]:
    """The parameters schema of a pydantic model offered as a tool (its title kept)."""
    try:
        return tidy_schema(model.model_json_schema(schema_generator=ToolJsonSchema))
    except (PydanticUserError, TypeError, ValueError) as exc:
        raise InvalidRequestError(
            f"tool {model.__name__!r}: cannot write a JSON schema for the model: {exc}"
        ) from exc


@dataclass(frozen=True)
class SignatureModel:
    """A function's parameters as a pydantic model, and how to call the function with it.

    ``fields`` holds, per parameter: the model's field key, the parameter's name, its kind,
    and whether the validated value must always be passed (positional-only parameters and
    those whose default is a ``Field(...)``); other parameters are passed only when given,
    so the function's own defaults apply.
    """

    model: type[BaseModel]
    fields: tuple[tuple[str, str, ParamKind, bool], ...]

    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the parameters (no top-level title)."""
        schema = tidy_schema(self.model.model_json_schema(schema_generator=ToolJsonSchema))
        schema.pop("title", None)
        return schema

    def call_arguments(self, instance: BaseModel) -> tuple[list[Any], dict[str, Any]]:
        """The positional and keyword arguments for the function, from validated arguments."""
        given = instance.model_fields_set
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for key, name, kind, always in self.fields:
            if kind == "positional":
                args.append(getattr(instance, key))
            elif always or key in given:
                kwargs[name] = getattr(instance, key)
        return args, kwargs


def _caller_namespace() -> dict[str, Any]:
    """The local names of the nearest frame outside llmkit (for hints naming local classes)."""
    frame = inspect.currentframe()
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith("llmkit"):
        frame = frame.f_back
    return dict(frame.f_locals) if frame is not None else {}


def _resolve(annotation: Any, function: Callable[..., Any], where: str) -> Any:
    if annotation is inspect.Parameter.empty:
        return Any
    if not isinstance(annotation, str):
        return annotation
    globalns = getattr(inspect.unwrap(function), "__globals__", {})
    try:
        try:
            return eval(annotation, globalns)  # as typing.get_type_hints does
        except NameError:
            # A class defined in the function that is decorating (``@tool`` in a body).
            return eval(annotation, globalns, _caller_namespace())
    except Exception as exc:
        raise InvalidRequestError(
            f"{where}: cannot resolve the type hint {annotation!r}: {exc}"
        ) from exc


def _field_infos(annotation: Any, default: Any) -> list[FieldInfo]:
    infos = [m for m in get_args(annotation)[1:] if isinstance(m, FieldInfo)]
    if get_origin(annotation) is not Annotated:
        infos = []
    if isinstance(default, FieldInfo):
        infos.append(default)
    return infos


def signature_model(
    function: Callable[..., Any], name: str, param_docs: Mapping[str, str]
) -> SignatureModel:
    """Build the arguments model of ``function``; ``param_docs`` are the docstring's
    parameter descriptions, used where ``Field(description=...)`` gives none."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"tool {name!r}: cannot read the signature: {exc}") from exc
    definitions: dict[str, Any] = {}
    fields: list[tuple[str, str, ParamKind, bool]] = []
    for i, param in enumerate(signature.parameters.values()):
        where = f"tool {name!r}, parameter {param.name!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise InvalidRequestError(
                f"{where}: *args and **kwargs cannot be described by a JSON schema; "
                "name each parameter"
            )
        annotation = _resolve(param.annotation, function, where)
        default = ... if param.default is param.empty else param.default
        infos = _field_infos(annotation, default)
        extra: dict[str, Any] = {}
        if not any(info.alias for info in infos):
            extra["alias"] = param.name
        doc = param_docs.get(param.name)
        if doc and not any(info.description for info in infos):
            extra["description"] = doc
        try:  # checked one by one, so that an error names its parameter
            TypeAdapter(annotation).json_schema()
        except (PydanticUserError, TypeError, NameError) as exc:
            raise InvalidRequestError(f"{where}: unsupported type: {exc}") from exc
        if extra:
            annotation = Annotated[annotation, Field(**extra)]
        key = f"p{i}"
        definitions[key] = (annotation, default)
        kind: ParamKind = "positional" if param.kind == param.POSITIONAL_ONLY else "keyword"
        fields.append((key, param.name, kind, isinstance(default, FieldInfo)))
    try:
        model = create_model(
            name,
            __config__=ConfigDict(extra="forbid"),
            __module__=getattr(function, "__module__", None) or __name__,
            **definitions,
        )
        result = SignatureModel(model, tuple(fields))
        result.parameters()
    except (PydanticUserError, TypeError, ValueError, NameError) as exc:
        raise InvalidRequestError(
            f"tool {name!r}: cannot build the arguments schema: {exc}"
        ) from exc
    return result
