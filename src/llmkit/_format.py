"""Structured output: ``format`` as the client takes it, and the response checked against it.

``format`` is ``"json"``, a JSON schema (a dict), or a pydantic model class.  The request
carries JSON (``"json"`` or the schema: a class becomes its JSON schema); the client keeps
the class, and :func:`check_response` validates the finished response against the format
and sets ``response.parsed`` (the model instance, or the decoded JSON value).
"""

from __future__ import annotations

import json
from typing import Any, TypeGuard, TypeVar

from pydantic import BaseModel, ValidationError

from llmkit.errors import InvalidRequestError, ResponseFormatError
from llmkit.types.requests import Format
from llmkit.types.responses import ChatResponse, GenerateResponse

__all__ = ["FormatLike", "check_response", "is_model_class", "request_format"]

ResponseT = TypeVar("ResponseT", ChatResponse, GenerateResponse)

FormatLike = Format | type[BaseModel]
"""``"json"``, a JSON schema, or a pydantic model class."""


def is_model_class(format: object) -> TypeGuard[type[BaseModel]]:
    """Whether ``format`` is a pydantic model class."""
    return isinstance(format, type) and issubclass(format, BaseModel)


def request_format(format: FormatLike | None) -> Format | None:
    """The request's ``format``: a model class as its JSON schema, anything else as given."""
    if not isinstance(format, type):
        return format
    try:
        return format.model_json_schema()
    except Exception as exc:  # pydantic raises several kinds for types without a schema
        raise InvalidRequestError(
            f"format: {format.__name__} has no JSON schema: {exc}", fields=["format"]
        ) from exc


def _schema_errors(schema: dict[str, Any], value: Any) -> list[str]:
    import jsonschema

    try:
        validator_class = jsonschema.validators.validator_for(schema)
        validator = validator_class(schema)
        return [
            f"{'.'.join(str(part) for part in error.absolute_path) or '(root)'}: {error.message}"
            for error in validator.iter_errors(value)
        ]
    except jsonschema.SchemaError as exc:
        raise InvalidRequestError(
            f"format: not a valid JSON schema: {exc.message}", fields=["format"]
        ) from exc


def check_response(response: ResponseT, format: FormatLike | None) -> ResponseT:
    """Validate ``response``'s text against ``format`` and set ``response.parsed``.

    Invalid output is a :class:`~llmkit.errors.ResponseFormatError` (with the response on
    it).  Output cut off by ``num_predict`` (``done_reason == "length"``) is an error only
    for a model class; for ``"json"`` and a schema, ``parsed`` stays ``None`` then.
    """
    if format is None:
        return response
    text = response.text
    cut = response.done_reason == "length"
    if is_model_class(format):
        try:
            response._parsed = format.model_validate_json(text)
        except ValidationError as exc:
            problems = [
                f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}"
                for error in exc.errors()
            ]
            why = " (the output was cut off by num_predict)" if cut else ""
            raise ResponseFormatError(
                f"the response is not a valid {format.__name__}{why}: {'; '.join(problems)}",
                response=response,
                errors=problems,
            ) from exc
        return response
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if cut:
            return response
        raise ResponseFormatError(
            f"the response is not JSON: {exc}", response=response, errors=[str(exc)]
        ) from exc
    if isinstance(format, dict):
        problems = _schema_errors(format, value)
        if problems:
            raise ResponseFormatError(
                f"the response does not match the format's schema: {'; '.join(problems)}",
                response=response,
                errors=problems,
            )
    response._parsed = value
    return response
