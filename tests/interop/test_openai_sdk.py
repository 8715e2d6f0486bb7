"""The openai Python SDK and curl against `ember serve`'s /v1 API (demo model): chat completions,
non-streaming and streaming (SSE).

Usage: test_openai_sdk.py EMBER_BINARY   (exit 77 = skipped)"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ember_harness as H  # noqa: E402

try:
    import openai
except Exception as e:
    H.skip(f"openai SDK not importable: {e}")

MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello."}]


def check_sdk(base_url):
    client = openai.OpenAI(base_url=base_url, api_key="dummy", max_retries=0, timeout=30)
    models = [m.id for m in client.models.list().data]
    assert models, "GET /v1/models listed no model"
    model = models[0]

    r = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=8)
    text = r.choices[0].message.content
    print(f"sdk non-streaming: finish={r.choices[0].finish_reason} usage={r.usage} text={text!r}")
    assert r.choices[0].message.role == "assistant"
    assert text, "empty completion"
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.completion_tokens >= 1 and r.usage.prompt_tokens >= 1

    pieces, finishes = [], []
    for chunk in client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=8, stream=True):
        for c in chunk.choices:
            if c.delta.content:
                pieces.append(c.delta.content)
            if c.finish_reason:
                finishes.append(c.finish_reason)
    print(f"sdk streaming: {len(pieces)} chunks, finish={finishes}, text={''.join(pieces)!r}")
    assert pieces, "no streamed content"
    assert len(finishes) == 1 and finishes[0] in ("stop", "length"), finishes
    return model


def check_curl(base_url, model):
    curl = shutil.which("curl")
    if not curl:
        print("curl not installed: curl checks skipped")
        return
    req = json.dumps({"model": model, "messages": MESSAGES, "max_tokens": 8})
    out = subprocess.run([curl, "-sS", "--max-time", "30", "-H", "Content-Type: application/json",
                          "-H", "Authorization: Bearer dummy", "-d", req, f"{base_url}/chat/completions"],
                         capture_output=True, text=True, check=True).stdout
    body = json.loads(out)
    print(f"curl non-streaming: {out[:200]}")
    assert body["object"] == "chat.completion", body
    assert body["choices"][0]["message"]["content"], body

    req = json.dumps({"model": model, "messages": MESSAGES, "max_tokens": 8, "stream": True})
    out = subprocess.run([curl, "-sS", "-N", "--max-time", "30", "-H", "Content-Type: application/json",
                          "-d", req, f"{base_url}/chat/completions"], capture_output=True, text=True,
                         check=True).stdout
    events = [line[len("data: "):] for line in out.splitlines() if line.startswith("data: ")]
    print(f"curl streaming: {len(events)} events, last={events[-1] if events else None!r}")
    assert events and events[-1] == "[DONE]", out[:500]
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks), chunks
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text, out[:500]


def main():
    H.deadline(180)
    ember = H.ember_binary()
    with H.tempdir() as tmp:
        wallets = os.path.join(tmp, "wallets")
        H.new_hotkey(ember, wallets, "miner")
        # Greedy by default: the random demo model then never ends a reply before max_tokens.
        with H.Server(ember, wallets, "miner", ["--max-tokens", "16", "--temperature", "0",
                                                "--v1-access", "open"]) as srv:
            base_url = f"http://127.0.0.1:{srv.port}/v1"
            model = check_sdk(base_url)
            check_curl(base_url, model)
    print("PASS")


if __name__ == "__main__":
    main()
