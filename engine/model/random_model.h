#pragma once
// Small random models of every supported architecture, written as a Hugging Face model folder
// (config.json, generation_config.json, model.safetensors, tokenizer.json,
// tokenizer_config.json). The bytes depend only on the options and the seed, on any machine:
// tests, benches and committed golden logits rely on that.
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/core/dtype.h"
#include "engine/model/config.h"

namespace ember {

struct RandomModelOptions {
  Arch arch = Arch::Llama;
  int hidden = 64;
  int layers = 2;
  int heads = 4;
  int kv_heads = 2;
  int intermediate = 128;
  int vocab = 512;
  DType dtype = DType::BF16;
  uint64_t seed = 0;
};

// "llama", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "gemma3" or a Hugging Face name
// ("Qwen2ForCausalLM").
Arch parse_arch_name(std::string_view name);

// Throws ember::Error naming the bad option (heads not dividing hidden, vocab too small, ...).
void validate_random_model_options(const RandomModelOptions& opts);

// Creates DIR if needed and writes the five files (overwriting them).
void write_random_model(const RandomModelOptions& opts, const std::string& dir);

// The tokenizer half: a byte-level BPE of exactly `vocab` ids: 256 byte tokens (id = byte
// value, spelled with GPT-2's byte-to-unicode map), merges, then the special tokens
// <|endoftext|>, <|im_start|>, <|im_end|> as the last three ids.
struct RandomTokenizerIds {
  int endoftext = 0, im_start = 0, im_end = 0;
};
constexpr int kRandomTokenizerMinVocab = 256 + 3;
RandomTokenizerIds random_tokenizer_ids(int vocab);
void write_random_tokenizer(int vocab, const std::string& dir);

}  // namespace ember
