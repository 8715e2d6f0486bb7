#!/usr/bin/env python3
"""Converts a llama.cpp GGUF model into a Hugging Face model folder (bf16 safetensors).

    gguf_to_hf.py MODEL.gguf OUTDIR [--sha256 HEX] [--source-json FILE] [--hf-id ORG/NAME]

Writes config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
generation_config.json and ember-source.json into OUTDIR (created; it must not hold files
already). Architectures: qwen2 and gemma3, the ones tools/fetch-models.sh fetches.

config.json records the Hugging Face id of the model the GGUF was made from as `_name_or_path`
(as transformers' save_pretrained does), from --hf-id or, for the GGUFs fetch-models.sh pins,
from their sha256; `ember serve` answers to that id as well as to the folder's name, since
validators name the model they want by its Hugging Face id.

Every tensor is dequantized to float32 with the `gguf` package and rounded to bf16, so the
folder holds exactly the quantized model's weights up to that rounding; it is no substitute for
the original full-precision checkpoint. Only numpy and gguf are needed (no torch).

GGUF conventions undone here, so the folder reads like the original checkpoint:
  * ggml lists dimensions fastest-first (ne[0] is the row length); numpy shapes are reversed.
  * llama.cpp stores Gemma's RMSNorm weights as 1 + w (HF Gemma computes x * (1 + w)), so 1 is
    taken off every *norm.weight, the q/k norms included. The data bears this out: each stored
    value minus 1 is exactly a bf16 number, while many stored values are not.
  * llama.cpp pads the Qwen vocabulary with "[PADn]" filler tokens up to the embedding's row
    count; they leave the tokenizer (the embedding keeps its rows).
  * SentencePiece models carry scores, not merges; the merges are rebuilt from the scores.
"""
import argparse
import hashlib
import json
import os
import re
import sys
import time

CONVERTER_VERSION = 2


class ConvertError(Exception):
    """An input this converter cannot handle; main() prints it without a traceback."""


try:
    import numpy as np
    import gguf
    from gguf.quants import dequantize
except ImportError as e:  # the venv predates gguf in tools/requirements-test.txt
    print(f"gguf_to_hf: {e}; install the tools' requirements: "
          ".venv/bin/pip install -r tools/requirements-test.txt", file=sys.stderr)
    sys.exit(2)

# The Hugging Face ids of the GGUFs tools/fetch-models.sh pins (by sha256): the checkpoints
# they were quantized from.
KNOWN_HF_IDS = {
    "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32": "Qwen/Qwen2.5-Coder-0.5B-Instruct",
    "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046": "Qwen/Qwen2.5-Coder-1.5B-Instruct",
    "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818": "google/gemma-3-270m",
}

# GGUF tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
TT_NORMAL, TT_UNKNOWN, TT_CONTROL, TT_USER_DEFINED, TT_UNUSED, TT_BYTE = 1, 2, 3, 4, 5, 6

# Qwen2's pre-tokenizer split, as its Hugging Face tokenizer.json spells it (the GGUF only
# names it: tokenizer.ggml.pre = "qwen2").
QWEN2_SPLIT_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                     r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# Tokens that end a turn, by spelling, for generation_config's eos list; a GGUF names only one
# eos id, while chat models stop on the end-of-turn token as well.
END_OF_TURN_TOKENS = ["<|im_end|>", "<|endoftext|>", "<end_of_turn>", "<|eot_id|>", "<|end|>"]


def f32(x):
    """A GGUF float32 as the short decimal it was written from (1e-06, not 9.99999997e-07)."""
    return float(str(np.float32(x)))


class Progress:
    """One rewritten status line on a terminal; nothing in between when stderr is a file."""

    def __init__(self):
        self.tty = sys.stderr.isatty()
        self.width = 0

    def status(self, text):
        if self.tty:
            pad = max(0, self.width - len(text))
            sys.stderr.write("\r" + text + " " * pad)
            sys.stderr.flush()
            self.width = len(text)

    def done(self, text):
        if self.tty and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
        self.width = 0
        print(text, file=sys.stderr)


