"""Fixtures of the serve fault suite: one real ``llmkit serve`` on the real model."""

from __future__ import annotations

import pytest
from serve.serve_helpers import serve_subprocess
from serve_fixtures import SERVE_ARGS


@pytest.fixture(scope="module")
def fault_server(smollm2_path):
    """``llmkit serve --model smollm2`` with small limits (serve_fixtures.SERVE_ARGS)."""
    with serve_subprocess(*SERVE_ARGS) as served:
        yield served
