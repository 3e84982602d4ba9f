"""Export a compiled Ollama Go template as an equivalent Hugging Face Jinja2 chat template.

:func:`to_jinja` walks the parse tree (:mod:`.nodes`) and writes Jinja source that,
rendered with Hugging Face's variables, gives the same bytes as
:meth:`llmkit.template.Template.render` (current Ollama, ``compat="current"``) for the same
conversation::

    env = jinja2.sandbox.ImmutableSandboxedEnvironment()
    env.from_string(to_jinja(t)).render(messages=messages, tools=tools, think=think)
    == Template(t).render(messages, tools=tools, think=think)

What the exported template reads
    ``messages`` (list of dicts with Ollama's field names: ``role``, ``content``,
    ``thinking``, ``images``, ``tool_calls`` with ``function.name`` / ``function.arguments``
    (an object) / ``function.index`` and ``id``, ``tool_name``, ``tool_call_id``), ``tools``
    (OpenAI shape, or ``None``) and ``think`` (as ``Template.render``: a bool or a level such
    as ``"high"``; when it is undefined ``enable_thinking`` is read instead).  Hugging Face's
    aliases ``reasoning_content`` and ``name`` are *not* read, because Ollama does not read
    them either.  ``add_generation_prompt`` and ``bos_token`` are ignored: an Ollama template
    always decides itself whether to open the assistant's turn, and Ollama's prompt never
    contains the BOS token (llama.cpp adds it when tokenizing).

What the exported template does, inside Jinja
    Ollama's request checks (a think level it does not know, tool-call arguments that are
    not an object: ``raise_exception``) and preprocessing (roles lower-cased; consecutive
    messages of the same role other than ``tool`` merged with ``"\\n\\n"``, the later ones'
    other fields dropped; ``.System`` = all system contents joined with ``"\\n\\n"``; tools
    converted to Ollama's schema subset), then Go's printing: strings verbatim,
    ``true``/``false``, Go's ``%v`` for numbers (``1e+06``), ``map[k:v]`` / ``[a b]`` for
    nested values, Go's ``encoding/json`` (compact, map keys sorted, ``<>&`` as ``\\u003c``
    ..., numbers as Go writes a float64) for ``json``, tools, tool-call arguments and
    properties, and Go struct syntax for ``{{ .Function }}`` of a tool (Ollama issue #14601).
    These are Jinja macros (``go_json``, ``go_float``, ...) built from stock Jinja filters and
    tests only: no filter has to be registered, and Hugging Face's ``tojson`` is not used.
    ``currentDate``/``yesterdayDate`` use Hugging Face's ``strftime_now``; ``index``/``slice``
    out of range and JSON of image data call its ``raise_exception``, where Go fails.  All
    text is written as string literals in ``{{- ... }}`` (template text can never become
    Jinja code), so the result is the same with or without ``trim_blocks``/``lstrip_blocks``;
    ``break``/``continue`` become flags, so the ``loopcontrols`` extension is not needed.
    Constant conditions (``.Suffix``, ``.Response`` on the chat path) are folded away.

Templates without ``.Messages`` (Ollama's legacy path) are exported as a loop over the
collated messages with Ollama's three registers (system, prompt, response), calling the
template as a macro per turn and a copy cut after ``.Response`` for the last turn.

Limits (the export is exact only within them)
    * Only the chat path: the fill-in-the-middle path (``prompt`` + ``suffix``), a
      Modelfile ``system`` and ``image_tags`` have no Hugging Face counterpart.
    * Message ``content`` must be a string or ``None``; tool definitions and arguments must
      be JSON values (``dict``/``list``/``str``/``int``/``float``/``bool``/``None``) with
      string keys.  Numbers are printed as Go prints the ``float64`` Ollama decodes them to
      (``1000000`` -> ``1e+06`` in text, ``1000000`` in JSON; integers beyond 2**53 keep
      Go's shortest digits: ``12345678901234567890`` -> ``12345678901234567000``).  Not
      reproduced: NaN and infinities inside JSON (Go's ``json`` fails and Ollama prints an
      empty string; the export raises), lone surrogates and byte-level string handling
      (``len`` of a string counts UTF-8 bytes via ``str.encode``; ``index``/``slice`` of
      strings are refused).
    * Refused with :class:`JinjaExportError`, which names the construct and its template
      line: what Go can only print with heap addresses or raw bytes (``{{ .Messages }}``, a
      whole message, images, an ``api.ToolProperty``), Go's ``js`` and ``call``, ``printf``
      verbs other than plain ``%s %v %d %t %%``, comparisons, ``len``, ``range`` and field
      access on JSON values of unknown type, ``slice`` of anything but ``.Messages``,
      variables that change type, recursion through ``template``, Ollama's functions in the
      last legacy turn (Ollama runs it without them), and operations that always fail in Go.
"""

from __future__ import annotations

from llmkit.errors import JinjaExportError
from llmkit.template.jinja._document import _export
from llmkit.template.ollama import OllamaTemplate

__all__ = ["JinjaExportError", "to_jinja"]


def to_jinja(template: OllamaTemplate) -> str:
    """A Jinja2 chat template (Hugging Face variables) that renders as ``template`` does.

    Raises :class:`JinjaExportError`, naming the construct and its line, for what Jinja
    cannot express exactly.  The output is deterministic.
    """
    return _export(template)
