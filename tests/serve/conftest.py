"""Fixtures for the server's tests: apps over the mock backend, and a client for them."""

from __future__ import annotations

import pytest
from serve_helpers import asgi_client

from llmkit.backends.mock import MockBackend
from llmkit.serve import create_app


@pytest.fixture
def mock_app():
    return create_app(MockBackend(), models=["mock"])


@pytest.fixture
async def client(mock_app):
    async with asgi_client(mock_app) as http:
        yield http
