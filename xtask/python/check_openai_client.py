"""The official openai client against the `serve` example: models, completions (n=2,
logprobs), stream=True on completions and chat, chat completions.

    cargo run --release --example serve -- --model assets/demo-model --port 8000 &
    python3 xtask/python/check_openai_client.py http://127.0.0.1:8000

Needs `pip install openai`. Streams must arrive token by token (one piece per token on the
demo model's character tokenizer) and join into the non-streamed answer.
"""
import sys
from openai import OpenAI

client = OpenAI(base_url=sys.argv[1] + "/v1", api_key="none")
models = [m.id for m in client.models.list().data]
print("models:", models)
name = models[0]
c = client.completions.create(model=name, prompt=["Q: Nam has 3 objts, gains 4. How many?\n", "Q: 5+1\n"], n=2,
                              max_tokens=32, temperature=0.7, seed=1, logprobs=1)
print("completions:", len(c.choices), [ch.text[:20] for ch in c.choices], c.usage)
full = client.completions.create(model=name, prompt="Q: Nam has 3 objts, gains 4. How many?\n", max_tokens=48, temperature=0)
pieces = []
for chunk in client.completions.create(model=name, prompt="Q: Nam has 3 objts, gains 4. How many?\n", max_tokens=48,
                                       temperature=0, stream=True):
    if chunk.choices:
        pieces.append(chunk.choices[0].text)
streamed = "".join(pieces)
print("stream pieces:", len(pieces), "equal to non-stream:", streamed == full.choices[0].text)
assert streamed == full.choices[0].text and streamed
assert len([p for p in pieces if p]) == len(streamed), "not one piece per token"
chat = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "Nam has 3 objts, gains 4. How many?"}],
                                      max_tokens=48, temperature=0)
print("chat:", repr(chat.choices[0].message.content[:60]), chat.choices[0].finish_reason, chat.usage)
assert chat.choices[0].message.content
pieces = []
usage = None
for chunk in client.chat.completions.create(model=name, messages=[{"role": "user", "content": "Nam has 3 objts, gains 4. How many?"}],
                                            max_tokens=48, temperature=0, stream=True,
                                            stream_options={"include_usage": True}):
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)
    if chunk.usage:
        usage = chunk.usage
print("chat stream pieces:", len(pieces), "equal:", "".join(pieces) == chat.choices[0].message.content, "usage:", usage)
assert "".join(pieces) == chat.choices[0].message.content and usage is not None
print("OK")
