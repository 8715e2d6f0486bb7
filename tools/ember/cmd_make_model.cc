// `ember make-model`: a small random model folder of any supported architecture, for tests,
// benches and trying the engine without downloading anything.
#include <cstdio>
#include <memory>

#include "engine/core/error.h"
#include "engine/model/random_model.h"
#include "tools/ember/commands.h"

namespace ember::cli {

namespace {

struct MakeModelArgs {
  std::string arch;
  std::string out;
  std::string dtype = "bf16";
  RandomModelOptions opts;
};

void run_make_model(const MakeModelArgs& a) {
  RandomModelOptions o = a.opts;
  o.arch = parse_arch_name(a.arch);
  o.dtype = a.dtype == "f32" ? DType::F32 : a.dtype == "f16" ? DType::F16 : DType::BF16;
  write_random_model(o, a.out);
  std::printf("wrote a random %s model (hidden %d, %d layers, %d/%d heads, vocab %d, %s, seed %llu) "
              "to %s\n",
              std::string(arch_hf_name(o.arch)).c_str(), o.hidden, o.layers, o.heads, o.kv_heads,
              o.vocab, a.dtype.c_str(), static_cast<unsigned long long>(o.seed), a.out.c_str());
}

}  // namespace

void add_make_model_command(CLI::App& app) {
  auto args = std::make_shared<MakeModelArgs>();
  auto* cmd = app.add_subcommand(
      "make-model", "Write a small random model (config, safetensors, tokenizer) to a folder");
  cmd->add_option("--arch", args->arch, "llama, mistral, qwen2, qwen3, phi3, gemma2, gemma3 (or a HF name)")
      ->required();
  cmd->add_option("--out", args->out, "Output folder (created if missing)")->required();
  cmd->add_option("--hidden", args->opts.hidden, "Hidden size")->capture_default_str();
  cmd->add_option("--layers", args->opts.layers, "Decoder layers")->capture_default_str();
  cmd->add_option("--heads", args->opts.heads, "Attention heads")->capture_default_str();
  cmd->add_option("--kv-heads", args->opts.kv_heads, "Key/value heads")->capture_default_str();
  cmd->add_option("--intermediate", args->opts.intermediate, "MLP intermediate size")
      ->capture_default_str();
  cmd->add_option("--vocab", args->opts.vocab, "Vocabulary size (>= 259)")->capture_default_str();
  cmd->add_option("--dtype", args->dtype, "Weight dtype")
      ->check(CLI::IsMember({"bf16", "f16", "f32"}))
      ->capture_default_str();
  cmd->add_option("--seed", args->opts.seed, "Seed: same arguments and seed, same bytes")
      ->capture_default_str();
  cmd->callback([args] { run_make_model(*args); });
}

}  // namespace ember::cli
