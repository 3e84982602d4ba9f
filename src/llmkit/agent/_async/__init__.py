"""The tool loop, written once: ``_sync`` is generated from ``_async``.

Edit the files in ``_async/`` and run ``python .ci/unasync.py``; a test fails when
a generated file in ``_sync/`` drifts from its source.
"""
