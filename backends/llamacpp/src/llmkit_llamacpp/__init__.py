"""llmkit's in-process llama.cpp backend, registered as ``llamacpp``."""

from llmkit_llamacpp.backend import LlamaCppBackend
from llmkit_llamacpp.engine import EngineCounters
from llmkit_llamacpp.options import RULES, options_table

__all__ = ["RULES", "EngineCounters", "LlamaCppBackend", "options_table"]
