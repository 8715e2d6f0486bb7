#pragma once
// The serving loop's brain, single-threaded (the Engine's thread owns it; tests drive it step
// by step). Each step():
//   1. ends cancelled requests and those that would miss their deadline (freeing their blocks);
//   2. schedules running decodes first (one token each), then running chunked prefills, then
//      waiting requests in arrival order, under the step's token budget; when the KV pool runs
//      out, the newest running sequence is preempted (blocks freed, recomputed later);
//   3. runs the model once over the batch;
//   4. samples each sequence whose last token was computed, forks n > 1 completions off the
//      prompt, applies stop tokens / stop strings / max_tokens, and streams events.
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "engine/serve/engine_config.h"
#include "engine/serve/kv_block_manager.h"
#include "engine/serve/model_runner.h"
#include "engine/serve/request_stream.h"
#include "engine/serve/text_stream.h"

namespace ember {

// A request validated and tokenized, ready for the scheduler.
struct PreparedRequest {
  std::shared_ptr<RequestStream> stream;
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  uint64_t seed = 0;
  std::optional<Clock::time_point> deadline;
  double priority = 0;  // see ChatRequest::priority
};

class Scheduler {
 public:
  Scheduler(ModelRunner& runner, const EngineConfig& cfg, TextCodec* text);
  ~Scheduler();

  void add(PreparedRequest r);
  bool has_work() const { return !running_.empty() || !waiting_.empty(); }
  // One iteration (see above). Returns false when there was nothing to do.
  bool step();
  // Ends every request with `reason` (engine shutdown).
  void abort_all(FinishReason reason, const std::string& message);

  EngineStats stats() const;
  const KvBlockManager& kv() const { return kv_; }

 private:
  struct Request;
  struct Sequence {
    SeqId id = 0;
    Request* req = nullptr;
    int index = 0;
    std::vector<int32_t> tokens;  // prompt + output
    int computed = 0;             // tokens whose KV is in the cache
    bool has_blocks = false;
    std::unique_ptr<TextStream> text;
    bool finished = false;
    int generated = 0;  // tokens sampled (including a final stop token)
    int64_t batch_mark = -1;  // the step that scheduled it
  };
  struct Request {
    uint64_t arrival = 0;
    PreparedRequest p;
    std::vector<std::unique_ptr<Sequence>> seqs;
    bool forked = false;
    int open = 0;
  };
  struct Scheduled {
    Sequence* seq;
    int chunk;
    bool wants_logits;
  };

  void end_cancelled_and_late();
  void finish(Sequence& s, FinishReason reason, const std::string& error = {});
  void preempt(Sequence& s);
  void remove_running(Sequence& s);
  void insert_waiting(Sequence* s);
  bool reserve_or_preempt(Sequence& s, int chunk, const std::vector<Scheduled>& batch);
  void after_forward(const std::vector<Scheduled>& batch, std::vector<float>& logits);
  void append_token(Sequence& s, int32_t token, const TokenLogprobs* logprobs = nullptr);
  // Before min_tokens: EOS (unless ignore_eos) and stop_token_ids cannot be drawn.
  void mask_stop_tokens(const SamplingParams& p, std::span<float> logits) const;
  void fork(Sequence& parent);
  bool is_stop_token(const Sequence& s, int32_t t) const;
  static bool order_before(const Sequence* a, const Sequence* b);

  ModelRunner& runner_;
  EngineConfig cfg_;
  TextCodec* text_;
  KvBlockManager kv_;
  std::vector<int32_t> eos_;
  int vocab_ = 0;
  std::vector<std::unique_ptr<Request>> requests_;
  std::vector<Sequence*> running_;  // in (arrival, index) order: back() is the newest
  std::deque<Sequence*> waiting_;   // in (priority desc, arrival, index) order
  std::vector<BlockCopy> copies_;
  uint64_t next_arrival_ = 0;
  SeqId next_seq_ = 1;
  double step_ema_s_ = 0;
  EngineStats stats_;
};

}  // namespace ember
