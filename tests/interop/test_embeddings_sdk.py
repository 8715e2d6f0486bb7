"""The openai Python SDK's embeddings.create against `ember serve --embedding-model` (the fetched
all-MiniLM-L6-v2 beside the demo chat model): float and base64 (the SDK's default) replies agree
and match sentence-transformers' goldens (tests/data/encoder), usage counts tokens, and an
unknown model name gets the SDK's NotFoundError.

Usage: test_embeddings_sdk.py EMBER_BINARY   (exit 77 = skipped)"""
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ember_harness as H  # noqa: E402

try:
    import openai
except Exception as e:
    H.skip(f"openai SDK not importable: {e}")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAME = "all-minilm-l6-v2"


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def main():
    ember = H.ember_binary()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    folder = os.path.join(cache, "ember", "models", NAME)
    if not os.path.isfile(os.path.join(folder, "model.safetensors")):
        H.skip(f"{NAME} is not fetched (tools/fetch-models.sh {NAME})")
    with open(os.path.join(ROOT, "tests", "data", "encoder", f"{NAME}.json"), encoding="utf-8") as f:
        golden = json.load(f)["embed"][:6]
    texts = [c["text"] for c in golden]
    H.deadline(200)
    with H.tempdir() as wallets:
        H.new_hotkey(ember, wallets, "miner")
        with H.Server(ember, wallets, "miner", ["--embedding-model", NAME, "--v1-access", "open"]) as srv:
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{srv.port}/v1", api_key="dummy",
                                   max_retries=0, timeout=60)
            r64 = client.embeddings.create(model=NAME, input=texts)  # the SDK asks for base64
            rf = client.embeddings.create(model=NAME, input=texts, encoding_format="float")
            assert len(r64.data) == len(rf.data) == len(texts)
            assert r64.model == NAME, r64.model
            want_tokens = sum(len(c["ids"]) for c in golden)
            assert rf.usage.prompt_tokens == want_tokens, (rf.usage, want_tokens)
            assert rf.usage.total_tokens == want_tokens, rf.usage
            worst = 1.0
            for i, c in enumerate(golden):
                assert rf.data[i].index == i
                assert len(rf.data[i].embedding) == 384
                assert max(abs(a - b) for a, b in zip(r64.data[i].embedding, rf.data[i].embedding)) < 1e-6
                worst = min(worst, cosine(rf.data[i].embedding, c["embedding"]))
            print(f"{len(texts)} texts, lowest cosine with sentence-transformers 1 - {1 - worst:.2e}")
            assert worst >= 0.99999, worst
            one = client.embeddings.create(model=NAME, input="hello world", encoding_format="float")
            assert len(one.data) == 1 and one.usage.prompt_tokens == 4, one.usage
            try:
                client.embeddings.create(model="text-embedding-3-small", input="x")
                raise AssertionError("an unknown model name was answered")
            except openai.NotFoundError as e:
                print(f"unknown model: {e.status_code}")
    print("ok")


if __name__ == "__main__":
    main()
