"""Drives the gateway's endpoints beyond chat with the official OpenAI Python SDK (run by
tests/tests/endpoints.rs): legacy completions, Responses (text, stream, tools,
previous_response_id, retrieve, delete), images, transcriptions, speech; rerank over plain
HTTP (the SDK has no rerank).

Usage: python openai_sdk_endpoints.py BASE_URL API_KEY
Prints one JSON object with what the SDK saw; the Rust test asserts on it.
"""

import io
import json
import sys

import httpx
import openai
from openai import OpenAI

base_url, api_key = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
seen = {"sdk_version": openai.__version__}

# Legacy completions, non-stream and stream.
c = client.completions.create(model="demo", prompt="complete me", max_tokens=16)
seen["completion"] = {"text": c.choices[0].text, "finish_reason": c.choices[0].finish_reason}
pieces = []
for chunk in client.completions.create(model="demo", prompt="stream me", stream=True):
    for choice in chunk.choices:
        pieces.append(choice.text)
seen["completion_stream"] = "".join(pieces)

# Responses: text, a follow-up turn by previous_response_id, retrieve, delete.
r = client.responses.create(model="demo", input="Hello from Responses", instructions="Be brief.")
seen["response"] = {
    "object": r.object,
    "status": r.status,
    "text": r.output_text,
    "id_prefix": r.id[:5],
    "input_tokens": r.usage.input_tokens,
    "output_tokens": r.usage.output_tokens,
}
follow = client.responses.create(model="demo", input="and again", previous_response_id=r.id)
seen["follow_up"] = {"text": follow.output_text, "input_tokens": follow.usage.input_tokens}
seen["retrieved"] = client.responses.retrieve(r.id).output_text
client.responses.delete(r.id)
try:
    client.responses.retrieve(r.id)
    seen["after_delete"] = None
except openai.NotFoundError as e:
    seen["after_delete"] = e.status_code
try:
    client.responses.create(model="demo", input="x", previous_response_id="resp_unknown")
    seen["unknown_previous"] = None
except openai.BadRequestError as e:
    seen["unknown_previous"] = {"status": e.status_code, "param": e.param}

# Responses stream: the SDK assembles the events into the final response.
events = []
with client.responses.stream(model="demo-lorem", input="stream please") as stream:
    for event in stream:
        events.append(event.type)
    final = stream.get_final_response()
seen["response_stream"] = {
    "first": events[0],
    "last": events[-1],
    "deltas": events.count("response.output_text.delta"),
    "words": len(final.output_text.split()),
    "output_tokens": final.usage.output_tokens,
}

# Responses with a function tool the model must call.
tools = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
t = client.responses.create(model="demo", input="Weather in Paris?", tools=tools, tool_choice="required")
calls = [item for item in t.output if item.type == "function_call"]
seen["response_tool"] = {"names": [c.name for c in calls], "has_call_id": all(c.call_id for c in calls)}

# Images.
img = client.images.generate(model="demo-image", prompt="a lighthouse", n=2)
seen["images"] = {"count": len(img.data), "png": all(d.b64_json.startswith("iVBOR") for d in img.data)}

# Transcription: a multipart upload.
audio = io.BytesIO(b"RIFF" + bytes(64_000))
audio.name = "clip.wav"
tr = client.audio.transcriptions.create(model="demo-whisper", file=audio)
seen["transcription"] = tr.text
audio.seek(0)
as_text = client.audio.transcriptions.create(model="demo-whisper", file=audio, response_format="text")
seen["transcription_text"] = as_text.strip() if isinstance(as_text, str) else str(as_text)

# Speech: binary audio back.
speech = client.audio.speech.create(model="demo-tts", voice="alloy", input="Hello there", response_format="wav")
seen["speech"] = {"bytes": len(speech.content), "starts": speech.content[:3].decode()}

# Rerank (Cohere's shape) over HTTP.
rr = httpx.post(
    f"{base_url}/rerank",
    headers={"Authorization": f"Bearer {api_key}"},
    json={"model": "demo-rerank", "query": "red apple", "documents": ["green pear", "red apple", "red car"], "top_n": 2},
)
seen["rerank"] = {"status": rr.status_code, "order": [x["index"] for x in rr.json()["results"]]}

print(json.dumps(seen))
