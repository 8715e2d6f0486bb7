"""Epistula against `ember serve` (demo model) as today's validators sign it: the real `openai`
SDK with an httpx request hook that adds the Epistula v2 headers (validators-today.md §1-2),
signed by the bittensor SDK's Keypair. A miner with a wallet and no --v1-access flag must refuse
unsigned /v1 calls; a signed streamed call with logprobs succeeds; every refusal comes with the
reference miner's status and message (or ember's stricter one), and is counted in /metrics.
Also: a body over the size limit is refused before it is read, SIGHUP reloads the metagraph
both protocols share, and POST /availability answers from the served model and --tasks."""
import hashlib
import json
import math
import os
import re
import signal
import socket
import subprocess
import time
import uuid

import ember_harness as H

try:
    import httpx
    import openai
    from bittensor_wallet import Keypair
except ImportError as e:  # pragma: no cover - depends on the venv
    H.skip(f"needs openai, httpx and bittensor_wallet: {e}")

MESSAGES = [{"role": "user", "content": "What is the capital of Egypt?"}]
MODEL = "ember-demo"


def sign(keypair, text):
    return "0x" + keypair.sign(text).hex()


def epistula_headers(keypair, body, signed_for, timestamp=None, uid=None, sign_body=None):
    """What the validator's generate_header() puts on a request (§2); `sign_body`, when given, is
    signed in place of the body actually sent (a body changed in transit)."""
    timestamp = round(time.time() * 1000) if timestamp is None else timestamp
    uid = str(uuid.uuid4()) if uid is None else uid
    digest = hashlib.sha256(body if sign_body is None else sign_body).hexdigest()
    interval = math.ceil(timestamp / 1e4) * 1e4
    return {
        "Epistula-Version": "2",
        "Epistula-Timestamp": str(timestamp),
        "Epistula-Uuid": uid,
        "Epistula-Signed-By": keypair.ss58_address,
        "Epistula-Request-Signature": sign(keypair, f"{digest}.{uid}.{timestamp}.{signed_for}"),
        "Epistula-Signed-For": signed_for,
        "Epistula-Secret-Signature-0": sign(keypair, f"{interval - 1}.{signed_for}"),
        "Epistula-Secret-Signature-1": sign(keypair, f"{interval}.{signed_for}"),
        "Epistula-Secret-Signature-2": sign(keypair, f"{interval + 1}.{signed_for}"),
    }


class Signer:
    """The validator's httpx request hook. Each request's headers are kept in `sent` so that a
    test can replay it."""

    def __init__(self, keypair, signed_for, **overrides):
        self.keypair, self.signed_for, self.overrides = keypair, signed_for, overrides
        self.sent = []

    def __call__(self, request):
        body = request.read()
        headers = epistula_headers(self.keypair, body, self.signed_for, **self.overrides)
        # As the validator does: every body field but these three also travels as a header,
        # holding Python's printed value.
        for key, value in json.loads(body).items():
            if key not in ("messages", "model", "stream"):
                headers[key] = str(value)
        headers["X-Client-Timeout"] = "20"
        for key, value in headers.items():
            request.headers[key] = value
        self.sent.append((request.url, dict(request.headers), body))


def client(port, hook):
    return openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="Sk-fake", max_retries=0,
                         http_client=httpx.Client(event_hooks={"request": [hook]}, timeout=30))


def validator_call(port, hook, stream=True):
    """One streamed chat completion with the validator's body; returns the chunks."""
    stream_obj = client(port, hook).chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=stream, max_tokens=12, logprobs=True, top_logprobs=10,
        extra_body={"seed": 1234, "task": "InferenceTask", "timeout": 20,
                    "sampling_parameters": {"temperature": 0.7, "top_p": 0.95, "top_k": 50,
                                            "max_new_tokens": 12, "do_sample": True}})
    return list(stream_obj)


def expect_refused(what, port, hook, status, message):
    try:
        validator_call(port, hook)
    except openai.APIStatusError as e:
        got = e.body.get("message") if isinstance(e.body, dict) else e.body
        print(f"{what}: {e.status_code} {got!r}")
        assert e.status_code == status, (what, e.status_code, got)
        if message.endswith("..."):
            assert got.startswith(message[:-3]), (what, got)
        else:
            assert got == message, (what, got)
        return
    raise AssertionError(f"{what}: the call succeeded")


