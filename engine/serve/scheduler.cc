#include "engine/serve/scheduler.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <thread>

#include "engine/core/error.h"
#include "engine/sample/sampler.h"

namespace ember {

namespace {
constexpr size_t kDetokenizeContext = 4;  // prompt tokens a completion's text decodes after

TextStreamOptions text_options(const SamplingParams& p) {
  TextStreamOptions o;
  o.skip_special_tokens = p.skip_special_tokens;
  o.include_stop_str = p.include_stop_str_in_output;
  return o;
}
}

Scheduler::Scheduler(ModelRunner& runner, const EngineConfig& cfg, TextCodec* text)
    : runner_(runner),
      cfg_(cfg),
      text_(text),
      kv_(runner.num_kv_blocks(), runner.kv_block_size(), cfg.prefix_caching),
      eos_(runner.eos_token_ids()),
      vocab_(runner.vocab_size()) {
  if (cfg_.max_batched_tokens < 1) fail("engine: max_batched_tokens must be >= 1");
  if (cfg_.max_num_seqs < 1) fail("engine: max_num_seqs must be >= 1");
  if (!cfg_.now) cfg_.now = [] { return Clock::now(); };
  if (text_)
    for (int32_t id : text_->eos_token_ids())
      if (std::find(eos_.begin(), eos_.end(), id) == eos_.end()) eos_.push_back(id);
}

Scheduler::~Scheduler() = default;

bool Scheduler::order_before(const Sequence* a, const Sequence* b) {
  if (a->req->p.priority != b->req->p.priority) return a->req->p.priority > b->req->p.priority;
  if (a->req->arrival != b->req->arrival) return a->req->arrival < b->req->arrival;
  return a->index < b->index;
}

void Scheduler::add(PreparedRequest p) {
  auto r = std::make_unique<Request>();
  r->arrival = next_arrival_++;
  r->p = std::move(p);
  r->p.stream->prompt_tokens = int(r->p.prompt.size());
  auto s = std::make_unique<Sequence>();
  s->id = next_seq_++;
  s->req = r.get();
  s->tokens = r->p.prompt;
  if (text_) {
    const auto& pr = r->p.prompt;
    const size_t ctx = std::min(pr.size(), kDetokenizeContext);
    s->text = std::make_unique<TextStream>(
        *text_, std::span<const int32_t>(pr).subspan(pr.size() - ctx), r->p.sampling.stop,
        text_options(r->p.sampling));
  }
  r->open = 1;
  insert_waiting(s.get());
  r->seqs.push_back(std::move(s));
  requests_.push_back(std::move(r));
}

void Scheduler::remove_running(Sequence& s) {
  auto it = std::find(running_.begin(), running_.end(), &s);
  if (it != running_.end()) running_.erase(it);
}

void Scheduler::insert_waiting(Sequence* s) {
  waiting_.insert(std::upper_bound(waiting_.begin(), waiting_.end(), s, order_before), s);
}

void Scheduler::finish(Sequence& s, FinishReason reason, const std::string& error) {
  if (s.finished) return;
  s.finished = true;
  Request& r = *s.req;
  StreamEvent e;
  e.index = s.index;
  if (s.text) e.text = s.text->flush();
  e.finish = reason;
  e.error = error;
  e.time = cfg_.now();
  // Blocks go back before the client hears of the end, so a finished handle means freed KV.
  if (s.has_blocks) kv_.free(s.id);
  s.has_blocks = false;
  remove_running(s);
  auto w = std::find(waiting_.begin(), waiting_.end(), &s);
  if (w != waiting_.end()) waiting_.erase(w);
  --r.open;
  r.p.stream->push(e);
  if (!r.forked && r.p.sampling.n > 1) {
    // The prompt ended before its completions were forked: each of them ends the same way.
    for (int i = 1; i < r.p.sampling.n; ++i) {
      StreamEvent c = e;
      c.index = i;
      c.text.clear();
      r.p.stream->push(std::move(c));
    }
  }
}

void Scheduler::preempt(Sequence& s) {
  kv_.free(s.id);
  s.has_blocks = false;
  s.computed = 0;
  remove_running(s);
  insert_waiting(&s);
  ++stats_.preemptions;
}

void Scheduler::end_cancelled_and_late() {
  const auto now = cfg_.now();
  const auto horizon =
      now + cfg_.deadline_margin +
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(step_ema_s_));
  for (auto& r : requests_) {
    if (r->open == 0) continue;
    std::optional<FinishReason> why;
    if (r->p.stream->cancel_requested())
      why = FinishReason::Cancelled;
    else if (r->p.deadline && horizon >= *r->p.deadline)
      why = FinishReason::Deadline;
    if (!why) continue;
    for (auto& s : r->seqs) finish(*s, *why);
  }
}

