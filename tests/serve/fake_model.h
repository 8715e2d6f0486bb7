#pragma once
// A tiny deterministic "model" for scheduler tests. It stores each token it is given in that
// token's KV slot, and a row's logits are a hash of the whole context read back through the
// block table, so any mistake in block tables, prefix sharing, copy-on-write or recompute after
// preemption changes the output. It is batch-invariant by construction and can advance a
// simulated clock per step and fail on demand.
#include <atomic>
#include <cstring>
#include <stdexcept>

#include "engine/serve/model_runner.h"
#include "engine/serve/request.h"

namespace ember::test {

struct FakeClock {
  std::atomic<int64_t> ns{1'000'000'000};
  Clock::time_point now() const { return Clock::time_point(std::chrono::nanoseconds(ns.load())); }
  void advance(std::chrono::nanoseconds d) { ns += d.count(); }
};

inline uint64_t fake_mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0x7fb5d329728ea185ull;
  x ^= x >> 27;
  x *= 0x81dadef4bc2dd44dull;
  return x ^ (x >> 33);
}

class FakeModel : public ModelRunner {
 public:
  FakeModel(int vocab = 48, int num_blocks = 64, int block_size = 4, int max_ctx = 4096)
      : vocab_(vocab), blocks_(num_blocks), bs_(block_size), max_ctx_(max_ctx),
        slots_(size_t(num_blocks) * block_size, -1) {}

  std::string name() const override { return "fake"; }
  int vocab_size() const override { return vocab_; }
  int max_context() const override { return max_ctx_; }
  std::vector<int32_t> eos_token_ids() const override { return eos; }
  int num_kv_blocks() const override { return blocks_; }
  int kv_block_size() const override { return bs_; }

  void copy_blocks(std::span<const BlockCopy> copies) override {
    for (const auto& c : copies)
      std::memcpy(&slots_[size_t(c.dst) * bs_], &slots_[size_t(c.src) * bs_], sizeof(int32_t) * bs_);
    copies_done += int(copies.size());
  }

  // The logits the model gives after `context` (what forward must reproduce).
  std::vector<float> logits_for(const std::vector<int32_t>& context) const {
    uint64_t h = 0x1234;
    for (int32_t t : context) h = fake_mix(h ^ uint64_t(t));
    std::vector<float> l(static_cast<size_t>(vocab_), 0.f);
    for (int v = 0; v < vocab_; ++v)
      l[v] = float(fake_mix(h + uint64_t(v) * 0x9e3779b97f4a7c15ull) >> 40) / float(1 << 24) *
                 spread - spread / 2;
    return l;
  }

  void forward(const StepInput& in, std::vector<float>& logits) override {
    if (clock) clock->advance(step_cost);
    ++steps;
    if (fail_at_step == steps) throw std::runtime_error("fake model: injected failure");
    max_batch_tokens = std::max(max_batch_tokens, in.num_tokens());
    std::vector<bool> written(slots_.size(), false);
    for (int t = 0; t < in.num_tokens(); ++t) {
      const int32_t slot = in.slot_mapping[t];
      if (written[slot]) throw std::runtime_error("fake model: two tokens share a KV slot");
      written[slot] = true;
      slots_[slot] = in.tokens[t];
    }
    logits.clear();
    for (int32_t row : in.logit_rows) {
      int start = 0;
      size_t s = 0;
      while (start + in.seqs[s].q_len <= row) start += in.seqs[s++].q_len;
      const SeqStep& seq = in.seqs[s];
      std::vector<int32_t> ctx;
      for (int p = 0; p <= in.positions[row]; ++p) {
        const int32_t tok = slots_[size_t(seq.block_table[p / bs_]) * bs_ + p % bs_];
        if (tok < 0) throw std::runtime_error("fake model: read an unwritten KV slot");
        ctx.push_back(tok);
      }
      auto l = logits_for(ctx);
      logits.insert(logits.end(), l.begin(), l.end());
    }
    tokens_computed += in.num_tokens();
  }

  std::vector<int32_t> eos;
  float spread = 6.f;
  FakeClock* clock = nullptr;
  std::chrono::nanoseconds step_cost{std::chrono::milliseconds(10)};
  int fail_at_step = -1;
  int steps = 0, max_batch_tokens = 0, copies_done = 0;
  int64_t tokens_computed = 0;

 private:
  int vocab_, blocks_, bs_, max_ctx_;
  std::vector<int32_t> slots_;
};

}  // namespace ember::test
