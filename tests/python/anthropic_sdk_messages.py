"""Drives the gateway's /v1/messages with the official Anthropic Python SDK (run by
tests/tests/gateway.rs): non-stream, stream, tools in both, an error, count_tokens.

Usage: python anthropic_sdk_messages.py BASE_URL API_KEY
Prints one JSON object with what the SDK saw; the Rust test asserts on it.
"""

import json
import sys

import anthropic

base_url, api_key = sys.argv[1], sys.argv[2]
client = anthropic.Anthropic(base_url=base_url, api_key=api_key, max_retries=0)
seen = {"sdk_version": anthropic.__version__}
tools = [
    {
        "name": "get_weather",
        "description": "The weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
ask = [{"role": "user", "content": "Weather in Paris?"}]

m = client.messages.create(
    model="demo",
    max_tokens=64,
    system="Be brief.",
    messages=[{"role": "user", "content": "Hello from Anthropic"}],
)
seen["message"] = {
    "type": m.type,
    "role": m.role,
    "text": m.content[0].text,
    "stop_reason": m.stop_reason,
    "output_tokens": m.usage.output_tokens,
}

with client.messages.stream(
    model="demo-lorem", max_tokens=64, messages=[{"role": "user", "content": "stream please"}]
) as stream:
    text = "".join(stream.text_stream)
    final = stream.get_final_message()
seen["stream"] = {
    "words": len(text.split()),
    "stop_reason": final.stop_reason,
    "output_tokens": final.usage.output_tokens,
}

t = client.messages.create(
    model="demo", max_tokens=64, tools=tools, tool_choice={"type": "any"}, messages=ask
)
uses = [b for b in t.content if b.type == "tool_use"]
seen["tool"] = {
    "names": [b.name for b in uses],
    "stop_reason": t.stop_reason,
    "input_is_object": all(isinstance(b.input, dict) for b in uses),
}

with client.messages.stream(
    model="demo", max_tokens=64, tools=tools, tool_choice={"type": "any"}, messages=ask
) as stream:
    final = stream.get_final_message()
seen["stream_tool"] = {
    "names": [b.name for b in final.content if b.type == "tool_use"],
    "stop_reason": final.stop_reason,
}

try:
    client.messages.create(model="no-such-model", max_tokens=8, messages=ask)
    seen["unknown_model"] = None
except anthropic.NotFoundError as e:
    seen["unknown_model"] = {"status": e.status_code, "type": e.body["error"]["type"]}

count = client.messages.count_tokens(model="demo", messages=ask)
seen["count_tokens"] = count.input_tokens

print(json.dumps(seen))
