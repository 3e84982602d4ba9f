"""Reading a streamed body straight from h11 (llmkit.backends.http.body) against a real server.

The direct path must give the same bytes as httpx, reuse a fully read
connection, drop an abandoned one, raise httpx's own exceptions on a stall
or a cut, and step aside (to httpx's ordinary path) where it does not apply.
"""

from __future__ import annotations

import gzip

import anyio
import httpx
import pytest
from faultserver import Reply

from llmkit.backends.http import body

pytestmark = pytest.mark.timeout(30)

PIECES = [b'{"n": 1}\n', b'{"n": 2, "t": "\xc3\xa9"}\n', b"x" * 70000 + b"\n", b"end\n"]


def read_sync(client: httpx.Client, url: str) -> tuple[bytes, object, bool]:
    with client.stream("POST", url, json={}) as response:
        direct = body._layers(response, sync=True) is not None
        data = b"".join(body.iter_raw(response))
        return data, response.extensions.get("network_stream"), direct


async def read_async(client: httpx.AsyncClient, url: str) -> tuple[bytes, object, bool]:
    async with client.stream("POST", url, json={}) as response:
        direct = body._layers(response, sync=False) is not None
        data = b"".join([piece async for piece in body.aiter_raw(response)])
        return data, response.extensions.get("network_stream"), direct


def test_chunked_body_is_read_directly_and_the_connection_is_reused(fault_server):
    fault_server.script(Reply(pieces=PIECES), Reply(pieces=PIECES[:2]))
    with httpx.Client() as client:
        first, stream1, direct1 = read_sync(client, fault_server.url)
        second, stream2, direct2 = read_sync(client, fault_server.url)
    assert direct1 and direct2
    assert first == b"".join(PIECES)
    assert second == b"".join(PIECES[:2])
    assert stream1 is stream2  # the same connection, back from the pool


def test_sized_body_is_read_directly(fault_server):
    fault_server.script(Reply(body=b"0123456789" * 1000), Reply(body=b"again"))
    with httpx.Client() as client:
        first, stream1, direct = read_sync(client, fault_server.url)
        second, stream2, _ = read_sync(client, fault_server.url)
    assert direct
    assert first == b"0123456789" * 1000
    assert second == b"again"
    assert stream1 is stream2


def test_abandoned_body_closes_the_connection(fault_server):
    fault_server.script(Reply(pieces=PIECES, delay=0.05), Reply(pieces=PIECES[:1]))
    with httpx.Client() as client:
        with client.stream("POST", fault_server.url, json={}) as response:
            abandoned = response.extensions["network_stream"]
            pieces = body.iter_raw(response)
            assert next(pieces) == PIECES[0]
        # Leaving the block mid-body: the connection cannot be reused.
        data, stream, _ = read_sync(client, fault_server.url)
    assert data == PIECES[0]
    assert stream is not abandoned


def test_stall_raises_httpx_read_timeout(fault_server):
    fault_server.script(Reply(pieces=PIECES, pause_after=1, pause=2.0))
    with (
        httpx.Client(timeout=httpx.Timeout(5, read=0.3)) as client,
        client.stream("POST", fault_server.url, json={}) as response,
    ):
        pieces = body.iter_raw(response)
        assert next(pieces) == PIECES[0]
        with pytest.raises(httpx.ReadTimeout):
            next(pieces)


def test_cut_raises_httpx_remote_protocol_error(fault_server):
    fault_server.script(Reply(pieces=PIECES, cut_after=2))
    with (
        httpx.Client() as client,
        client.stream("POST", fault_server.url, json={}) as response,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        for _ in body.iter_raw(response):
            pass


def test_compressed_body_takes_the_decoding_path(fault_server):
    packed = gzip.compress(b"".join(PIECES))
    fault_server.script(
        Reply(pieces=[packed[:100], packed[100:]], headers={"Content-Encoding": "gzip"})
    )
    with httpx.Client() as client:
        data, _, direct = read_sync(client, fault_server.url)
    assert not direct
    assert data == b"".join(PIECES)


def test_another_transport_takes_the_ordinary_path():
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"mock body")

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        data, _, direct = read_sync(client, "http://mock.invalid/")
    assert not direct
    assert data == b"mock body"


def test_async_reads_directly_on_asyncio_and_falls_back_on_trio(fault_server, anyio_backend):
    async def main() -> None:
        fault_server.script(Reply(pieces=PIECES), Reply(pieces=PIECES[1:]))
        async with httpx.AsyncClient() as client:
            first, stream1, direct = await read_async(client, fault_server.url)
            second, stream2, _ = await read_async(client, fault_server.url)
        # httpcore gives trio its own network stream type: httpx's path reads it.
        assert direct == (anyio_backend == "asyncio")
        assert first == b"".join(PIECES)
        assert second == b"".join(PIECES[1:])
        assert stream1 is stream2

    anyio.run(main, backend=anyio_backend)


def test_async_stall_and_cut(fault_server, anyio_backend):
    async def main() -> None:
        fault_server.script(
            Reply(pieces=PIECES, pause_after=1, pause=2.0), Reply(pieces=PIECES, cut_after=1)
        )
        async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=0.3)) as client:
            async with client.stream("POST", fault_server.url, json={}) as response:
                pieces = body.aiter_raw(response)
                assert await anext(pieces) == PIECES[0]
                with pytest.raises(httpx.ReadTimeout):
                    await anext(pieces)
            async with client.stream("POST", fault_server.url, json={}) as response:
                with pytest.raises(httpx.RemoteProtocolError):
                    async for _ in body.aiter_raw(response):
                        pass

    anyio.run(main, backend=anyio_backend)


def test_async_cancellation_mid_read_closes_the_connection(fault_server):
    async def main() -> None:
        fault_server.script(Reply(pieces=PIECES, pause_after=1, pause=2.0), Reply(body=b"ok"))
        async with httpx.AsyncClient() as client:
            with anyio.move_on_after(0.3) as scope:
                async with client.stream("POST", fault_server.url, json={}) as response:
                    abandoned = response.extensions["network_stream"]
                    async for _ in body.aiter_raw(response):
                        pass
            assert scope.cancelled_caught
            data, stream, _ = await read_async(client, fault_server.url)
        assert data == b"ok"
        assert stream is not abandoned

    anyio.run(main, backend="asyncio")
