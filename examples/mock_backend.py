"""The mock backend: llmkit's whole API with no model, for tests and docs."""

import llmkit

client = llmkit.Client("mock")
with client.chat([{"role": "user", "content": "echo these words"}], stream=True) as stream:
    for event in stream:
        print(event.type, getattr(event, "text", ""))

scripted = llmkit.Client(llmkit.MockBackend(script=["first reply", "second reply"]))
print(scripted.chat([]).message.content)
print(scripted.chat([]).message.content)
