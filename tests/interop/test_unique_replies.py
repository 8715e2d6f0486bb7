"""Unique replies through the real bittensor SDK: `ember serve --best-of 3 --select unique
--styles builtin` answers a signed Prompting synapse and a StreamPromptingSynapse with one chosen
candidate (the request log shows the candidates and the choice, /metrics the styles), while /v1
stays the plain service. Then the upstream generator: a second `ember serve` on loopback as the
upstream of the first; and a stub upstream that answers 500, answers too late, or is gone, none of
which fails the request (the local candidate answers in time).

Usage: test_unique_replies.py EMBER_BINARY   (exit 77 = skipped)"""
import asyncio
import http.server
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ember_harness as H  # noqa: E402
# The SDK's synapse classes and dendrite as the SDK test defines them (it skips without the SDK).
from test_bittensor_sdk import ValidatorDendrite, axon_info, call_stream, prompt  # noqa: E402
import bittensor as bt  # noqa: E402
import requests  # noqa: E402

CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ember", "models")


def encoder_dir():
    for name in ("all-minilm-l6-v2", "all-mpnet-base-v2"):
        d = os.path.join(CACHE, name)
        if os.path.exists(os.path.join(d, "model.safetensors")):
            return d
    H.skip("no sentence encoder fetched (tools/fetch-models.sh all-minilm-l6-v2)")


class StubUpstream:
    """An OpenAI-compatible endpoint whose behaviour the test switches: ok, 500, slow."""

    def __init__(self):
        self.mode = "ok"
        self.calls = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.calls.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                if stub.mode == "slow":
                    time.sleep(20)
                status, out = (500, {"error": {"message": "boom"}}) if stub.mode == "500" else (
                    200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": "stub upstream says hi"},
                                       "finish_reason": "stop"}], "usage": {"completion_tokens": 5}})
                data = json.dumps(out).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the miner gave up on us, as it should

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def unique_lines(srv):
    return [l for l in srv.log if "unique axon-" in l]


def metric_sum(text, name, **labels):
    total = 0.0
    for m in re.finditer(rf"^{name}\{{([^}}]*)\}} (\S+)$", text, re.M):
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(2))
    return total


async def ask(dendrite, port, miner, timeout=12):
    t0 = time.monotonic()
    syn = await dendrite.call(target_axon=axon_info(port, miner), synapse=prompt(), timeout=timeout,
                              deserialize=False)
    return syn, time.monotonic() - t0


