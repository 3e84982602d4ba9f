"""The optional API key: Bearer auth on both protocols."""

from __future__ import annotations

import httpx
import ollama
import openai
import pytest
from serve_helpers import asgi_client

from llmkit.backends.mock import MockBackend
from llmkit.serve import create_app

pytestmark = pytest.mark.anyio

KEY = "s3cret-key"


@pytest.fixture
def locked():
    return create_app(MockBackend(), models=["mock"], api_key=KEY)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": KEY},
        {"Authorization": f"Basic {KEY}"},
    ],
)
async def test_without_the_key_both_protocols_say_401_in_their_shape(locked, headers):
    async with asgi_client(locked) as client:
        ollama_side = await client.get("/api/tags", headers=headers)
        openai_side = await client.get("/v1/models", headers=headers)
        missing_route = await client.get("/v1/nothing", headers=headers)
    assert ollama_side.status_code == 401 and ollama_side.json() == {"error": "unauthorized"}
    assert ollama_side.headers["www-authenticate"] == "Bearer"
    assert openai_side.status_code == 401
    assert openai_side.json()["error"]["code"] == "invalid_api_key"
    assert missing_route.status_code == 401  # no peeking at which routes exist


async def test_with_the_key_everything_answers(locked):
    headers = {"Authorization": f"bearer {KEY}"}
    async with asgi_client(locked) as client:
        assert (await client.get("/api/tags", headers=headers)).status_code == 200
        assert (await client.get("/v1/models", headers=headers)).status_code == 200


async def test_the_health_check_needs_no_key(locked):
    async with asgi_client(locked) as client:
        assert (await client.get("/")).text == "Ollama is running"


async def test_the_official_clients_with_and_without_the_key(locked):
    transport = httpx.ASGITransport(app=locked)
    good = openai.AsyncOpenAI(
        base_url="http://t/v1", api_key=KEY, http_client=httpx.AsyncClient(transport=transport)
    )
    assert [m.id async for m in good.models.list()] == ["mock"]
    bad = openai.AsyncOpenAI(
        base_url="http://t/v1",
        api_key="nope",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=transport),
    )
    with pytest.raises(openai.AuthenticationError):
        await bad.models.list()
    client = ollama.AsyncClient(
        host="http://t", transport=transport, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert (await client.chat(model="mock", messages=[{"role": "user", "content": "a"}])).done
    anonymous = ollama.AsyncClient(host="http://t", transport=transport)
    with pytest.raises(ollama.ResponseError) as caught:
        await anonymous.list()
    assert caught.value.status_code == 401
