"""The router of ``llmkit serve``: :class:`~llmkit.backends.router.Router` (it lives with the
backends, since clients and batches use it too)."""

from __future__ import annotations

from llmkit.backends.router import Router, Upstream, is_upstream_fault, pick_upstream

__all__ = ["Router", "Upstream", "is_upstream_fault", "pick_upstream"]