class Metadata:
    def __init__(self, reader):
        self.fields = reader.fields

    def has(self, key):
        return key in self.fields

    def get(self, key, default=KeyError):
        field = self.fields.get(key)
        if field is None:
            if default is KeyError:
                raise ConvertError(f"the GGUF has no metadata key {key}")
            return default
        try:
            return field.contents()
        except UnicodeDecodeError as e:
            raise ConvertError(f"GGUF metadata {key} is not valid UTF-8: {e}") from None


# ---------------------------------------------------------------------------------------------
# Architectures: config.json and the tensor map.

def common_dims(meta, arch):
    def key(k):
        return meta.get(f"{arch}.{k}")
    return {
        "layers": int(key("block_count")),
        "hidden": int(key("embedding_length")),
        "intermediate": int(key("feed_forward_length")),
        "heads": int(key("attention.head_count")),
        "kv_heads": int(meta.get(f"{arch}.attention.head_count_kv", key("attention.head_count"))),
        "context": int(key("context_length")),
        "eps": f32(key("attention.layer_norm_rms_epsilon")),
        "rope_theta": f32(meta.get(f"{arch}.rope.freq_base", 10000.0)),
    }


def rope_scaling(meta, arch):
    """HF's rope_scaling from llama.cpp's rope.scaling.* keys; None when the GGUF has none."""
    kind = meta.get(f"{arch}.rope.scaling.type", None)
    if kind is None or kind == "none":
        return None
    out = {"rope_type": kind, "factor": f32(meta.get(f"{arch}.rope.scaling.factor"))}
    orig = meta.get(f"{arch}.rope.scaling.original_context_length", None)
    if orig is not None:
        out["original_max_position_embeddings"] = int(orig)
    return out


def special_ids(meta):
    def tid(name):
        v = meta.get(f"tokenizer.ggml.{name}_token_id", None)
        return None if v is None else int(v)
    return {"bos": tid("bos"), "eos": tid("eos"), "pad": tid("padding"), "unk": tid("unknown"),
            "eot": tid("eot")}


def qwen2_config(meta, dims, vocab_rows, has_output):
    if dims["hidden"] % dims["heads"]:
        raise ConvertError(f"hidden size {dims['hidden']} is not a multiple of the "
                           f"{dims['heads']} attention heads")
    ids = special_ids(meta)
    cfg = {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "attention_dropout": 0.0,
        "bos_token_id": ids["bos"],
        "eos_token_id": ids["eos"],
        "hidden_act": "silu",
        "hidden_size": dims["hidden"],
        "initializer_range": 0.02,
        "intermediate_size": dims["intermediate"],
        "max_position_embeddings": dims["context"],
        "max_window_layers": dims["layers"],
        "num_attention_heads": dims["heads"],
        "num_hidden_layers": dims["layers"],
        "num_key_value_heads": dims["kv_heads"],
        "rms_norm_eps": dims["eps"],
        "rope_scaling": rope_scaling(meta, "qwen2"),
        "rope_theta": dims["rope_theta"],
        "sliding_window": dims["context"],
        "tie_word_embeddings": not has_output,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": vocab_rows,
    }
    return cfg, dims["hidden"] // dims["heads"]


