// Host microseconds per decode step, with a runner that hands back ids at once (no model): what
// the scheduler, the block tables, the step's assembly, the sampler slots, detokenization and
// the streams cost per step, which on a GPU is time the device may sit idle. One JSON line per
// batch size:
//   {"batch": B, "host_us_per_step": X, "host_us_per_row": Y, "allocs_per_step": A, ...}
// Each figure is the median of 5 runs of `--steps` decode steps after a warm-up (prefill, then
// 32 full decode steps, so that every buffer has grown). Goal (issue 19): <= 100 us at batch 1 and
// <= 300 us at batch 256, linear in the batch.
//
//   bench_host_step [--tokenizer DIR] [--steps N] [--batches 1,16,64,256,512]
// The tokenizer (for detokenization) defaults to the shared assets' Qwen3 tokenizer, else a
// random tokenizer written to a temporary folder.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/model/random_model.h"
#include "engine/serve/chat_codec.h"
#include "engine/serve/model_runner.h"
#include "engine/serve/request_stream.h"
#include "engine/serve/scheduler.h"

// Every allocation in the process is counted (the decode loop should make few).
static std::atomic<int64_t> g_allocs{0};
void* operator new(size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace ember {
namespace {

// Ids at once: each row's draw is the next token of a real English text (so detokenization
// sees words), appended to its slot as the device op would.
class InstantRunner : public ModelRunner {
 public:
  InstantRunner(int vocab, std::vector<int32_t> text) : vocab_(vocab), text_(std::move(text)) {}
  std::string name() const override { return "instant"; }
  int vocab_size() const override { return vocab_; }
  int max_context() const override { return 1 << 20; }
  std::vector<int32_t> eos_token_ids() const override { return {}; }
  int num_kv_blocks() const override { return 1 << 17; }
  int kv_block_size() const override { return 16; }
  void copy_blocks(std::span<const BlockCopy>) override {}
  void forward(const StepInput&, std::vector<float>&) override {}
  void run(StepPlan& plan, std::vector<SampledRow>& out) override {
    begin_step(plan);
    out.resize(plan.rows.size());
    for (size_t i = 0; i < plan.rows.size(); ++i) {
      const int32_t slot = plan.rows[i].slot;
      const size_t n = slots_.output(slot).size();
      out[i].id = text_[(n + size_t(slot) * 7) % text_.size()];
      slots_.append(slot, out[i].id);
    }
  }

 private:
  int vocab_;
  std::vector<int32_t> text_;
};

const char* kText =
    "The quick brown fox jumps over the lazy dog. Validators send chat prompts to miners and "
    "pay for the replies; a reply is scored by how good it is, by how unlike the others it is, "
    "and by how fast it streams. Tokens arrive one at a time, and each one is decoded, checked "
    "against the stop strings and handed to the client before the next step begins. ";

struct Figures {
  double us_per_step = 0;
  double allocs_per_step = 0;
};

Figures run_batch(TextCodec& codec, int vocab, const std::vector<int32_t>& text, int batch,
                  int steps, bool async) {
  InstantRunner runner(vocab, text);
  EngineConfig cfg;
  cfg.max_num_seqs = batch;
  cfg.max_batched_tokens = std::max(batch, 512);
  cfg.async_scheduling = async;
  Scheduler sched(runner, cfg, &codec);
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (int i = 0; i < batch; ++i) {
    PreparedRequest r;
    r.stream = std::make_shared<RequestStream>(uint64_t(i), 1, nullptr);
    r.prompt.assign(text.begin(), text.begin() + std::min<size_t>(text.size(), 100));
    r.prompt[0] = int32_t(i % vocab);  // no two prompts share a block
    r.sampling.max_tokens = 1 << 20;
    r.sampling.ignore_eos = true;
    r.sampling.stop = {"never appears in this text"};
    r.seed = uint64_t(i);
    streams.push_back(r.stream);
    sched.add(std::move(r));
  }
  // The consumers' side: take every event (as the HTTP handlers do on their threads).
  const auto drain = [&] {
    for (auto& s : streams)
      while (s->try_pop()) {
      }
  };
  // Prefill, then decode until every buffer has grown: 32 steps in a row that each draw a
  // token for every sequence.
  for (int full = 0; full < 32;) {
    const int64_t before = sched.stats().generated_tokens;
    sched.step();
    drain();
    full = sched.stats().generated_tokens - before == batch ? full + 1 : 0;
  }
  const int64_t tokens0 = sched.stats().generated_tokens;
  const int64_t a0 = g_allocs.load();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) {
    sched.step();
    drain();
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Every step must have been a full decode step, or the figure times something else.
  const int64_t drawn = sched.stats().generated_tokens - tokens0;
  if (drawn != int64_t(steps) * batch)
    fail("bench_host_step: {} tokens in {} steps at batch {}", drawn, steps, batch);
  Figures f;
  f.us_per_step = s * 1e6 / steps;
  f.allocs_per_step = double(g_allocs.load() - a0) / steps;
  for (auto& st : streams) st->request_cancel();
  sched.step();
  return f;
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    out.push_back(std::stoi(s.substr(i, j - i)));
    i = j + 1;
  }
  return out;
}

int main_impl(int argc, char** argv) {
  std::string tok_dir = std::string(EMBER_ASSETS_DIR) + "/tokenizers/qwen3";
  int steps = 200;
  std::vector<int> batches = {1, 16, 64, 256, 512};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--tokenizer") tok_dir = v;
    else if (k == "--steps") steps = std::stoi(v);
    else if (k == "--batches") batches = parse_list(v);
    else {
      std::fprintf(stderr, "bench_host_step: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  std::string tmp;
  if (!std::filesystem::exists(std::filesystem::path(tok_dir) / "tokenizer.json")) {
    tmp = (std::filesystem::temp_directory_path() / "ember-bench-host-step-tok").string();
    std::filesystem::create_directories(tmp);
    write_random_tokenizer(32000, tmp);
    tok_dir = tmp;
  }
  auto codec = ChatCodec::from_model_dir(tok_dir);
  const int vocab = int(codec->tokenizer().vocab_size());
  const std::vector<int32_t> text = codec->encode_text(kText, false);
  for (bool async : {false, true})
    for (int b : batches) {
      std::vector<Figures> runs;
      for (int r = 0; r < 5; ++r) runs.push_back(run_batch(*codec, vocab, text, b, steps, async));
      std::sort(runs.begin(), runs.end(),
                [](auto& x, auto& y) { return x.us_per_step < y.us_per_step; });
      const Figures& m = runs[2];
      std::printf(
          "{\"batch\": %d, \"host_us_per_step\": %.1f, \"host_us_per_row\": %.2f, "
          "\"allocs_per_step\": %.1f, \"async_scheduling\": %s, \"steps\": %d, "
          "\"tokenizer\": \"%s\"}\n",
          b, m.us_per_step, m.us_per_step / b, m.allocs_per_step, async ? "true" : "false", steps,
          tmp.empty() ? tok_dir.c_str() : "random 32k");
      std::fflush(stdout);
    }
  if (!tmp.empty()) std::filesystem::remove_all(tmp);
  return 0;
}

}  // namespace
}  // namespace ember

int main(int argc, char** argv) {
  try {
    return ember::main_impl(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_host_step: %s\n", e.what());
    return 1;
  }
}
