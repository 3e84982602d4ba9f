"""Stream an answer token by token from async code (asyncio here; trio works the same)."""

import asyncio

import llmkit


async def main() -> None:
    client = llmkit.AsyncClient()  # the in-process model runs in a worker thread
    async with await client.chat(
        [{"role": "user", "content": "Name three colours of the rainbow."}],
        options={"temperature": 0, "num_predict": 40},
        stream=True,
    ) as stream:
        async for text in stream.text_stream():
            print(text, end="", flush=True)
        final = await stream.final_response()
    print(f"\n[done: {final.done_reason}, {final.eval_count} tokens]")
    await client.aclose()


asyncio.run(main())