def gemma3_config(meta, dims, vocab_rows, has_output):
    ids = special_ids(meta)
    head_dim = int(meta.get("gemma3.attention.key_length", dims["hidden"] // dims["heads"]))
    value_dim = int(meta.get("gemma3.attention.value_length", head_dim))
    if value_dim != head_dim:
        raise ConvertError(f"gemma3 with key_length {head_dim} != value_length {value_dim} "
                           "is not supported")
    # llama.cpp scales queries by 1/sqrt(head_dim) unless the file names another scale.
    scale = meta.get("gemma3.attention.scale", None)
    query_scalar = head_dim if scale is None else round(1.0 / (float(scale) ** 2))
    pattern = 6  # Gemma 3: five sliding-window layers, then one global one
    layer_types = ["full_attention" if (i + 1) % pattern == 0 else "sliding_attention"
                   for i in range(dims["layers"])]
    softcap_final = meta.get("gemma3.final_logit_softcapping", None)
    softcap_attn = meta.get("gemma3.attn_logit_softcapping", None)
    cfg = {
        "architectures": ["Gemma3ForCausalLM"],
        "model_type": "gemma3_text",
        "attention_bias": False,
        "attention_dropout": 0.0,
        "attn_logit_softcapping": None if softcap_attn is None else f32(softcap_attn),
        "bos_token_id": ids["bos"],
        "eos_token_id": ids["eos"],
        "final_logit_softcapping": None if softcap_final is None else f32(softcap_final),
        "head_dim": head_dim,
        "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size": dims["hidden"],
        "initializer_range": 0.02,
        "intermediate_size": dims["intermediate"],
        "layer_types": layer_types,
        "max_position_embeddings": dims["context"],
        "num_attention_heads": dims["heads"],
        "num_hidden_layers": dims["layers"],
        "num_key_value_heads": dims["kv_heads"],
        "pad_token_id": ids["pad"],
        "query_pre_attn_scalar": query_scalar,
        "rms_norm_eps": dims["eps"],
        "rope_local_base_freq": f32(meta.get("gemma3.rope.freq_base_swa", 10000.0)),
        "rope_scaling": rope_scaling(meta, "gemma3"),
        "rope_theta": dims["rope_theta"],
        "sliding_window": int(meta.get("gemma3.attention.sliding_window")),
        "sliding_window_pattern": pattern,
        "tie_word_embeddings": not has_output,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "vocab_size": vocab_rows,
    }
    return cfg, head_dim


def minus_one(x):
    return x - np.float32(1.0)


# Per-layer GGUF name -> (HF name, transform), and the HF shape it must have given the dims
# (h: hidden, q: heads*head_dim, kv: kv_heads*head_dim, i: intermediate, d: head_dim).
QWEN2_LAYER = {
    "attn_norm.weight": ("input_layernorm.weight", None, ("h",)),
    "ffn_norm.weight": ("post_attention_layernorm.weight", None, ("h",)),
    "attn_q.weight": ("self_attn.q_proj.weight", None, ("q", "h")),
    "attn_k.weight": ("self_attn.k_proj.weight", None, ("kv", "h")),
    "attn_v.weight": ("self_attn.v_proj.weight", None, ("kv", "h")),
    "attn_q.bias": ("self_attn.q_proj.bias", None, ("q",)),
    "attn_k.bias": ("self_attn.k_proj.bias", None, ("kv",)),
    "attn_v.bias": ("self_attn.v_proj.bias", None, ("kv",)),
    "attn_output.weight": ("self_attn.o_proj.weight", None, ("h", "q")),
    "ffn_gate.weight": ("mlp.gate_proj.weight", None, ("i", "h")),
    "ffn_up.weight": ("mlp.up_proj.weight", None, ("i", "h")),
    "ffn_down.weight": ("mlp.down_proj.weight", None, ("h", "i")),
}
GEMMA3_LAYER = {
    "attn_norm.weight": ("input_layernorm.weight", minus_one, ("h",)),
    "post_attention_norm.weight": ("post_attention_layernorm.weight", minus_one, ("h",)),
    "ffn_norm.weight": ("pre_feedforward_layernorm.weight", minus_one, ("h",)),
    "post_ffw_norm.weight": ("post_feedforward_layernorm.weight", minus_one, ("h",)),
    "attn_q_norm.weight": ("self_attn.q_norm.weight", minus_one, ("d",)),
    "attn_k_norm.weight": ("self_attn.k_norm.weight", minus_one, ("d",)),
    "attn_q.weight": ("self_attn.q_proj.weight", None, ("q", "h")),
    "attn_k.weight": ("self_attn.k_proj.weight", None, ("kv", "h")),
    "attn_v.weight": ("self_attn.v_proj.weight", None, ("kv", "h")),
    "attn_output.weight": ("self_attn.o_proj.weight", None, ("h", "q")),
    "ffn_gate.weight": ("mlp.gate_proj.weight", None, ("i", "h")),
    "ffn_up.weight": ("mlp.up_proj.weight", None, ("i", "h")),
    "ffn_down.weight": ("mlp.down_proj.weight", None, ("h", "i")),
}
ARCHS = {
    # arch: (config builder, layer map, required layer tensors, output-norm transform)
    "qwen2": (qwen2_config, QWEN2_LAYER, set(QWEN2_LAYER), None),
    "gemma3": (gemma3_config, GEMMA3_LAYER, set(GEMMA3_LAYER), minus_one),
}


def tensor_plan(reader, meta, arch):
    """The HF tensors to write, in order: (hf_name, gguf tensor, hf shape, transform); and the
    config. Every GGUF tensor must be used and every expected one present."""
    build_config, layer_map, required, norm_fn = ARCHS[arch]
    by_name = {t.name: t for t in reader.tensors}
    if "token_embd.weight" not in by_name:
        raise ConvertError("the GGUF has no token_embd.weight")
    dims = common_dims(meta, arch)
    embd = by_name["token_embd.weight"]
    vocab_rows = int(embd.shape[1]) if len(embd.shape) == 2 else -1
    has_output = "output.weight" in by_name
    config, head_dim = build_config(meta, dims, vocab_rows, has_output)
    sizes = {"h": dims["hidden"], "q": dims["heads"] * head_dim,
             "kv": dims["kv_heads"] * head_dim, "i": dims["intermediate"], "d": head_dim,
             "v": vocab_rows}

    plan, used = [], set()

    def add(gguf_name, hf_name, shape_keys, fn):
        t = by_name[gguf_name]
        plan.append((hf_name, t, tuple(sizes[k] for k in shape_keys), fn))
        used.add(gguf_name)

    add("token_embd.weight", "model.embed_tokens.weight", ("v", "h"), None)
    for layer in range(dims["layers"]):
        missing = sorted(k for k in required if f"blk.{layer}.{k}" not in by_name
                         and not k.endswith(".bias"))
        if missing:
            raise ConvertError(f"layer {layer} lacks tensors: "
                               + ", ".join(f"blk.{layer}.{k}" for k in missing))
        for suffix, (hf, fn, shape_keys) in layer_map.items():
            name = f"blk.{layer}.{suffix}"
            if name in by_name:
                add(name, f"model.layers.{layer}.{hf}", shape_keys, fn)
    if arch == "qwen2":
        for layer in range(dims["layers"]):
            for p in "qkv":
                if f"blk.{layer}.attn_{p}.bias" not in by_name:
                    raise ConvertError(f"qwen2 layer {layer} lacks attn_{p}.bias")
    if "output_norm.weight" not in by_name:
        raise ConvertError("the GGUF has no output_norm.weight")
    add("output_norm.weight", "model.norm.weight", ("h",), norm_fn)
    if has_output:
        add("output.weight", "lm_head.weight", ("v", "h"), None)
    unused = sorted(set(by_name) - used)
    if unused:
        raise ConvertError(f"{arch}: the GGUF has tensors this converter does not know: "
                           + ", ".join(unused[:8]) + (" ..." if len(unused) > 8 else ""))
    for hf_name, t, want, _ in plan:
        got = tuple(int(n) for n in reversed(t.shape))
        if got != want:
            raise ConvertError(f"{t.name} has shape {list(got)} (HF order) but the config "
                               f"implies {list(want)} for {hf_name}")
    return plan, config


# ---------------------------------------------------------------------------------------------
# Tensors: dequantize, round to bf16, stream into safetensors.

def to_bf16_bits(x):
    """float32 -> bf16 bit patterns (uint16), rounding to nearest, ties to even."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    u = x.view(np.uint32)
    rounded = ((u + (np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))))
               >> np.uint32(16)).astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():  # the rounding carry could turn a NaN's payload into infinity
        rounded[nan] = ((u[nan] >> np.uint32(16)) | np.uint32(0x0040)).astype(np.uint16)
    return rounded


def tensor_chunks(t, hf_shape, fn, max_elems=1 << 24):
    """The tensor as float32 row blocks, so a large embedding never sits in memory whole."""
    cols = hf_shape[-1]
    rows = int(np.prod(hf_shape[:-1])) if len(hf_shape) > 1 else 1
    data = t.data
    if len(hf_shape) == 1:
        data = data.reshape(1, -1)
    else:
        data = data.reshape(rows, -1)
    step = max(1, max_elems // max(cols, 1))
    for start in range(0, rows, step):
        block = dequantize(np.asarray(data[start:start + step]), t.tensor_type)
        block = np.asarray(block, dtype=np.float32).reshape(-1, cols)
        if fn is not None:
            block = fn(block)
        yield block


def write_safetensors(path, plan, progress):
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    for hf_name, _, shape, _ in plan:
        nbytes = int(np.prod(shape)) * 2
        header[hf_name] = {"dtype": "BF16", "shape": list(shape),
                           "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # keeps the data 8-byte aligned, as HF's writer does
    with open(path, "wb") as out:
        out.write(len(blob).to_bytes(8, "little"))
        out.write(blob)
        for i, (hf_name, t, shape, fn) in enumerate(plan):
            progress.status(f"  converting tensor {i + 1}/{len(plan)}: {t.name} "
                            f"({t.tensor_type.name}) -> {hf_name}")
            written = 0
            for block in tensor_chunks(t, shape, fn):
                bits = to_bf16_bits(block)
                out.write(bits.astype("<u2", copy=False).tobytes())
                written += bits.size
            if written != int(np.prod(shape)):
                raise ConvertError(f"{t.name}: dequantized {written} values, expected "
                                   f"{int(np.prod(shape))}")
    return offset


# ---------------------------------------------------------------------------------------------
# Tokenizer.

def added_token(tid, content, special):
    return {"id": tid, "content": content, "single_word": False, "lstrip": False,
            "rstrip": False, "normalized": False, "special": special}


def gpt2_tokenizer(meta, tokens, types):
    pre = meta.get("tokenizer.ggml.pre", "default")
    if pre != "qwen2":
        raise ConvertError(f"byte-level BPE with pre-tokenizer '{pre}' is not supported "
                           "(only qwen2)")
    merges = meta.get("tokenizer.ggml.merges")
    vocab, added = {}, []
    for tid, (tok, ty) in enumerate(zip(tokens, types)):
        if ty in (TT_CONTROL, TT_USER_DEFINED):
            added.append(added_token(tid, tok, ty == TT_CONTROL))
        elif ty == TT_UNUSED and re.fullmatch(r"\[PAD\d+\]", tok):
            continue  # llama.cpp's filler up to the embedding's row count
        else:
            vocab[tok] = tid
    pairs = []
    for m in merges:
        a, sep, b = m.partition(" ")
        if not sep or not a or not b:
            raise ConvertError(f"malformed merge {m!r} in tokenizer.ggml.merges")
        pairs.append([a, b])
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                  "use_regex": False}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT_REGEX}, "behavior": "Isolated",
             "invert": False},
            dict(byte_level)]},
        "post_processor": dict(byte_level),
        "decoder": dict(byte_level),
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": False,
                  "byte_fallback": False, "ignore_merges": False, "vocab": vocab,
                  "merges": pairs},
    }


def spm_merges(tokens, types, scores):
    """BPE merges equivalent to a SentencePiece BPE model's scores.

    SentencePiece merges the adjacent pair whose concatenation is the best-scoring piece. Every
    way of cutting a piece into two pieces of the vocabulary is thus a merge, ranked by the whole
    piece's score (higher first); ties go to the lower piece id, then the lower left and right
    ids. Only normal pieces take part: control, user-defined and byte tokens never come out of
    merging (user-defined ones are matched whole before the model runs).
    """
    normal = {tok: tid for tid, (tok, ty) in enumerate(zip(tokens, types)) if ty == TT_NORMAL}
    found = []
    for piece, tid in normal.items():
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            lid, rid = normal.get(left), normal.get(right)
            if lid is not None and rid is not None:
                found.append((-float(scores[tid]), tid, lid, rid, left, right))
    found.sort(key=lambda m: m[:4])
    return [[m[4], m[5]] for m in found]


def spm_tokenizer(meta, tokens, types):
    scores = meta.get("tokenizer.ggml.scores")
    if len(scores) != len(tokens):
        raise ConvertError(f"tokenizer.ggml.scores has {len(scores)} entries for "
                           f"{len(tokens)} tokens")
    ids = special_ids(meta)
    unk_id = ids["unk"] if ids["unk"] is not None else (
        tokens.index("<unk>") if "<unk>" in tokens else None)
    if unk_id is None:
        raise ConvertError("SentencePiece tokenizer without an unknown token")
    add_space_prefix = bool(meta.get("tokenizer.ggml.add_space_prefix", True))
    vocab, added = {}, []
    for tid, (tok, ty) in enumerate(zip(tokens, types)):
        if tok in vocab:
            raise ConvertError(f"token {tok!r} appears twice (ids {vocab[tok]} and {tid})")
        vocab[tok] = tid
        if ty in (TT_CONTROL, TT_USER_DEFINED):
            added.append(added_token(tid, tok, ty == TT_CONTROL))
    replace = {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}
    normalizer = replace
    decoders = [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"}]
    if add_space_prefix:
        normalizer = {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"}, replace]}
        decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    post = None
    if meta.get("tokenizer.ggml.add_bos_token", False) and ids["bos"] is not None:
        bos = tokens[ids["bos"]]
        post = {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [ids["bos"]], "tokens": [bos]}},
        }
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": None,
        "post_processor": post,
        "decoder": {"type": "Sequence", "decoders": decoders},
        "model": {"type": "BPE", "dropout": None, "unk_token": tokens[unk_id],
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": spm_merges(tokens, types, scores)},
    }


def build_tokenizer(meta):
    kind = meta.get("tokenizer.ggml.model")
    tokens = meta.get("tokenizer.ggml.tokens")
    types = meta.get("tokenizer.ggml.token_type", None) or [TT_NORMAL] * len(tokens)
    if len(types) != len(tokens):
        raise ConvertError(f"tokenizer.ggml.token_type has {len(types)} entries for "
                           f"{len(tokens)} tokens")
    if kind == "gpt2":
        tok = gpt2_tokenizer(meta, tokens, types)
    elif kind == "llama":
        tok = spm_tokenizer(meta, tokens, types)
    else:
        raise ConvertError(f"tokenizer.ggml.model '{kind}' is not supported (gpt2, llama)")
    return tok, tokens


def tokenizer_files(meta, arch, tokens, config):
    ids = special_ids(meta)

    def text(tid):
        return tokens[tid] if tid is not None and 0 <= tid < len(tokens) else None

    tok_config = {
        "add_bos_token": bool(meta.get("tokenizer.ggml.add_bos_token", False)),
        "add_eos_token": bool(meta.get("tokenizer.ggml.add_eos_token", False)),
        "bos_token": text(ids["bos"]),
        "eos_token": text(ids["eos"]),
        "pad_token": text(ids["pad"]),
        "clean_up_tokenization_spaces": False,
        "model_max_length": config["max_position_embeddings"],
        # The fast tokenizer as written; named model classes may rebuild the pipeline.
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
    if ids["unk"] is not None:
        tok_config["unk_token"] = text(ids["unk"])
    template = meta.get("tokenizer.chat_template", None)
    if template:
        tok_config["chat_template"] = template

    eos = [ids["eos"]] if ids["eos"] is not None else []
    index = {t: i for i, t in enumerate(tokens)} if tokens else {}
    extra = [ids["eot"]] + [index.get(t) for t in END_OF_TURN_TOKENS]
    for tid in extra:
        if tid is not None and tid not in eos:
            eos.append(tid)
    gen_config = {"bos_token_id": ids["bos"], "eos_token_id": eos}
    if ids["pad"] is not None:
        gen_config["pad_token_id"] = ids["pad"]
    return tok_config, gen_config


# ---------------------------------------------------------------------------------------------

def sha256_of(path, progress):
    h = hashlib.sha256()
    size = os.path.getsize(path)
    done = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
            done += len(block)
            progress.status(f"  hashing {done / 1e6:.0f}/{size / 1e6:.0f} MB")
    return h.hexdigest()


def write_json(path, obj, compact=False):
    with open(path, "w", encoding="utf-8") as f:
        if compact:
            json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        else:
            json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


def convert(gguf_path, outdir, sha256=None, source=None, hf_id=None):
    progress = Progress()
    started = time.monotonic()
    progress.status(f"  reading {os.path.basename(gguf_path)}")
    try:
        reader = gguf.GGUFReader(gguf_path)
    except (ValueError, OSError) as e:  # gguf raises ValueError on a bad magic or version
        raise ConvertError(f"cannot read {gguf_path} as GGUF: {e}") from None
    meta = Metadata(reader)
    arch = meta.get("general.architecture")
    if arch not in ARCHS:
        raise ConvertError(f"architecture '{arch}' is not supported "
                           f"(supported: {', '.join(sorted(ARCHS))})")
    plan, config = tensor_plan(reader, meta, arch)
    progress.status("  building the tokenizer")
    tokenizer, tokens = build_tokenizer(meta)
    tok_config, gen_config = tokenizer_files(meta, arch, tokens, config)

    if os.path.exists(outdir) and (not os.path.isdir(outdir) or os.listdir(outdir)):
        raise ConvertError(f"{outdir} exists and is not an empty folder")
    os.makedirs(outdir, exist_ok=True)
    if sha256 is None:
        sha256 = sha256_of(gguf_path, progress)
    hf_id = hf_id or KNOWN_HF_IDS.get(sha256)
    if hf_id:
        config = {"_name_or_path": hf_id, **config}
    write_json(os.path.join(outdir, "config.json"), config)
    write_json(os.path.join(outdir, "generation_config.json"), gen_config)
    write_json(os.path.join(outdir, "tokenizer_config.json"), tok_config)
    write_json(os.path.join(outdir, "tokenizer.json"), tokenizer, compact=True)
    nbytes = write_safetensors(os.path.join(outdir, "model.safetensors"), plan, progress)

    types = {}
    for t in reader.tensors:
        types[t.tensor_type.name] = types.get(t.tensor_type.name, 0) + 1
    info = {
        "converter": "tools/gguf_to_hf.py",
        "converter_version": CONVERTER_VERSION,
        "gguf_sha256": sha256,
        "gguf_bytes": os.path.getsize(gguf_path),
        "gguf_name": meta.get("general.name", None),
        "architecture": arch,
        "tensor_types": dict(sorted(types.items())),
        "weights_dtype": "bfloat16 (dequantized from the GGUF's quantized tensors)",
    }
    if source:
        info["source"] = source
    write_json(os.path.join(outdir, "ember-source.json"), info)
    progress.done(f"  converted {len(plan)} tensors ({nbytes / 1e6:.0f} MB bf16, "
                  f"{arch}, {len(tokenizer['model']['vocab'])} vocab entries) "
                  f"in {time.monotonic() - started:.1f} s")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gguf", help="the .gguf file")
    ap.add_argument("outdir", help="the folder to create")
    ap.add_argument("--sha256", help="the GGUF's sha256 when already known (skips hashing)")
    ap.add_argument("--source-json", help="a JSON file recorded as 'source' in "
                    "ember-source.json (where the GGUF came from)")
    ap.add_argument("--hf-id", help="the Hugging Face id of the model the GGUF was made from, "
                    "recorded as config.json's _name_or_path (default: known for the pinned GGUFs)")
    ap.add_argument("--version", action="version", version=str(CONVERTER_VERSION))
    args = ap.parse_args(argv)
    try:
        source = None
        if args.source_json:
            try:
                with open(args.source_json, encoding="utf-8") as f:
                    source = json.load(f)
            except (OSError, ValueError) as e:
                raise ConvertError(f"cannot read --source-json {args.source_json}: {e}") from None
        if not os.path.isfile(args.gguf):
            raise ConvertError(f"{args.gguf}: no such file")
        if args.hf_id and not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", args.hf_id):
            raise ConvertError(f"--hf-id {args.hf_id!r} is not a Hugging Face id (ORG/NAME)")
        convert(args.gguf, args.outdir, args.sha256, source, args.hf_id)
    except ConvertError as e:
        print(f"gguf_to_hf: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("gguf_to_hf: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
