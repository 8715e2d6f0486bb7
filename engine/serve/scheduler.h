#pragma once
// The serving loop's brain, single-threaded (the Engine's thread owns it; tests drive it step
// by step). Each step():
//   1. ends cancelled requests and those that would miss their deadline (freeing their blocks);
//   2. schedules running decodes first (one token each), then running chunked prefills, then
//      waiting requests in arrival order, under the step's token budget; when the KV pool runs
//      out, the newest running sequence is preempted (blocks freed, recomputed later); forks
//      n > 1 completions off a prompt whose last chunk is in the step;
//   3. hands the step to the runner (StepPipeline): the forward pass and the draws run there,
//      each draw from its sequence's sampler slot, and only ids and logprobs come back;
//   4. takes the ids of the oldest step in flight: appends them, applies stop tokens / stop
//      strings / max_tokens, and streams events.
// With async_scheduling, 3 returns at once and 4 takes the step before: step N+1 is built while
// step N runs. A decode whose token is still being drawn goes into N+1 with a pending input
// token (the runner reads it from the slot), and a sequence that step N ends has its row in
// N+1 computed and dropped: wasted, never wrong (its blocks are reused only by later steps,
// which run after N+1). Either way a request's tokens are the same: every draw is a function of
// its seed, its slot's history and batch-invariant logits.
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "engine/serve/engine_config.h"
#include "engine/serve/kv_block_manager.h"
#include "engine/serve/model_runner.h"
#include "engine/serve/request_stream.h"
#include "engine/serve/step_pipeline.h"
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
  bool has_work() const {
    return !running_.empty() || !waiting_.empty() || pipeline_.in_flight() > 0;
  }
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
    int32_t slot = -1;        // its sampler slot (the runner's SamplerSlots), while unfinished
    int pending = 0;          // draws in flight: tokens past `tokens` the step before computes
    int length() const { return int(tokens.size()) + pending; }
  };
  struct Request {
    uint64_t arrival = 0;
    PreparedRequest p;
    std::vector<std::unique_ptr<Sequence>> seqs;
    bool forked = false;
    int open = 0;
    int in_flight = 0;  // rows of steps in flight that point at it: it lives until they land
    std::vector<int32_t> min_tokens_mask;  // EOS (unless ignore_eos) and stop_token_ids
  };
  struct Scheduled {
    Sequence* seq;
    int chunk;
    bool wants_logits;
    int computed_after;  // seq->computed once this step has run
  };
  // A step between build and collect: its plan (owned by the pipeline meanwhile), the
  // sequences of its batch and the sequence each draw is for.
  struct Flight {
    StepPlan plan;
    StepOutcome outcome;
    std::vector<Scheduled> batch;
    std::vector<Sequence*> drawn;  // per plan.rows
  };

  void end_cancelled_and_late();
  // Steps 2 and 3: false when nothing could be scheduled.
  bool build_and_submit();
  // Step 4 for the oldest step in flight.
  void collect();
  void start_slot(Sequence& s, StepPlan& plan);
  int32_t take_slot();
  void finish(Sequence& s, FinishReason reason, const std::string& error = {});
  void preempt(Sequence& s);
  void remove_running(Sequence& s);
  void insert_waiting(Sequence* s);
  bool reserve_or_preempt(Sequence& s, int chunk, const std::vector<Scheduled>& batch,
                          std::vector<BlockCopy>& copies);
  void append_token(Sequence& s, int32_t token, const TokenLogprobs* logprobs = nullptr);
  void fork(Sequence& parent, Flight& f);
  bool is_stop_token(const Sequence& s, int32_t t) const;
  static bool order_before(const Sequence* a, const Sequence* b);

  ModelRunner& runner_;
  EngineConfig cfg_;
  TextCodec* text_;
  KvBlockManager kv_;
  std::vector<int32_t> eos_;
  std::vector<std::unique_ptr<Request>> requests_;
  std::vector<Sequence*> running_;  // in (arrival, index) order: back() is the newest
  std::deque<Sequence*> waiting_;   // in (priority desc, arrival, index) order
  uint64_t next_arrival_ = 0;
  SeqId next_seq_ = 1;
  double step_ema_s_ = 0;
  EngineStats stats_;
  std::vector<int32_t> free_slots_;
  std::vector<Sequence*> snapshot_;
  int32_t next_slot_ = 0;
  std::deque<std::unique_ptr<Flight>> flights_;  // in flight, oldest first
  std::vector<std::unique_ptr<Flight>> spare_;   // landed, reused
  // Last: destroyed first, so the worker stops before the requests its steps point at go.
  StepPipeline pipeline_;
};

}  // namespace ember
