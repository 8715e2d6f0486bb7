// Tokenizer throughput (MB/s of input text, one thread) on a long English text and on a
// CJK/emoji text, for each real tokenizer in the shared assets. tools/bench-tokenizer.sh runs
// this next to tools/bench_tokenizer_ref.py (Python `tokenizers`) on the same texts and prints
// both. `--dump_texts=DIR` writes the two texts to DIR and exits.
#include <benchmark/benchmark.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <simdjson.h>

#include "engine/text/tokenizer.h"

namespace {

const std::string kAssets = EMBER_ASSETS_DIR;

// The arena-hard prompts joined, up to about 1 MB: real English with code and markdown.
std::string english_text() {
  simdjson::dom::parser parser;
  std::string out;
  std::ifstream f(kAssets + "/prompts/arena-hard-v2.0.question.jsonl");
  std::string line;
  while (out.size() < (1u << 20) && std::getline(f, line)) {
    simdjson::dom::element e;
    std::string_view prompt;
    if (parser.parse(line).get(e) || e["prompt"].get(prompt)) continue;
    out.append(prompt).append("\n\n");
  }
  return out;
}

// Chinese, Japanese and Korean prose from the tokenizer test vectors and the multilingual
// prompts, plus a deterministic stream of CJK ideographs and emoji, about 512 KB.
std::string cjk_text() {
  std::string out;
  std::ifstream f(kAssets + "/prompts/oasst/multilingual-60.jsonl");
  std::string line;
  simdjson::dom::parser parser;
  std::string seed;
  while (std::getline(f, line)) {
    simdjson::dom::element e;
    std::string_view s;
    if (parser.parse(line).get(e) || e.get(s)) continue;
    size_t high = 0;
    for (char c : s) high += static_cast<unsigned char>(c) >= 0xE3;
    if (high * 4 > s.size()) seed.append(s).append("\n");  // mostly 3-byte scripts
  }
  std::mt19937 rng(7);
  auto put = [&](uint32_t cp) {
    if (cp < 0x10000) {
      out.push_back(char(0xE0 | (cp >> 12)));
      out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    } else {
      out.push_back(char(0xF0 | (cp >> 18)));
      out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    }
    out.push_back(char(0x80 | (cp & 0x3F)));
  };
  while (out.size() < (1u << 19)) {
    out += seed;
    for (int i = 0; i < 2000; ++i) {
      const uint32_t r = rng() % 100;
      if (r < 70) put(0x4E00 + rng() % 0x1000);        // common CJK ideographs
      else if (r < 80) put(0x3040 + rng() % 0x60);     // hiragana
      else if (r < 88) put(0xAC00 + rng() % 0x800);    // hangul
      else if (r < 95) put(0x1F300 + rng() % 0x250);   // emoji
      else out += (r < 98 ? "，" : "。\n");
    }
  }
  return out;
}

struct Texts {
  std::string english = english_text();
  std::string cjk = cjk_text();
};

const Texts& texts() {
  static const Texts t;
  return t;
}

void register_all() {
  const char* names[] = {"llama3", "qwen3", "mistral-v0.3", "phi3"};
  for (const char* name : names) {
    const std::string dir = kAssets + "/tokenizers/" + name;
    if (!std::filesystem::exists(dir + "/tokenizer.json")) continue;
    auto tok = std::make_shared<ember::Tokenizer>(ember::Tokenizer::load(dir));
    for (const char* which : {"english", "cjk"}) {
      const std::string* text = std::strcmp(which, "english") == 0 ? &texts().english : &texts().cjk;
      benchmark::RegisterBenchmark(
          (std::string("encode/") + name + "/" + which).c_str(),
          [tok, text](benchmark::State& st) {
            size_t n = 0;
            for (auto _ : st) {
              auto ids = tok->encode(*text);
              n = ids.size();
              benchmark::DoNotOptimize(ids.data());
            }
            st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(text->size()));
            st.counters["tokens"] = double(n);
          })->Unit(benchmark::kMillisecond);
      auto ids = std::make_shared<std::vector<int32_t>>(tok->encode(*text));
      benchmark::RegisterBenchmark(
          (std::string("decode/") + name + "/" + which).c_str(),
          [tok, ids, text](benchmark::State& st) {
            for (auto _ : st) {
              auto s = tok->decode(*ids);
              benchmark::DoNotOptimize(s.data());
            }
            st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(text->size()));
          })->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--dump_texts=", 13) == 0) {
      const std::string dir = argv[i] + 13;
      std::ofstream(dir + "/english.txt", std::ios::binary) << texts().english;
      std::ofstream(dir + "/cjk.txt", std::ios::binary) << texts().cjk;
      return 0;
    }
  }
  benchmark::Initialize(&argc, argv);
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