def check_success(port, miner, validator):
    hook = Signer(validator, miner)
    chunks = validator_call(port, hook)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    print(f"signed stream: {len(chunks)} chunks, {len(text)} chars")
    assert text, chunks
    # The validator-style headers (sampling_parameters as a Python dict, and so on) did not hurt.
    assert "sampling_parameters" in hook.sent[0][1]
    # Every generated token is one chunk with its logprob and 10 alternatives (validators count
    # chunks as tokens and check each one's list); only the role chunk and the finish chunk carry
    # none.
    token_chunks = [c for c in chunks if c.choices and c.choices[0].finish_reason is None
                    and c.choices[0].delta.role is None]
    assert token_chunks, chunks
    for c in token_chunks:
        lp = c.choices[0].logprobs
        assert lp and lp.content and len(lp.content) == 1, c
        assert len(lp.content[0].top_logprobs) == 10, c
        assert lp.content[0].logprob <= 0, c
    usage_tokens = [c.usage.completion_tokens for c in chunks if getattr(c, "usage", None)]
    if usage_tokens:
        assert usage_tokens[-1] == len(token_chunks), (usage_tokens, len(token_chunks))
    print(f"logprobs on all {len(token_chunks)} token chunks")
    return hook


def check_replays(port, hook, validator, miner):
    # The accepted request again, verbatim (the attack the reference miner is open to).
    url, headers, body = hook.sent[0]
    r = httpx.post(str(url), content=body, headers=headers, timeout=30)
    print(f"verbatim replay: {r.status_code} {r.text}")
    assert r.status_code == 409, r.text
    assert r.json()["error"]["message"] == "Request replayed: this signature was already used", r.text
    # Re-signed with the same uuid (a new timestamp, so a new signature).
    used = next(v for k, v in headers.items() if k.lower() == "epistula-uuid")
    expect_refused("same uuid, new signature", port, Signer(validator, miner, uid=used), 409,
                   "Request replayed: this Epistula-Uuid was already used")


def check_oversized_body(port, miner, validator):
    """Content-Length past the 1 MiB limit: 413 at once, with no body byte sent."""
    headers = epistula_headers(validator, b"{}", miner)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {64 << 20}\r\n{head}\r\n").encode())
        reply = s.recv(4096).decode(errors="replace")
    print(f"oversized body: {reply.splitlines()[0] if reply else reply!r}")
    assert reply.startswith("HTTP/1.1 413"), reply


def check_availability(port):
    r = httpx.post(f"http://127.0.0.1:{port}/availability", timeout=10, json={
        "task_availabilities": {"InferenceTask": True, "WebRetrievalTask": True},
        "llm_model_availabilities": {MODEL: True, "mrfakename/mistral-small-3.1-24b-instruct-2503-hf": True}})
    print(f"/availability: {r.status_code} {r.text}")
    assert r.status_code == 200, r.text
    assert r.json() == {"task_availabilities": {"InferenceTask": True, "WebRetrievalTask": False},
                        "llm_model_availabilities": {MODEL: True,
                                                     "mrfakename/mistral-small-3.1-24b-instruct-2503-hf": False}}
    bad = httpx.post(f"http://127.0.0.1:{port}/availability", content=b"{not json", timeout=10)
    assert bad.status_code == 400, bad.text