bool Scheduler::reserve_or_preempt(Sequence& s, int chunk, const std::vector<Scheduled>& batch) {
  while (!kv_.reserve(s.id, s.computed, s.computed + chunk, copies_)) {
    Sequence* victim = nullptr;
    for (auto it = running_.rbegin(); it != running_.rend() && *it != &s; ++it)
      if ((*it)->batch_mark != stats_.steps) {
        victim = *it;
        break;
      }
    if (victim) {
      preempt(*victim);
      continue;
    }
    if (batch.empty() && running_.size() == 1) {
      // Alone and still short: the sequence has outgrown the whole cache.
      finish(s, FinishReason::Length);
    } else {
      preempt(s);
    }
    return false;
  }
  return true;
}

bool Scheduler::step() {
  end_cancelled_and_late();
  std::vector<Scheduled> batch;
  copies_.clear();
  int budget = cfg_.max_batched_tokens;
  const int64_t preemptions_before = stats_.preemptions;
  const auto room = [&] { return int(batch.size()) < cfg_.max_num_seqs && budget > 0; };
  const auto schedule = [&](Sequence* s, int chunk) {
    s->batch_mark = stats_.steps;
    batch.push_back({s, chunk, s->computed + chunk == int(s->tokens.size())});
    budget -= chunk;
  };

  // Decodes first: they are the latency users see.
  const std::vector<Sequence*> snapshot = running_;
  for (Sequence* s : snapshot) {
    if (!room()) break;
    if (s->finished || !s->has_blocks || int(s->tokens.size()) - s->computed != 1) continue;
    if (reserve_or_preempt(*s, 1, batch)) schedule(s, 1);
  }
  // Then prompts already being prefilled, in chunks.
  for (Sequence* s : snapshot) {
    if (!room()) break;
    if (s->finished || !s->has_blocks || s->batch_mark == stats_.steps) continue;
    const int chunk = std::min(int(s->tokens.size()) - s->computed, budget);
    if (chunk > 0 && reserve_or_preempt(*s, chunk, batch)) schedule(s, chunk);
  }
  // Then new (or preempted) sequences, oldest first, while the pool has room; not right after
  // a preemption, which would only hand the freed blocks to someone newer.
  const bool preempted_now = stats_.preemptions != preemptions_before;
  while (!preempted_now && !waiting_.empty() && room() &&
         int(running_.size()) < cfg_.max_num_seqs) {
    Sequence* s = waiting_.front();
    const int cached = kv_.admit(s->id, s->tokens);
    if (s->req->p.stream->cached_prompt_tokens.load() < 0)
      s->req->p.stream->cached_prompt_tokens = cached;
    s->computed = cached;
    const int chunk = std::min(int(s->tokens.size()) - cached, budget);
    if (!kv_.reserve(s->id, cached, cached + chunk, copies_)) {
      kv_.free(s->id);
      s->computed = 0;
      break;
    }
    waiting_.pop_front();
    s->has_blocks = true;
    running_.insert(std::upper_bound(running_.begin(), running_.end(), s, order_before), s);
    schedule(s, chunk);
  }
  stats_.kv_blocks_peak = std::max(stats_.kv_blocks_peak, kv_.pool().num_in_use());

  if (!batch.empty()) {
    StepInput in;
    for (const auto& b : batch) {
      Sequence& s = *b.seq;
      std::vector<int32_t> ids(s.tokens.begin() + s.computed,
                               s.tokens.begin() + s.computed + b.chunk);
      in.add_sequence(ids, s.computed, kv_.table(s.id), kv_.block_size(), b.wants_logits);
    }
    std::vector<float> logits;
    const auto t0 = cfg_.now();
    bool ok = true;
    try {
      if (!copies_.empty()) runner_.copy_blocks(copies_);
      runner_.forward(in, logits);
      if (logits.size() != in.logit_rows.size() * size_t(vocab_))
        fail("model step returned {} logits, expected {} rows of {}", logits.size(),
             in.logit_rows.size(), vocab_);
    } catch (const std::exception& e) {
      ok = false;
      for (const auto& b : batch) finish(*b.seq, FinishReason::Error, e.what());
    }
    if (ok) {
      const double dt = std::chrono::duration<double>(cfg_.now() - t0).count();
      const auto& bounds = EngineStats::kStepTimeBounds;
      ++stats_.step_time_buckets[std::lower_bound(bounds.begin(), bounds.end(), dt) - bounds.begin()];
      stats_.step_time_sum_s += dt;
      step_ema_s_ = stats_.steps == 0 ? dt
                                      : cfg_.step_time_ema_alpha * dt +
                                            (1 - cfg_.step_time_ema_alpha) * step_ema_s_;
      after_forward(batch, logits);
    }
    ++stats_.steps;
  }
  std::erase_if(requests_, [](const auto& r) { return r->open == 0; });
  return !batch.empty();
}

