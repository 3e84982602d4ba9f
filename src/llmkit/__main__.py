"""``python -m llmkit``: the same as the ``llmkit`` command."""

from llmkit.cli import main

main()
