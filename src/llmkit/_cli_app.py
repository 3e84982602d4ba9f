"""The click application behind ``llmkit`` (imported only when the command runs)."""

from __future__ import annotations

import sys
from typing import Any

import click

from llmkit.backends import available_backends, parse_backend_spec
from llmkit.cli import parse_option_value, progress_bar
from llmkit.client import Client
from llmkit.errors import InvalidRequestError, LLMKitError
from llmkit.models import REGISTRY, ModelStore, lookup

__all__ = ["app"]


def _fail(exc: LLMKitError) -> None:
    click.echo(f"error: {exc}", err=True)
    raise SystemExit(2 if isinstance(exc, InvalidRequestError) else 1)


def _options(
    temperature: float | None, seed: int | None, num_predict: int | None, pairs: tuple[str, ...]
) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got {pair!r}", param_hint="-o")
        options[key.strip()] = parse_option_value(value)
    named: dict[str, float | int | None] = {
        "temperature": temperature,
        "seed": seed,
        "num_predict": num_predict,
    }
    options.update({key: value for key, value in named.items() if value is not None})
    return options


def _ensure_model(backend: str | None, model: str | None) -> None:
    """Pull a missing registry model with a progress bar before the backend wants it."""
    scheme, target = parse_backend_spec(backend or "llamacpp")
    if scheme != "llamacpp":
        return
    name = model or target or "smollm2"
    entry = lookup(name)
    store = ModelStore()
    if entry is not None and store.get(entry.name) is None:
        with progress_bar(f"pulling {entry.name}") as update:
            store.pull(entry.name, progress=update)


def _client(backend: str | None, model: str | None) -> Client:
    _ensure_model(backend, model)
    if model is not None and (backend is None or backend == "llamacpp"):
        return Client(f"llamacpp:{model}")
    return Client(backend, model=model)


_common = [
    click.option("--model", "-m", default=None, help="Model name (from the store) or .gguf path."),
    click.option(
        "--backend", "-b", default=None, help="Backend string, e.g. llamacpp:PATH.gguf or mock."
    ),
    click.option("--temperature", type=float, default=None, help="Sampling temperature."),
    click.option("--seed", type=int, default=None, help="Random seed."),
    click.option("--num-predict", type=int, default=None, help="Most tokens to generate."),
    click.option(
        "-o", "--option", "pairs", multiple=True, metavar="KEY=VALUE", help="Any Ollama option."
    ),
    click.option("--json", "as_json", is_flag=True, help="Print the final response as JSON."),
]


def _with_common(func: Any) -> Any:
    for decorator in reversed(_common):
        func = decorator(func)
    return func


@click.group()
@click.version_option(package_name="llmkit")
def app() -> None:
    """llmkit: talk to language models, local or remote."""


def _emit(stream: Any, as_json: bool) -> None:
    if as_json:
        response = stream.final_response()
        click.echo(response.model_dump_json(exclude_none=True))
        return
    for text in stream.text_stream():
        sys.stdout.write(text)
        sys.stdout.flush()
    sys.stdout.write("\n")


@app.command()
@click.argument("prompt")
@click.option("--system", "-s", default=None, help="A system message.")
@_with_common
def chat(
    prompt: str,
    system: str | None,
    model: str | None,
    backend: str | None,
    temperature: float | None,
    seed: int | None,
    num_predict: int | None,
    pairs: tuple[str, ...],
    as_json: bool,
) -> None:
    """Ask PROMPT and stream the answer (default: the local smollm2 model)."""
    try:
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        with (
            _client(backend, model) as client,
            client.chat(
                messages, options=_options(temperature, seed, num_predict, pairs), stream=True
            ) as stream,
        ):
            _emit(stream, as_json)
    except LLMKitError as exc:
        _fail(exc)


@app.command()
@click.argument("prompt")
@click.option("--raw", is_flag=True, help="Send the prompt as is, without the chat template.")
@_with_common
def generate(
    prompt: str,
    raw: bool,
    model: str | None,
    backend: str | None,
    temperature: float | None,
    seed: int | None,
    num_predict: int | None,
    pairs: tuple[str, ...],
    as_json: bool,
) -> None:
    """Complete PROMPT and stream the text."""
    try:
        with (
            _client(backend, model) as client,
            client.generate(
                prompt,
                raw=raw or None,
                options=_options(temperature, seed, num_predict, pairs),
                stream=True,
            ) as stream,
        ):
            _emit(stream, as_json)
    except LLMKitError as exc:
        _fail(exc)


@app.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="Pull again even when stored.")
def pull(name: str, force: bool) -> None:
    """Put a registry model into the local store."""
    store = ModelStore()
    try:
        with progress_bar(f"pulling {name}") as update:
            stored = store.pull(name, progress=update, force=force)
    except LLMKitError as exc:
        _fail(exc)
    click.echo(
        f"{stored.name}: {stored.path} ({stored.size / 1e6:.1f} MB, sha256 {stored.sha256[:12]})"
    )


@app.command(name="list")
def list_models() -> None:
    """List stored models (and what the registry can pull)."""
    from rich.console import Console
    from rich.table import Table

    store = ModelStore()
    stored = {model.name: model for model in store.list()}
    table = Table(title=f"models in {store.root}")
    for column in ("name", "stored", "size", "description"):
        table.add_column(column)
    for entry in REGISTRY:
        model = stored.pop(entry.name, None)
        table.add_row(
            entry.name, "yes" if model else "no", f"{entry.size / 1e6:.0f} MB", entry.description
        )
    for model in stored.values():
        table.add_row(model.name, "yes", f"{model.size / 1e6:.0f} MB", model.source)
    Console().print(table)


@app.command()
@click.argument("name")
def rm(name: str) -> None:
    """Remove a model from the local store."""
    try:
        removed = ModelStore().remove(name)
    except LLMKitError as exc:
        _fail(exc)
    click.echo(f"removed {removed.name} ({removed.path})")


@app.command()
def backends() -> None:
    """List the installed backend plug-ins."""
    for name in available_backends():
        click.echo(name)
