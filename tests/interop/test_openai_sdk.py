"""The openai Python SDK and curl against `ember serve`'s /v1 API (demo model): chat completions,
non-streaming and streaming (SSE); vLLM's surface: logprobs (chat and legacy completions, one
token per streamed chunk), /v1/completions, the model check, the validators' sampling_parameters
and headers, /tokenize, /detokenize, /version, vLLM's server flags, and the Hugging Face id a
model folder records served as a model name.

Usage: test_openai_sdk.py EMBER_BINARY   (exit 77 = skipped)"""
import json
import os
import re
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


def check_logprobs(base_url, model):
    client = openai.OpenAI(base_url=base_url, api_key="dummy", max_retries=0, timeout=30)
    r = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=6, logprobs=True,
                                       top_logprobs=3)
    content = r.choices[0].logprobs.content
    print(f"chat logprobs: {len(content)} entries, first {content[0]}")
    assert len(content) == r.usage.completion_tokens, (len(content), r.usage)
    for e in content:
        assert isinstance(e.token, str) and e.logprob <= 0 and e.bytes == list(e.token.encode("utf-8")), e
        assert len(e.top_logprobs) == 3, e
        assert all(a.logprob >= b.logprob for a, b in zip(e.top_logprobs, e.top_logprobs[1:])), e
    # Greedy (--temperature 0): the chosen token is the most likely one.
    assert all(e.token == e.top_logprobs[0].token for e in content), content

    # Streamed: exactly one generated token per chunk that carries logprobs, then a separate
    # finish chunk; validators count chunks as tokens.
    token_chunks, usage = 0, None
    for chunk in client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=6, stream=True,
                                                logprobs=True, top_logprobs=5,
                                                stream_options={"include_usage": True}):
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            if c.logprobs and c.logprobs.content is not None:
                assert len(c.logprobs.content) == 1, c
                assert c.delta.content is not None, c
                assert c.finish_reason is None, c
                assert len(c.logprobs.content[0].top_logprobs) == 5
                token_chunks += 1
    print(f"streamed logprobs: {token_chunks} token chunks, usage {usage}")
    assert usage and token_chunks == usage.completion_tokens, (token_chunks, usage)

    try:
        client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=2, logprobs=True, top_logprobs=6)
        raise AssertionError("top_logprobs above --max-logprobs was accepted")
    except openai.BadRequestError as e:
        assert "top_logprobs" in str(e), e

    # The legacy completions API: logprobs: N.
    c = client.completions.create(model=model, prompt="Once upon a time", max_tokens=5, logprobs=2)
    lp = c.choices[0].logprobs
    print(f"completions: {c.choices[0].text!r} tokens={lp.tokens} offsets={lp.text_offset}")
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) \
        == c.usage.completion_tokens, lp
    assert all(1 <= len(t) <= 3 for t in lp.top_logprobs), lp.top_logprobs
    assert lp.text_offset == sorted(lp.text_offset) and lp.text_offset[0] == 0, lp.text_offset

    two = client.completions.create(model=model, prompt=["Hello", "Goodbye"], max_tokens=3, echo=True)
    assert [ch.index for ch in two.choices] == [0, 1], two
    assert two.choices[1].text.startswith("Goodbye"), two.choices[1].text
    pieces = [ch.choices[0].text for ch in client.completions.create(model=model, prompt=[1, 2, 3], max_tokens=3,
                                                                      stream=True) if ch.choices]
    assert "".join(pieces), pieces
    try:
        client.completions.create(model=model, prompt="x", echo=True, logprobs=1)
        raise AssertionError("echo with logprobs was accepted")
    except openai.BadRequestError as e:
        assert "echo" in str(e), e
    try:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES, max_tokens=2)
        raise AssertionError("an unknown model was served")
    except openai.NotFoundError as e:
        assert "does not exist" in str(e), e