def metric(port, labels):
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    m = re.search(r"^ember_auth_rejections_total\{" + re.escape(labels) + r"\} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def check_bad_flags(ember, wallets):
    for args, expect in ((["--v1-access", "api-key"], "needs --api-key"),
                         (["--v1-access", "epistula", "--api-key", "k"], "would ignore --api-key")):
        r = subprocess_run([ember, "serve", "--port", "0", "--wallet.path", wallets, "--wallet.name", "miner",
                            *args])
        assert r.returncode == 1 and expect in r.stdout + r.stderr, (args, r.returncode, r.stderr)
    r = subprocess_run([ember, "serve", "--port", "0", "--v1-access", "everyone"])
    assert r.returncode == 2, r.stderr


def subprocess_run(argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def main():
    H.deadline(240)
    ember = H.ember_binary()
    with H.tempdir() as tmp:
        wallets = os.path.join(tmp, "wallets")
        miner = H.new_hotkey(ember, wallets, "miner")
        validator = Keypair.create_from_mnemonic(Keypair.generate_mnemonic())
        poor = Keypair.create_from_mnemonic(Keypair.generate_mnemonic())
        stranger = Keypair.create_from_mnemonic(Keypair.generate_mnemonic())
        metagraph = os.path.join(tmp, "metagraph.json")

        def write_metagraph(extra=()):
            keys = [validator, poor, *extra]
            with open(metagraph, "w") as f:
                json.dump({"hotkeys": [k.ss58_address for k in keys],
                           "S": [20000.0, 10.0] + [5000.0] * len(extra),
                           "validator_permit": [True] * len(keys)}, f)

        write_metagraph()
        check_bad_flags(ember, wallets)
        # No --v1-access: a miner with a wallet gets Epistula.
        with H.Server(ember, wallets, "miner", ["--metagraph", metagraph, "--min-stake", "1000",
                                                "--temperature", "0", "--tasks", "InferenceTask"]) as srv:
            port = srv.port
            assert any("/v1 access epistula" in line for line in srv.log), "".join(srv.log)
            plain = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=30,
                               json={"model": MODEL, "messages": MESSAGES, "max_tokens": 4})
            print(f"unsigned: {plain.status_code} {plain.text}")
            assert plain.status_code == 401, plain.text
            assert "Missing Epistula headers" in plain.json()["error"]["message"], plain.text

            hook = check_success(port, miner, validator)
            check_replays(port, hook, validator, miner)
            now = round(time.time() * 1000)
            expect_refused("wrong Signed-For", port, Signer(validator, stranger.ss58_address), 400,
                           "Bad Request, message is not intended for self")
            expect_refused("unknown signer", port, Signer(stranger, miner), 401, "Signer not in metagraph")
            expect_refused("low stake", port, Signer(poor, miner), 401, "Stake below minimum: 10 < 1000")
            expect_refused("stale", port, Signer(validator, miner, timestamp=now - 9000), 400,
                           "Request is too stale")
            expect_refused("future", port, Signer(validator, miner, timestamp=now + 60_000), 400,
                           "Request is from the future: ...")
            expect_refused("tampered body", port, Signer(validator, miner, sign_body=b'{"messages": []}'), 400,
                           "Signature Mismatch")

            class WrongKey(Signer):  # claims the validator, signs with another key
                def __call__(self, request):
                    super().__call__(request)
                    _, headers, body = self.sent[-1]
                    forged = epistula_headers(stranger, body, miner)
                    request.headers["Epistula-Request-Signature"] = forged["Epistula-Request-Signature"]

            expect_refused("bad signature", port, WrongKey(validator, miner), 400, "Signature Mismatch")
            check_oversized_body(port, miner, validator)
            for labels in ('protocol="epistula",reason="unsigned"', 'protocol="epistula",reason="replayed"',
                           'protocol="epistula",reason="not_for_self"',
                           'protocol="epistula",reason="not_in_metagraph"',
                           'protocol="epistula",reason="low_stake"', 'protocol="epistula",reason="stale"',
                           'protocol="epistula",reason="future"', 'protocol="epistula",reason="bad_signature"',
                           'protocol="http",reason="body_too_large"'):
                assert metric(port, labels) >= 1, labels
            assert metric(port, 'protocol="epistula",reason="replayed"') == 2
            assert metric(port, 'protocol="epistula",reason="bad_signature"') == 2

            # SIGHUP: the stranger joins the metagraph (the axon's too: it is one policy).
            write_metagraph([stranger])
            srv.proc.send_signal(signal.SIGHUP)
            H.wait_until(lambda: any("access lists reloaded" in line for line in srv.log), 20, "the reload")
            chunks = validator_call(port, Signer(stranger, miner))
            assert chunks, "no chunks after the reload"
            check_availability(port)
    print("PASS")


if __name__ == "__main__":
    main()
