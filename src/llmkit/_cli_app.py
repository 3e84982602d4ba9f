"""The click application behind ``llmkit`` (imported only when the command runs)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click

from llmkit._cli_helpers import parse_option_value, progress_bar
from llmkit.backends import available_backends, parse_backend_spec
from llmkit.client import Client
from llmkit.errors import InvalidRequestError, LLMKitError
from llmkit.models import REGISTRY, BrokenModel, ModelStore, StoredModel, lookup
from llmkit.serve.limits import ServeLimits, limit_options
from llmkit.template import Template

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
@click.argument("prompt", required=False)
@click.option("--system", "-s", default=None, help="A system message.")
@click.option(
    "--load",
    "load_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Continue a conversation saved with /save (interactive).",
)
@_with_common
def chat(
    prompt: str | None,
    system: str | None,
    load_path: str | None,
    model: str | None,
    backend: str | None,
    temperature: float | None,
    seed: int | None,
    num_predict: int | None,
    pairs: tuple[str, ...],
    as_json: bool,
) -> None:
    """Ask PROMPT and stream the answer (default: the local smollm2 model).

    Without PROMPT: a conversation in the terminal (/help lists its commands), or, when
    the input is not a terminal, the whole input as the prompt.
    """
    options = _options(temperature, seed, num_predict, pairs)
    if prompt is None and sys.stdin.isatty():
        _interactive(backend, model, system, options, load_path)
        return
    if prompt is None:
        prompt = sys.stdin.read()
    try:
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        with (
            _client(backend, model) as client,
            client.chat(messages, options=options, stream=True) as stream,
        ):
            _emit(stream, as_json)
    except LLMKitError as exc:
        _fail(exc)


def _interactive(
    backend: str | None,
    model: str | None,
    system: str | None,
    options: dict[str, Any],
    load_path: str | None,
) -> None:
    from llmkit._chat_session import ChatSession, run_session

    try:
        with _client(backend, model) as client:
            session = ChatSession(
                client, sys.stdout, model=model, system=system, options=dict(options)
            )
            if load_path is not None:
                session.load(load_path)
            run_session(session)
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
    try:
        found = store.scan()
    except LLMKitError as exc:
        _fail(exc)
    stored = {model.name: model for model in found if isinstance(model, StoredModel)}
    broken = {model.name: model for model in found if isinstance(model, BrokenModel)}
    table = Table(title=f"models in {store.root}")
    for column in ("name", "stored", "size", "description"):
        table.add_column(column)
    for entry in REGISTRY:
        model = stored.pop(entry.name, None)
        state = "yes" if model else "BROKEN" if entry.name in broken else "no"
        table.add_row(entry.name, state, f"{entry.size / 1e6:.0f} MB", entry.description)
    for model in stored.values():
        table.add_row(model.name, "yes", f"{model.size / 1e6:.0f} MB", model.source)
    for name in broken:
        if lookup(name) is None:
            table.add_row(name, "BROKEN", "", "see the message below; llmkit rm removes it")
    Console().print(table)
    for problem in broken.values():  # whole, on stderr: a table would cut the path short
        click.echo(f"broken: {problem.name}: {problem.problem}", err=True)


@app.command()
@click.argument("name")
def rm(name: str) -> None:
    """Remove a model from the local store."""
    try:
        removed = ModelStore().remove(name)
    except LLMKitError as exc:
        _fail(exc)
    if isinstance(removed, BrokenModel):
        click.echo(f"warning: {removed.problem}", err=True)
    click.echo(f"removed {removed.name} ({removed.path})")


def _json_arg(value: str | None, what: str) -> Any:
    """A JSON argument given inline or as @FILE."""
    if value is None:
        return None
    text = Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint=what) from None


@app.group()
def template() -> None:
    """Compile and render Ollama Go chat templates."""


@template.command(name="render")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--messages", default="[]", help="Messages as JSON, or @FILE.")
@click.option("--tools", default=None, help="Tools as JSON, or @FILE.")
@click.option("--think", default=None, help="true, false, or a level (low, medium, high).")
@click.option("--system", default=None, help="A model-level system prompt (Modelfile SYSTEM).")
@click.option("--prompt", default="", help="Prompt, for fill-in-the-middle with --suffix.")
@click.option("--suffix", default="", help="Suffix, for fill-in-the-middle.")
@click.option("--today", default=None, help="The date currentDate prints (YYYY-MM-DD).")
@click.option("--image-tags", is_flag=True, help="Apply Ollama's [img-N] tags.")
def template_render(
    file: str, messages: str, tools: str | None, think: str | None, system: str | None,
    prompt: str, suffix: str, today: str | None, image_tags: bool,
) -> None:  # fmt: skip
    """Print the prompt Ollama would build from FILE for these messages."""
    think_value: bool | str | None = think
    if think in ("true", "false"):
        think_value = think == "true"
    try:
        compiled = Template.from_file(file)
        sys.stdout.write(
            compiled.render(
                _json_arg(messages, "--messages") or [],
                tools=_json_arg(tools, "--tools"),
                think=think_value,
                system=system,
                prompt=prompt,
                suffix=suffix,
                today=dt.date.fromisoformat(today) if today else None,
                image_tags=image_tags,
            )
        )
    except LLMKitError as exc:
        _fail(exc)


@template.command(name="show")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--python", "what", flag_value="python", default=True, help="The generated Python.")
@click.option("--tags", "what", flag_value="tags", help="The inferred tool-call and thinking tags.")
def template_show(file: str, what: str) -> None:
    """Show what llmkit compiles FILE to."""
    try:
        compiled = Template.from_file(file)
    except LLMKitError as exc:
        _fail(exc)
    if what == "tags":
        opening, closing = compiled.thinking_tags
        click.echo(
            json.dumps({"tool_call": compiled.tool_call_tag, "thinking": [opening, closing]})
        )
    else:
        click.echo(compiled.python_source, nl=False)


@app.command()
@click.option(
    "--backend",
    "-b",
    "backend_specs",
    multiple=True,
    metavar="SPEC",
    help="Backend string (default: llamacpp); repeat it to spread requests over several.",
)
@click.option(
    "--model",
    "-m",
    "models",
    multiple=True,
    help="A model to serve (repeatable): a store name for llamacpp, else passed upstream.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=11434, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--api-key",
    envvar="LLMKIT_API_KEY",
    default=None,
    help="Require 'Authorization: Bearer KEY' (default: $LLMKIT_API_KEY).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
@click.option(
    "--parallel",
    type=click.IntRange(min=1),
    default=None,
    help="In-process engine: requests decoded together (default 4), each slot keeping its "
    "prompt's cache.",
)
@click.option(
    "--max-queue",
    type=click.IntRange(min=0),
    default=None,
    help="In-process engine: requests that may wait for a slot (default 512); one more is "
    "answered 503 (Ollama API) or 429 with Retry-After (OpenAI API).",
)
@limit_options
def serve(
    backend_specs: tuple[str, ...],
    models: tuple[str, ...],
    host: str,
    port: int,
    api_key: str | None,
    log_level: str,
    parallel: int | None,
    max_queue: int | None,
    limits: ServeLimits,
) -> None:
    """Serve backends over the Ollama API and the OpenAI-compatible API."""
    import importlib.util

    if importlib.util.find_spec("starlette") is None or importlib.util.find_spec("uvicorn") is None:
        click.echo("error: llmkit serve needs its extras: pip install 'llmkit[serve]'", err=True)
        raise SystemExit(1)
    from llmkit.serve.server import build_app, is_loopback, run

    try:
        for spec in backend_specs or ("llamacpp",):
            for model in models or (None,):
                _ensure_model(spec, model)
        server = build_app(
            backend_specs,
            models=models,
            api_key=api_key or None,
            limits=limits,
            parallel=parallel,
            max_queue=max_queue,
        )
    except LLMKitError as exc:
        _fail(exc)
    if not api_key and not is_loopback(host):
        click.echo(f"warning: serving on {host} without an API key (--api-key)", err=True)
    run(server, host=host, port=port, log_level=log_level, limits=limits)


@app.command(name="batch")
@click.argument("input_path", metavar="IN.jsonl", type=click.Path(dir_okay=False))
@click.option(
    "--output", "-o", required=True, type=click.Path(dir_okay=False), help="The result JSONL."
)
@click.option(
    "--backend",
    "-b",
    "backend_specs",
    multiple=True,
    metavar="SPEC",
    help="Backend string (default: the local model); repeat it to share the lines out.",
)
@click.option("--model", "-m", default=None, help="Run every line on this model.")
@click.option(
    "--concurrency", "-c", type=click.IntRange(min=1), default=None, help="Requests in flight."
)
@click.option(
    "--retries", type=click.IntRange(min=0), default=2, show_default=True, help="Per request."
)
@click.option("--retry-failed", is_flag=True, help="Rerun every line that failed before.")
@click.option("--quiet", "-q", is_flag=True, help="No progress; only the summary.")
@click.option(
    "--progress",
    "progress_mode",
    type=click.Choice(["auto", "bar", "log"]),
    default="auto",
    show_default=True,
)
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--ray-address", default=None, help="A Ray cluster (default: start one here).")
@click.option("--ray-workers", type=click.IntRange(min=1), default=None, help="Ray workers.")
@click.option("--no-fsync", is_flag=True, help="Flush each result without fsync.")
def batch_command(
    input_path: str,
    output: str,
    backend_specs: tuple[str, ...],
    model: str | None,
    concurrency: int | None,
    retries: int,
    retry_failed: bool,
    quiet: bool,
    progress_mode: str,
    executor: str,
    ray_address: str | None,
    ray_workers: int | None,
    no_fsync: bool,
) -> None:
    """Run every request of IN.jsonl; write one result line each to --output.

    Lines are OpenAI Batch API lines or llmkit requests.  Rerunning the same
    command after a crash finishes what is left.  Exit status: 0 when every line
    succeeded, 3 when some lines failed (listed), 1 when the batch could not run.
    """
    from llmkit.backends.http.retry import RetryPolicy
    from llmkit.batch import BatchRunner, progress_for
    from llmkit.models.registry import DEFAULT_MODEL

    specs = list(backend_specs)
    if model is None and len(specs) <= 1:
        scheme, target = parse_backend_spec(specs[0] if specs else "llamacpp")
        if scheme == "llamacpp":  # one local model answers every line, whatever it names
            model = target or DEFAULT_MODEL
    try:
        for spec in specs or ["llamacpp"]:
            _ensure_model(spec, model)
        runner = BatchRunner(
            specs if len(specs) > 1 else (specs[0] if specs else None),
            model=model,
            concurrency=concurrency,
            retry=RetryPolicy(max_attempts=retries + 1),
            retry_failed=retry_failed,
            fsync=not no_fsync,
            executor="ray" if executor == "ray" else "local",
            ray_address=ray_address,
            ray_workers=ray_workers,
        )
        mode: Any = "quiet" if quiet else progress_mode
        summary = runner.run(input_path, output, progress=progress_for(mode))
    except LLMKitError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        click.echo("interrupted: run the same command again to finish the batch", err=True)
        raise SystemExit(130) from None
    for line, message in sorted(summary.failures)[:20]:
        click.echo(f"failed: {message.splitlines()[0] if message else f'line {line}'}", err=True)
    if len(summary.failures) > 20:
        click.echo(f"... and {len(summary.failures) - 20} more (see {output})", err=True)
    raise SystemExit(3 if summary.failed or summary.skipped_failed else 0)


@app.command()
def backends() -> None:
    """List the installed backend plug-ins."""
    for name in available_backends():
        click.echo(name)