def check_validator_fields(base_url, model):
    """A validator's request: sampling_parameters and seed in the body, every body field echoed
    into a header (Python-printed), X-Client-Timeout, model null."""
    client = openai.OpenAI(base_url=base_url, api_key="dummy", max_retries=0, timeout=30)
    sampling = {"temperature": 0.7, "top_p": 0.95, "top_k": 50, "max_new_tokens": 5, "do_sample": True}
    texts = []
    for _ in range(2):
        r = client.chat.completions.create(
            model=None, messages=MESSAGES, stream=False,
            extra_body={"seed": 42, "sampling_parameters": sampling, "task": "InferenceTask", "timeout": 15},
            extra_headers={"X-Client-Timeout": "15", "seed": "42", "task": "InferenceTask",
                           "sampling_parameters": str(sampling), "timeout": "15"})
        assert r.usage.completion_tokens == 5, r.usage  # max_new_tokens honoured
        texts.append(r.choices[0].message.content)
    print(f"validator-shaped requests: {texts}")
    assert texts[0] == texts[1], texts  # the seed makes a sampled reply repeatable


def check_vllm_endpoints(base_url, model):
    import httpx
    root = base_url[:-len("/v1")]
    with httpx.Client(timeout=30) as h:
        t = h.post(f"{root}/tokenize", json={"model": model, "prompt": "Hello world", "return_token_strs": True})
        assert t.status_code == 200, t.text
        body = t.json()
        assert body["count"] == len(body["tokens"]) == len(body["token_strs"]) and body["max_model_len"] == 1024, body
        d = h.post(f"{root}/detokenize", json={"tokens": body["tokens"]})
        assert d.status_code == 200 and d.json()["prompt"].endswith("Hello world"), d.text
        chat = h.post(f"{root}/tokenize", json={"messages": MESSAGES})
        assert chat.status_code == 200 and chat.json()["count"] > body["count"], chat.text
        assert h.post(f"{root}/detokenize", json={"tokens": [10 ** 9]}).status_code == 400
        v = h.get(f"{root}/version")
        assert v.status_code == 200 and re.fullmatch(r"\d+\.\d+\.\d+", v.json()["version"]), v.text
        m = h.get(f"{root}/metrics").text
        for name in ("ember_inter_token_latency_seconds_count", "ember_e2e_request_latency_seconds_count",
                     "ember_time_to_first_token_seconds_count", "ember_engine_running", "ember_engine_queue_depth",
                     "ember_kv_cache_usage_ratio", "ember_prompt_tokens_total", "ember_generated_tokens_total",
                     "ember_preemptions_total"):
            assert name in m, name
    print("tokenize/detokenize/version/metrics: ok")


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
        # vLLM's flag spellings, as a self-hoster would pass them.
        vllm_flags = ["--served-model-name", "ember-demo", "org/ember-demo", "--max-logprobs", "5",
                      "--max-num-seqs", "16", "--max-model-len", "1024", "--enable-prefix-caching",
                      "--gpu-memory-utilization", "0.5", "--logprobs-mode", "raw_logprobs",
                      "--kv-cache-dtype", "auto"]
        with H.Server(ember, wallets, "miner", ["--max-tokens", "16", "--temperature", "0",
                                                "--v1-access", "open", *vllm_flags]) as srv:
            base_url = f"http://127.0.0.1:{srv.port}/v1"
            model = check_sdk(base_url)
            assert model == "ember-demo", model
            check_curl(base_url, model)
            check_logprobs(base_url, "org/ember-demo")
            check_validator_fields(base_url, model)
            check_vllm_endpoints(base_url, model)
            demo_dir = next(m.group(1) for line in srv.log
                            if (m := re.search(r"demo model folder: (\S+)", line)))
        # A model folder that records its Hugging Face id answers to it and to its own name.
        folder = os.path.join(tmp, "my-model")
        shutil.copytree(demo_dir, folder)
        with open(os.path.join(folder, "config.json")) as f:
            config = json.load(f)
        config["_name_or_path"] = "some-org/Some-Model-1B"
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(config, f)
        with H.Server(ember, wallets, "miner", ["--model", folder, "--kv-cache-gb", "0.25",
                                                "--v1-access", "open"]) as srv:
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{srv.port}/v1", api_key="x", max_retries=0)
            names = [m.id for m in client.models.list().data]
            print(f"served names of a folder recording its id: {names}")
            assert names == ["my-model", "some-org/Some-Model-1B"], names
            r = client.chat.completions.create(model="some-org/Some-Model-1B", messages=MESSAGES, max_tokens=2)
            assert r.model == "some-org/Some-Model-1B", r.model
    print("PASS")


if __name__ == "__main__":
    main()
