"""How Go values are represented in Python while a template runs (pure).

=========================  ===========================================
Go                         Python
=========================  ===========================================
string, bool               ``str``, ``bool``
int (any integer kind)     ``int``
float64 (JSON numbers)     ``float``
complex128                 ``complex``
nil interface / no value   ``None``
nil slice, map, pointer    :data:`NIL_SLICE`, :data:`NIL_MAP`, :data:`NIL_POINTER`
[]T, map[string]T          ``list``, ``dict`` (keys printed sorted, as Go does)
struct, *struct            a :class:`GoStruct` subclass
=========================  ===========================================

A :class:`GoStruct` declares its Go type name and its fields in declaration
order; templates can reach those fields and nothing else (no Python
attribute of any object is ever looked up by name from a template).
``go_string()`` plays the part of a ``String()`` method and ``go_json()`` of a
``MarshalJSON`` method, for the types that have them.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final, Self

__all__ = ["NIL_MAP", "NIL_POINTER", "NIL_SLICE", "GoNil", "GoStruct", "is_nil"]


class GoNil:
    """A typed nil: a nil slice, map or pointer (``None`` is the nil interface)."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"GoNil({self.kind!r})"

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return False


NIL_SLICE: Final = GoNil("slice")
NIL_MAP: Final = GoNil("map")
NIL_POINTER: Final = GoNil("pointer")


def is_nil(value: Any) -> bool:
    """Whether a value is Go's nil of any kind."""
    return value is None or isinstance(value, GoNil)


class GoStruct:
    """Base of the Go struct types a template can see.

    Subclasses set ``go_type`` (as Go's error messages print it, e.g.
    ``*template.templateMessage``; a leading ``*`` means the value is held by
    pointer) and ``go_fields`` (names in declaration order), and store each
    field's value in ``self.values``.
    """

    go_type: ClassVar[str] = "struct"
    go_fields: ClassVar[tuple[str, ...]] = ()
    #: JSON names for encoding/json, by field (absent: the Go name); ``None`` skips the field.
    json_names: ClassVar[dict[str, str | None]] = {}
    #: Fields encoding/json omits when empty (``omitempty``).
    json_omitempty: ClassVar[frozenset[str]] = frozenset()
    #: Each field's zero value, used when a field was not given.
    go_zero: ClassVar[dict[str, Any]] = {}

    __slots__ = ("field_values", "values")

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(self.go_fields)
        if unknown:
            raise TypeError(f"{self.go_type} has no fields {sorted(unknown)}")
        self.values = values
        #: every declared field, given or zero: what templates read
        self.field_values = {**self._zero_fields, **values}

    @classmethod
    def trusted(cls, values: dict[str, Any]) -> Self:
        """A value from fields known to be declared (skips the check; for hot paths)."""
        self = cls.__new__(cls)
        self.values = values
        self.field_values = {**cls._zero_fields, **values}
        return self

    _zero_fields: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._zero_fields = {name: cls.go_zero.get(name) for name in cls.go_fields}

    @property
    def is_pointer(self) -> bool:
        return self.go_type.startswith("*")

    def has_field(self, name: str) -> bool:
        return name in self.go_fields

    def field(self, name: str) -> Any:
        """The value of a declared field (callers check ``has_field`` first)."""
        return self.field_values.get(name)

    def go_string(self) -> str | None:
        """The result of the type's ``String()`` method, or ``None`` if it has none."""
        return None

    def go_json(self) -> str | None:
        """The result of the type's ``MarshalJSON()`` method, or ``None`` if it has none."""
        return None

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, GoStruct)
            and type(other) is type(self)
            and other.values == self.values
        )

    def __hash__(self) -> int:
        return id(self)
