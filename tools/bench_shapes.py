"""The shapes bench/cuda/bench_shapes.h sweeps, for the Python reference benches (keep the two
in step). Llama-3-70B is one GPU's shard at TP=8."""
MODELS = {
    # name: (hidden, n_heads, n_kv_heads, head_dim, intermediate, vocab)
    "llama-3-8b": (4096, 32, 8, 128, 14336, 128256),
    "qwen2.5-7b": (3584, 28, 4, 128, 18944, 152064),
    "mistral-7b": (4096, 32, 8, 128, 14336, 32768),
    "llama-3-70b-tp8": (8192, 8, 1, 128, 3584, 128256),
}
DECODE_BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256]
CONTEXTS = [128, 512, 2048, 8192]
GEMM_MS = DECODE_BATCHES + [2048, 8192]
TOKEN_COUNTS = [1, 16, 64, 256, 2048, 8192]
QUICK = {"models": ["llama-3-8b"], "gemm_ms": [1, 64, 256, 2048], "batches": [1, 64, 256],
         "contexts": [2048], "tokens": [1, 256]}


def projections(hidden, nq, nkv, d, inter, vocab):
    """(name, N, K) of each matmul: out[M, N] = x[M, K] @ w[N, K]^T."""
    return [("qkv", (nq + 2 * nkv) * d, hidden), ("o_proj", hidden, nq * d),
            ("gate_up", 2 * inter, hidden), ("down", hidden, inter), ("lm_head", vocab, hidden)]
