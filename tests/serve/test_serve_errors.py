"""Status codes and error bodies per protocol (pure)."""

from __future__ import annotations

import pytest

from llmkit.errors import (
    BackendError,
    GenerationError,
    InvalidRequestError,
    LLMKitError,
    ModelNotFoundError,
    StreamInterruptedError,
    UnsupportedFeatureError,
    UnsupportedOptionError,
)
from llmkit.serve.errors import (
    ServeError,
    auth_problem,
    model_not_found,
    ollama_error_body,
    openai_error_body,
    problem_for,
    route_problem,
)
from llmkit.serve.openai_requests import openai_param


class Relayed(BackendError):
    """An HTTP backend's error carrying the upstream's status."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (InvalidRequestError("bad", fields=["options.temperature"]), 400, "invalid_request_error"),
        (UnsupportedOptionError("top_k", "mock"), 400, "invalid_request_error"),
        (UnsupportedFeatureError("think", "llamacpp"), 400, "invalid_request_error"),
        (ModelNotFoundError("no such model"), 404, "invalid_request_error"),
        (GenerationError("boom"), 500, "server_error"),
        (BackendError("down"), 500, "server_error"),
        (StreamInterruptedError("cut", partial=None), 500, "server_error"),
        (RuntimeError("a bug"), 500, "server_error"),
        (Relayed("slow down", 429), 429, "rate_limit_error"),
        (Relayed("upstream broke", 503), 503, "server_error"),
        (Relayed("no such model upstream", 404), 404, "invalid_request_error"),
    ],
)
def test_each_error_gets_its_status_and_type(error, status, kind):
    problem = problem_for(error)
    assert (problem.status, problem.type) == (status, kind)
    assert str(error) in problem.message


def test_an_upstream_refusing_our_key_is_a_bad_gateway_not_the_clients_401():
    assert problem_for(Relayed("unauthorized", 401)).status == 502
    assert problem_for(Relayed("forbidden", 403)).status == 502


def test_a_status_attribute_on_a_foreign_exception_is_not_trusted():
    class Foreign(Exception):
        status_code = 404

    assert problem_for(Foreign("x")).status == 500


def test_unexpected_errors_name_their_type():
    assert problem_for(KeyError("k")).message == "internal error: KeyError: 'k'"


def test_the_param_is_renamed_for_openai():
    error = UnsupportedOptionError("num_predict", "mock")
    assert problem_for(error).param == "options.num_predict"
    assert problem_for(error, param_name=openai_param).param == "max_tokens"


def test_ollama_body_is_a_bare_message():
    problem = problem_for(InvalidRequestError("model is required", fields=["model"]))
    assert ollama_error_body(problem) == {"error": "model is required"}


def test_openai_body_has_all_four_fields():
    problem = problem_for(
        InvalidRequestError("bad", fields=["options.top_k"]), param_name=openai_param
    )
    assert openai_error_body(problem) == {
        "error": {"message": "bad", "type": "invalid_request_error", "param": "top_k", "code": None}
    }


def test_model_not_found_in_each_protocols_words():
    ollama = model_not_found("x", protocol="ollama", can_pull=True)
    openai = model_not_found("x", protocol="openai")
    assert isinstance(ollama, LLMKitError) and ollama.status == 404
    assert ollama.message == "model 'x' not found, try pulling it first"
    assert openai.message == "The model `x` does not exist or you do not have access to it."
    assert problem_for(openai).code == "model_not_found"


def test_auth_and_route_problems():
    assert auth_problem("openai").status == 401
    assert auth_problem("openai").code == "invalid_api_key"
    assert ollama_error_body(auth_problem("ollama")) == {"error": "unauthorized"}
    assert route_problem("GET", "/v1/x", 404).message == "Invalid URL (GET /v1/x)"
    assert route_problem("GET", "/api/chat", 405).status == 405


def test_serve_error_keeps_what_it_was_given():
    problem = problem_for(ServeError(400, "no store", param="model", code="c", kind="k"))
    assert (problem.status, problem.message, problem.param, problem.code, problem.type) == (
        400,
        "no store",
        "model",
        "c",
        "k",
    )


@pytest.mark.parametrize(
    "error",
    [
        RecursionError("maximum recursion depth exceeded"),
        UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    ],
)
def test_errors_only_a_client_can_cause_are_400s_even_when_they_escape(error):
    problem = problem_for(error)
    assert (problem.status, problem.type) == (400, "invalid_request_error")


def test_error_bodies_are_always_utf8_even_when_they_quote_a_lone_surrogate():
    problem = problem_for(model_not_found("\ud800", protocol="ollama"))
    body = ollama_error_body(problem)
    assert body == {"error": "model '\\ud800' not found"}
    body["error"].encode()
    openai_body = openai_error_body(problem_for(InvalidRequestError("x", fields=["\udcff"])))
    assert openai_body["error"]["param"] == "\\udcff"