namespace {
// Runs f(i) for i in [0, n) on a few threads when there is enough work to pay for them.
template <typename F>
void parallel_for(size_t n, F&& f) {
  const size_t hw = std::max(1u, std::thread::hardware_concurrency());
  const size_t workers = std::min(hw, n / 4);
  if (workers <= 1) {
    for (size_t i = 0; i < n; ++i) f(i);
    return;
  }
  std::vector<std::thread> ts;
  for (size_t w = 1; w < workers; ++w)
    ts.emplace_back([&, w] {
      for (size_t i = w; i < n; i += workers) f(i);
    });
  for (size_t i = 0; i < n; i += workers) f(i);
  for (auto& t : ts) t.join();
}
}  // namespace

void Scheduler::after_forward(const std::vector<Scheduled>& batch, std::vector<float>& logits) {
  struct Draw {
    Sequence* seq;
    const float* logits;
    int32_t id = -1;
    std::string error;
    std::optional<TokenLogprobs> logprobs;
  };
  std::vector<Draw> draws;
  size_t row = 0;
  for (const auto& b : batch) {
    Sequence& s = *b.seq;
    s.computed += b.chunk;
    stats_.prompt_tokens_computed += b.wants_logits ? b.chunk - 1 : b.chunk;
    kv_.mark_computed(s.id, s.tokens, s.computed);
    if (!b.wants_logits) continue;
    const float* row_logits = logits.data() + row++ * size_t(vocab_);
    Request& r = *s.req;
    if (!r.forked) {
      r.forked = true;
      if (r.p.sampling.n > 1) {
        fork(s);
        for (auto& c : r.seqs) draws.push_back(Draw{c.get(), row_logits, -1, {}, {}});
        continue;
      }
    }
    draws.push_back(Draw{&s, row_logits, -1, {}, {}});
  }
  // Each draw is a pure function of its own inputs, so doing them in parallel changes nothing.
  parallel_for(draws.size(), [&](size_t i) {
    Draw& d = draws[i];
    const Request& r = *d.seq->req;
    const SamplingParams& sp = r.p.sampling;
    thread_local std::vector<float> scratch;
    scratch.assign(d.logits, d.logits + vocab_);
    if (d.seq->generated < sp.min_tokens) mask_stop_tokens(sp, scratch);
    const auto output = std::span<const int32_t>(d.seq->tokens).subspan(r.p.prompt.size());
    const bool processed = sp.logprobs >= 0 && sp.logprobs_mode == SamplingParams::LogprobsMode::Processed;
    std::optional<RowLogprobs> dist;
    try {
      d.id = sample_next(sp, r.p.seed, uint32_t(d.seq->index), scratch, r.p.prompt, output,
                         processed ? &dist : nullptr);
      if (sp.logprobs >= 0) {
        if (!processed) dist.emplace(std::span<const float>(d.logits, size_t(vocab_)));
        d.logprobs = dist->entry(d.id, sp.logprobs);
      }
    } catch (const std::exception& e) {
      d.error = e.what();
      d.id = -1;
    }
  });
  for (auto& d : draws) {
    if (d.id < 0)
      finish(*d.seq, FinishReason::Error, d.error);
    else
      append_token(*d.seq, d.id, d.logprobs ? &*d.logprobs : nullptr);
  }
}