async def main():
    H.deadline(280)
    ember = H.ember_binary()
    enc = encoder_dir()
    with H.tempdir() as tmp:
        wallets = os.path.join(tmp, "wallets")
        miner = H.new_hotkey(ember, wallets, "miner")
        H.new_hotkey(ember, wallets, "validator")
        H.new_hotkey(ember, wallets, "upstream")
        dendrite = ValidatorDendrite(wallet=bt.Wallet(name="validator", hotkey="default", path=wallets))

        # 1. Best-of-3 with styles, chosen by distance in the encoder's space.
        with H.Server(ember, wallets, "miner",
                      ["--best-of", "3", "--select", "unique", "--styles", "builtin", "--select-encoder", enc,
                       "--select-budget-ms", "3000", "--max-tokens", "16", "--v1-access", "open"]) as srv:
            assert any("unique     axon only: 3 local candidates, select unique" in l for l in srv.log), srv.log
            syn, took = await ask(dendrite, srv.port, miner)
            assert syn.dendrite.status_code == 200, (syn.dendrite.status_code, syn.dendrite.status_message)
            assert syn.completion, "empty completion"
            H.wait_until(lambda: unique_lines(srv), 10, "the request log line")
            line = unique_lines(srv)[0]
            print(f"Prompting in {took:.1f} s: {syn.completion[:50]!r}\n  {line.strip()[:400]}")
            assert "3 candidates" in line and line.count("style=") == 4 and "=> #" in line, line
            chosen = int(re.search(r"=> #(\d)", line).group(1))
            assert 0 <= chosen < 3

            chunks, final = await call_stream(dendrite, srv.port, miner)
            assert final is not None and final.dendrite.status_code == 200, final
            assert chunks and final.completion == "".join(chunks), (final.completion, chunks)
            H.wait_until(lambda: len(unique_lines(srv)) == 2, 10, "the streaming request's log line")
            print(f"StreamPromptingSynapse: {final.completion[:50]!r}")

            # /v1 is the plain service: exact, no candidates, no styles.
            r = requests.post(f"http://127.0.0.1:{srv.port}/v1/chat/completions",
                              json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}, timeout=30)
            assert r.status_code == 200, r.text
            time.sleep(0.5)
            assert len(unique_lines(srv)) == 2, "a /v1 request went through best-of-n"

            m = requests.get(f"http://127.0.0.1:{srv.port}/metrics", timeout=15).text
            drawn = metric_sum(m, "ember_styles_total", outcome="drawn")
            picked = metric_sum(m, "ember_styles_total", outcome="chosen")
            print(f"/metrics: {drawn:.0f} styles drawn, {picked:.0f} chosen")
            assert drawn == 6 and picked == 2, (drawn, picked)

        # 2. A second ember serve on loopback as the upstream generator (key from the environment).
        os.environ["EMBER_UPSTREAM_API_KEY"] = "k-123"
        with H.Server(ember, wallets, "upstream", ["--v1-access", "api-key", "--api-key", "k-123",
                                                   "--max-tokens", "16"]) as up, \
                H.Server(ember, wallets, "miner",
                         ["--best-of", "1", "--upstream", f"http://127.0.0.1:{up.port}/v1", "--select-encoder", enc,
                          "--styles", "builtin", "--select-budget-ms", "3000", "--max-tokens", "16"]) as srv:
            syn, took = await ask(dendrite, srv.port, miner)
            assert syn.dendrite.status_code == 200 and syn.completion, syn.dendrite.status_message
            H.wait_until(lambda: unique_lines(srv), 10, "the request log line")
            line = unique_lines(srv)[0]
            print(f"with an ember upstream ({took:.1f} s): {line.strip()[:400]}")
            assert "#1 upstream" in line and "upstream: " not in line, line  # the upstream answered
            um = requests.get(f"http://127.0.0.1:{up.port}/metrics", timeout=15).text
            assert metric_sum(um, "ember_http_requests_total", route="/v1/chat/completions", status="200") == 1, um

        # 3. An upstream that fails, is too slow, or is gone never fails the request.
        stub = StubUpstream()
        with H.Server(ember, wallets, "miner",
                      ["--best-of", "1", "--upstream", f"http://127.0.0.1:{stub.port}/v1", "--upstream-timeout-ms",
                       "60000", "--select-encoder", enc, "--select-budget-ms", "2000", "--max-tokens", "16"]) as srv:
            syn, _ = await ask(dendrite, srv.port, miner)
            assert syn.dendrite.status_code == 200 and syn.completion, syn.dendrite.status_message
            assert stub.calls and stub.calls[0]["auth"] == "Bearer k-123", stub.calls[:1]
            assert stub.calls[0]["path"] == "/v1/chat/completions", stub.calls[0]
            assert stub.calls[0]["body"]["messages"][0]["role"] == "system", stub.calls[0]["body"]
            for mode in ("500", "slow", "gone"):
                if mode == "gone":
                    stub.close()
                else:
                    stub.mode = mode
                n = len(unique_lines(srv))
                syn, took = await ask(dendrite, srv.port, miner)
                assert syn.dendrite.status_code == 200, (mode, syn.dendrite.status_code, syn.dendrite.status_message)
                assert syn.completion, f"{mode}: empty completion"
                assert took < 12, f"{mode}: {took:.1f} s"
                H.wait_until(lambda: len(unique_lines(srv)) > n, 10, "the request log line")
                line = unique_lines(srv)[-1]
                print(f"upstream {mode}: answered in {took:.1f} s by the local candidate")
                assert "#1 upstream style=" in line and "=> #0" in line, line
    print("PASS")


if __name__ == "__main__":
    asyncio.run(main())
