"""``llmkit chat`` with no prompt: a conversation in the terminal.

:class:`ChatSession` is the conversation (system prompt, options, messages) and reads one
line of the user's at a time: a command (``/help``, ``/system``, ``/set``, ``/unset``,
``/clear``, ``/save``, ``/load``, ``/bye``) or a message, which it answers by streaming
from the client.  :func:`run_session` is the terminal around it: input lines (with
``readline`` editing where there is one, and ``\"\"\"`` blocks for several lines), Ctrl-C
stopping an answer without ending the conversation, Ctrl-D or ``/bye`` ending it.

An answer stopped with Ctrl-C keeps what was shown, so the conversation reads as the user
saw it; a saved conversation is JSON (``model``, ``system``, ``options``, ``messages``) that
``/load`` or ``llmkit chat --load FILE`` reads back.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from llmkit._cli_helpers import parse_option_value
from llmkit.client import Client
from llmkit.errors import LLMKitError
from llmkit.types.options import Options

__all__ = ["HELP", "ChatSession", "run_session"]

HELP = """Commands:
  /system TEXT     set the system prompt (/system alone clears it)
  /set KEY=VALUE   set an option (/set alone lists them), e.g. /set temperature=0
  /unset KEY       drop an option
  /clear           forget the conversation (the system prompt and options stay)
  /save FILE       save the conversation as JSON
  /load FILE       load a saved conversation
  /bye             leave (or Ctrl-D)
Ctrl-C stops an answer; \"\"\" starts and ends a message of several lines."""


@dataclass
class ChatSession:
    """A conversation with ``client``: what is said, and the commands that change it."""

    client: Client
    out: TextIO
    model: str | None = None
    system: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False

    # -- one line ------------------------------------------------------------

    def handle(self, line: str) -> None:
        """A command, or a message to answer."""
        text = line.strip()
        if not text:
            return
        if text.startswith("/"):
            self.command(text)
        else:
            self.ask(line)

    def command(self, text: str) -> None:
        name, _, argument = text.partition(" ")
        argument = argument.strip()
        handler: Callable[[str], None] | None = {
            "/help": lambda _: self.say(HELP),
            "/?": lambda _: self.say(HELP),
            "/system": self.set_system,
            "/set": self.set_option,
            "/unset": self.unset_option,
            "/clear": self.clear,
            "/save": self.save,
            "/load": self.load,
            "/bye": self.bye,
            "/exit": self.bye,
        }.get(name)
        if handler is None:
            self.say(f"unknown command {name!r}; /help lists them")
            return
        handler(argument)

    # -- commands ------------------------------------------------------------

    def set_system(self, text: str) -> None:
        self.system = text or None
        self.say("system prompt set" if text else "system prompt cleared")

    def set_option(self, pair: str) -> None:
        if not pair:
            shown = ", ".join(f"{k}={v!r}" for k, v in sorted(self.options.items()))
            self.say(f"options: {shown or '(none)'}")
            return
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            self.say("usage: /set KEY=VALUE")
            return
        candidate = {**self.options, key: parse_option_value(value.strip())}
        try:
            Options.model_validate(candidate)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            self.say(f"not set: {_first_line(exc)}")
            return
        self.options = candidate
        self.say(f"set {key}={candidate[key]!r}")

    def unset_option(self, key: str) -> None:
        if self.options.pop(key.strip(), None) is None:
            self.say(f"{key.strip() or '(nothing)'} was not set")
        else:
            self.say(f"unset {key.strip()}")

    def clear(self, _: str = "") -> None:
        self.messages.clear()
        self.say("conversation cleared")

    def save(self, path: str) -> None:
        if not path:
            self.say("usage: /save FILE")
            return
        data = {
            "model": self.model,
            "system": self.system,
            "options": self.options,
            "messages": self.messages,
        }
        try:
            Path(path).expanduser().write_text(json.dumps(data, indent=2) + "\n", "utf-8")
        except OSError as exc:
            self.say(f"not saved: {exc}")
            return
        self.say(f"saved {len(self.messages)} messages to {path}")

    def load(self, path: str) -> None:
        if not path:
            self.say("usage: /load FILE")
            return
        try:
            data = json.loads(Path(path).expanduser().read_text("utf-8"))
            messages = data["messages"]
            options = data.get("options") or {}
            if not isinstance(messages, list) or not isinstance(options, dict):
                raise ValueError("'messages' must be a list and 'options' an object")
            for index, message in enumerate(messages):
                if not isinstance(message, dict) or "role" not in message:
                    raise ValueError(f"message {index} has no role")
            Options.model_validate(options)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.say(f"not loaded: {_first_line(exc)}")
            return
        self.messages = list(messages)
        self.options = dict(options)
        self.system = data.get("system") or None
        self.say(f"loaded {len(self.messages)} messages from {path}")

    def bye(self, _: str = "") -> None:
        self.done = True

    # -- answering -----------------------------------------------------------

    def ask(self, text: str) -> None:
        """Send ``text`` with the conversation so far and stream the answer.

        Ctrl-C (``KeyboardInterrupt``) stops the answer: what was shown stays in the
        conversation, marked as stopped on the screen only.
        """
        turn = {"role": "user", "content": text}
        sent = ([{"role": "system", "content": self.system}] if self.system else []) + [
            *self.messages,
            turn,
        ]
        shown: list[str] = []
        try:
            with self.client.chat(sent, options=self.options or None, stream=True) as stream:
                for piece in stream.text_stream():
                    shown.append(piece)
                    self.out.write(piece)
                    self.out.flush()
        except KeyboardInterrupt:
            self.out.write("\n(stopped)\n")
        except LLMKitError as exc:
            self.out.write(f"\nerror: {_first_line(exc)}\n")
            self.out.flush()
            if not shown:
                return  # nothing was said: the question is not part of the conversation
        else:
            self.out.write("\n")
        self.out.flush()
        self.messages.append(turn)
        self.messages.append({"role": "assistant", "content": "".join(shown)})

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def run_session(
    session: ChatSession, read: Callable[[str], str] = input, *, prompt: str = ">>> "
) -> None:
    """Read lines with ``read`` until ``/bye`` or end of input, handing each to ``session``.

    A line that is ``\"\"\"`` (or starts with it) opens a message of several lines, closed by
    a line ending in ``\"\"\"``.  Ctrl-C while reading discards the line and says how to
    leave; Ctrl-C while an answer streams stops that answer (:meth:`ChatSession.ask`).
    """
    with contextlib.suppress(ImportError):  # line editing and history, where there is one
        import readline  # noqa: F401
    session.say('llmkit chat: /help for commands, Ctrl-D or /bye to leave, """ for several lines')
    while not session.done:
        try:
            line = read(prompt)
            if line.lstrip().startswith('"""'):
                line = _read_block(line.lstrip()[3:], read)
        except EOFError:
            session.out.write("\n")
            break
        except KeyboardInterrupt:
            session.out.write("\n(use /bye or Ctrl-D to leave)\n")
            continue
        session.handle(line)


def _read_block(first: str, read: Callable[[str], str]) -> str:
    lines = [first]
    while not lines[-1].rstrip().endswith('"""'):
        lines.append(read("... "))
    lines[-1] = lines[-1].rstrip()[:-3]
    return "\n".join(lines).strip("\n")
