"""tools/merge_gpu_results.py on fake parts: the assembled file has the agreed fields, torch
results are joined to ember's by family, model and case (ember's ' splits=N' ignored), and a
missing or malformed part is a clear error."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.join(HERE, "..", "..", "tools", "merge_gpu_results.py")
sys.path.insert(0, os.path.dirname(TOOL))
import merge_gpu_results as m  # noqa: E402

KERNELS = {
    "device": "NVIDIA H100 80GB HBM3", "sms": 132, "measured_hbm_gbps": 3000.0,
    "measured_bf16_tflops": 700.0,
    "roofline": {"decode_b1_bw_fraction": 0.8, "decode_attention_bw_fraction": 0.5,
                 "rmsnorm_bw_fraction": 0.3, "prefill_gemm_fraction": 0.7},
    "results": [
        {"family": "gemm", "model": "llama-3-8b", "name": "qkv M=1 N=6144 K=4096", "ms": 0.02},
        {"family": "attn_decode", "model": "llama-3-8b", "name": "decode S=64 ctx=2048 splits=4",
         "ms": 0.4},
        {"family": "silu_mul", "model": "llama-3-8b", "name": "silu_mul T=1", "ms": 0.003},
    ],
}
TORCH = {"torch_version": "2.5.0", "results": [
    {"family": "gemm", "model": "llama-3-8b", "name": "qkv M=1 N=6144 K=4096", "ms": 0.03},
    {"family": "sdpa_decode", "model": "llama-3-8b", "name": "decode S=64 ctx=2048", "ms": 0.2},
    {"family": "sdpa_decode", "model": "qwen2.5-7b", "name": "decode S=64 ctx=2048", "ms": 0.2},
]}


class MergeTest(unittest.TestCase):
    def test_fields_and_join(self):
        out = m.merge(KERNELS, torch=TORCH, e2e={"output_tokens_per_s": 1234.5},
                      command="tools/gpu-check", rev="abc123", date="2026-11-25")
        for key in ("device", "date", "command", "git_rev", "measured_hbm_gbps",
                    "measured_bf16_tflops", "roofline", "e2e", "vs_torch"):
            self.assertIn(key, out)
        self.assertEqual(out["roofline"]["decode_attention_bw_fraction"], 0.5)
        self.assertEqual(out["e2e"]["output_tokens_per_s"], 1234.5)
        cases = out["vs_torch"]["cases"]
        self.assertEqual(len(cases), 2)  # qwen has no ember counterpart
        by = {c["family"]: c for c in cases}
        self.assertAlmostEqual(by["gemm"]["torch_over_ember"], 1.5)
        self.assertAlmostEqual(by["sdpa_decode"]["torch_over_ember"], 0.5)
        self.assertEqual(out["vs_torch"]["summary"]["gemm"]["cases"], 1)

    def test_cli_writes_dated_device_file(self):
        with tempfile.TemporaryDirectory() as d:
            k = os.path.join(d, "k.json")
            with open(k, "w") as f:
                json.dump(KERNELS, f)
            r = subprocess.run([sys.executable, TOOL, "--kernels", k, "--date", "2026-11-25",
                                "--git-rev", "r1", "--out-dir", d], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            path = os.path.join(d, "2026-11-25-NVIDIA-H100-80GB-HBM3.json")
            self.assertEqual(r.stdout.strip(), path)
            with open(path) as f:
                out = json.load(f)
            self.assertIsNone(out["vs_torch"])
            self.assertEqual(out["git_rev"], "r1")

    def test_bad_parts_are_clear_errors(self):
        with tempfile.TemporaryDirectory() as d:
            bad = os.path.join(d, "bad.json")
            with open(bad, "w") as f:
                f.write("{not json")
            r = subprocess.run([sys.executable, TOOL, "--kernels", bad], capture_output=True,
                               text=True)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("not valid JSON", r.stderr)
            r = subprocess.run([sys.executable, TOOL, "--kernels", os.path.join(d, "none.json")],
                               capture_output=True, text=True)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("none.json", r.stderr)
        with self.assertRaises(ValueError):
            m.merge({"device": "x"})


if __name__ == "__main__":
    unittest.main()
