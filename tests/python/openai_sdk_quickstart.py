"""Drives the gateway with the official OpenAI Python SDK (run by tests/tests/gateway.rs).

Usage: python openai_sdk_quickstart.py BASE_URL API_KEY
Prints one JSON object with what the SDK saw; the Rust test asserts on it.
"""

import json
import sys

import openai
from openai import OpenAI

base_url, api_key = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
seen = {"sdk_version": openai.__version__}

reply = client.chat.completions.create(
    model="demo", messages=[{"role": "user", "content": "Hello from the SDK"}]
)
seen["completion"] = {
    "content": reply.choices[0].message.content,
    "finish_reason": reply.choices[0].finish_reason,
    "total_tokens": reply.usage.total_tokens,
}

pieces, usage, roles = [], None, []
for chunk in client.chat.completions.create(
    model="demo-lorem",
    messages=[{"role": "user", "content": "stream please"}],
    stream=True,
    stream_options={"include_usage": True},
):
    if chunk.usage is not None:
        usage = chunk.usage.total_tokens
    for choice in chunk.choices:
        if choice.delta.role:
            roles.append(choice.delta.role)
        if choice.delta.content:
            pieces.append(choice.delta.content)
seen["stream"] = {"text": "".join(pieces), "roles": roles, "total_tokens": usage}

vectors = client.embeddings.create(model="demo-embedding", input=["first text", "second text"])
as_floats = client.embeddings.create(
    model="demo-embedding", input="first text", encoding_format="float"
)
seen["embeddings"] = {
    "count": len(vectors.data),
    "dims": len(vectors.data[0].embedding),
    "prompt_tokens": vectors.usage.prompt_tokens,
    # The SDK asks for base64 by default and decodes it: equal to the float answer.
    "same_as_float": [round(x, 5) for x in vectors.data[0].embedding]
    == [round(x, 5) for x in as_floats.data[0].embedding],
}

try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    seen["unknown_model"] = None
except openai.NotFoundError as e:
    seen["unknown_model"] = {"status": e.status_code, "code": e.code}

try:
    OpenAI(base_url=base_url, api_key="sk-wrong", max_retries=0).chat.completions.create(
        model="demo", messages=[{"role": "user", "content": "x"}]
    )
    seen["wrong_key"] = None
except openai.AuthenticationError as e:
    seen["wrong_key"] = {"status": e.status_code}

print(json.dumps(seen))