void Scheduler::fork(Sequence& parent) {
  Request& r = *parent.req;
  for (int i = 1; i < r.p.sampling.n; ++i) {
    auto c = std::make_unique<Sequence>();
    c->id = next_seq_++;
    c->req = &r;
    c->index = i;
    c->tokens = parent.tokens;
    c->computed = parent.computed;
    c->batch_mark = parent.batch_mark;
    kv_.fork(parent.id, c->id);
    c->has_blocks = true;
    if (text_) {
      const auto& pr = r.p.prompt;
      const size_t ctx = std::min(pr.size(), kDetokenizeContext);
      c->text = std::make_unique<TextStream>(
          *text_, std::span<const int32_t>(pr).subspan(pr.size() - ctx), r.p.sampling.stop,
          text_options(r.p.sampling));
    }
    running_.insert(std::upper_bound(running_.begin(), running_.end(), c.get(), order_before),
                    c.get());
    r.seqs.push_back(std::move(c));
    ++r.open;
  }
}

bool Scheduler::is_stop_token(const Sequence& s, int32_t t) const {
  const auto& p = s.req->p.sampling;
  if (std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), t) != p.stop_token_ids.end())
    return true;
  return !p.ignore_eos && std::find(eos_.begin(), eos_.end(), t) != eos_.end();
}

void Scheduler::mask_stop_tokens(const SamplingParams& p, std::span<float> logits) const {
  const auto mask = [&](int32_t id) {
    if (id >= 0 && id < int32_t(logits.size())) logits[size_t(id)] = -INFINITY;
  };
  for (int32_t id : p.stop_token_ids) mask(id);
  if (!p.ignore_eos)
    for (int32_t id : eos_) mask(id);
}

void Scheduler::append_token(Sequence& s, int32_t token, const TokenLogprobs* logprobs) {
  ++s.generated;
  ++stats_.generated_tokens;
  if (is_stop_token(s, token)) {
    finish(s, FinishReason::Stop);
    return;
  }
  s.tokens.push_back(token);
  StreamEvent e;
  e.index = s.index;
  e.tokens = {token};
  if (logprobs) e.logprobs = {*logprobs};
  bool stopped = false;
  if (s.text) {
    auto out = s.text->push(token);
    e.text = std::move(out.text);
    stopped = out.stopped;
  }
  e.time = cfg_.now();
  s.req->p.stream->push(std::move(e));
  if (stopped)
    finish(s, FinishReason::Stop);
  else if (s.generated >= s.req->p.sampling.max_tokens ||
           int(s.tokens.size()) >= runner_.max_context())
    finish(s, FinishReason::Length);
}

void Scheduler::abort_all(FinishReason reason, const std::string& message) {
  for (auto& r : requests_)
    for (auto& s : r->seqs) finish(*s, reason, message);
  requests_.clear();
}

EngineStats Scheduler::stats() const {
  EngineStats st = stats_;
  st.kv_blocks_total = kv_.pool().num_blocks();
  st.kv_blocks_in_use = kv_.pool().num_in_use();
  st.prefix_queried_tokens = kv_.prefix_stats().queried_tokens;
  st.prefix_hit_tokens = kv_.prefix_stats().hit_tokens;
  st.running = int(running_.size());
  st.waiting = int(waiting_.size());
  st.step_time_ema_s = step_ema_s_;
  return st;
}

}  // namespace ember
