"""Where and how an HTTP backend connects (pure: settings, no I/O).

* :class:`Timeouts` — connect, read and whole-request (deadline) limits.
* :func:`base_url_from_target` — a backend string's target to a base URL.
* :func:`auth_headers` — the bearer key from an argument or the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from llmkit.errors import InvalidRequestError

__all__ = ["Timeouts", "auth_headers", "base_url_from_target", "user_agent"]

_LOCAL_HOSTS = ("localhost", "127.", "[::1]", "0.0.0.0")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Limits in seconds (``None``: no limit).

    ``connect`` bounds making a connection; ``read`` bounds each wait for
    bytes of a generation or progress call (a server that stalls mid-stream
    longer than this fails the call); ``write`` each wait to send.
    ``management`` replaces ``read`` for the calls that never wait on a model
    (list, show, ps, version, copy, delete; ``/v1/models``).  ``total`` is the
    deadline of a whole call, retries, streaming and resumed streams included
    (the backends' ``deadline=`` argument): no wait goes past it.

    Why ``read`` stays at 300 s: before the first byte of a generation a
    server may load the model (Ollama waits up to 5 minutes of stalled loading,
    ``OLLAMA_LOAD_TIMEOUT``) and read a long prompt (minutes on a CPU), and
    Ollama holds back a tool call until it is whole, so a silence mid-stream
    lasts as long as the call takes to generate.  A shorter default would fail
    healthy slow local models; set ``total`` to bound a call as a whole.
    """

    connect: float | None = 10.0
    read: float | None = 300.0
    write: float | None = 60.0
    total: float | None = None
    management: float | None = 30.0

    @classmethod
    def of(cls, value: Timeouts | float | None) -> Timeouts:
        """A ``Timeouts`` from itself, one number (every phase but ``total``), or ``None``."""
        if value is None:
            return cls()
        if isinstance(value, Timeouts):
            return value
        seconds = float(value)
        return cls(connect=seconds, read=seconds, write=seconds, total=None, management=seconds)


def base_url_from_target(target: str, *, default: str, path: str = "") -> str:
    """The base URL for a backend target (``host:port``, ``host:port/v1`` or a full URL).

    A target without a scheme gets ``http`` for a local host or when it names
    a port, ``https`` otherwise; ``path`` is appended when the target has none.

    >>> base_url_from_target("localhost:11434", default="127.0.0.1:11434")
    'http://localhost:11434'
    >>> base_url_from_target("api.example.com", default="x", path="/v1")
    'https://api.example.com/v1'
    """
    text = (target or default).strip().rstrip("/")
    if "://" not in text:
        host_port = text.split("/", 1)[0]
        has_port = ":" in host_port.rsplit("]", 1)[-1]
        scheme = "http" if has_port or host_port.startswith(_LOCAL_HOSTS) else "https"
        text = f"{scheme}://{text}"
    scheme, _, rest = text.partition("://")
    if scheme not in ("http", "https") or not rest or rest.startswith("/"):
        raise InvalidRequestError(
            f"not a server address: {target!r} (expected host:port, or an http(s) URL)",
            fields=["backend"],
        )
    if path and "/" not in rest:
        text += path
    return text


def auth_headers(
    api_key: str | None,
    env_names: Sequence[str],
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``Authorization: Bearer`` with ``api_key``, else the first set variable of ``env_names``."""
    env = os.environ if environ is None else environ
    key = api_key
    if key is None:
        key = next((env[name] for name in env_names if env.get(name)), None)
    return {"Authorization": f"Bearer {key}"} if key else {}


def user_agent() -> str:
    """llmkit's ``User-Agent`` header value."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"llmkit/{version('llmkit')}"
    except PackageNotFoundError:  # running from a source tree
        return "llmkit"
