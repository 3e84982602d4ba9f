"""llmkit's in-process ctransformers backend, registered as ``ctransformers``."""

from llmkit_ctransformers.backend import CTransformersBackend, preflight
from llmkit_ctransformers.options import RULES, options_table

__all__ = ["RULES", "CTransformersBackend", "options_table", "preflight"]
