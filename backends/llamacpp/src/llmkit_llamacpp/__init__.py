"""llmkit's in-process llama.cpp backend, registered as ``llamacpp``."""

from llmkit_llamacpp.backend import LlamaCppBackend
from llmkit_llamacpp.options import RULES, options_table

__all__ = ["RULES", "LlamaCppBackend", "options_table"]
