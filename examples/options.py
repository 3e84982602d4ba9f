"""Options: typed, range-checked, and never silently dropped."""

import llmkit

options = llmkit.Options(temperature=0.2, seed=42, num_predict=30, stop=["\n\n"])

with llmkit.Client(options={"num_ctx": 1024}) as client:  # client-wide defaults
    reply = client.chat(
        [{"role": "user", "content": "Write a haiku about the sea."}], options=options
    )
    print(reply.message.content)

    # A typo or an out-of-range value is an error that names the field.
    try:
        client.chat([{"role": "user", "content": "hi"}], options={"temprature": 3})
    except llmkit.InvalidRequestError as error:
        print("rejected:", error.fields)

    # An option llama.cpp cannot honour is rejected by the backend, not ignored.
    try:
        client.chat([{"role": "user", "content": "hi"}], options={"tfs_z": 0.5})
    except llmkit.UnsupportedOptionError as error:
        print("unsupported:", error.option)
