# Generated from src/llmkit/backends/http/_async/__init__.py by .ci/unasync.py; do not edit.
"""The HTTP backends' I/O, written once: ``_sync`` is generated from ``_async``.

Edit the files in ``_async/`` and run ``python .ci/unasync.py``; a test fails when
a generated file in ``_sync/`` drifts from its source.
"""
