#include "engine/serve/scheduler.h"

#include <algorithm>
#include <cmath>
#include <optional>

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
      pipeline_(runner, cfg.async_scheduling, cfg_.now ? cfg_.now : [] { return Clock::now(); }) {
  if (cfg_.max_batched_tokens < 1) fail("engine: max_batched_tokens must be >= 1");
  if (cfg_.max_num_seqs < 1) fail("engine: max_num_seqs must be >= 1");
  if (!cfg_.now) cfg_.now = [] { return Clock::now(); };
  if (text_)
    for (int32_t id : text_->eos_token_ids())
      if (std::find(eos_.begin(), eos_.end(), id) == eos_.end()) eos_.push_back(id);
}

Scheduler::~Scheduler() {
  // Every step in flight lands before the requests it points at are destroyed.
  while (pipeline_.in_flight() > 0) pipeline_.collect();
}

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
  r->min_tokens_mask = r->p.sampling.stop_token_ids;
  if (!r->p.sampling.ignore_eos)
    r->min_tokens_mask.insert(r->min_tokens_mask.end(), eos_.begin(), eos_.end());
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
  // A step in flight may still draw into the slot; the next owner's init comes in a later step.
  if (s.slot >= 0) free_slots_.push_back(s.slot);
  s.slot = -1;
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

bool Scheduler::reserve_or_preempt(Sequence& s, int chunk, const std::vector<Scheduled>& batch,
                                   std::vector<BlockCopy>& copies) {
  while (!kv_.reserve(s.id, s.computed, s.computed + chunk, copies)) {
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

int32_t Scheduler::take_slot() {
  if (!free_slots_.empty()) {
    const int32_t s = free_slots_.back();
    free_slots_.pop_back();
    return s;
  }
  return next_slot_++;
}

void Scheduler::start_slot(Sequence& s, StepPlan& plan) {
  // A sequence resumed after preemption keeps its slot: only its own draws ever went into it,
  // and the host has all of them by now (admission waits for a draw in flight).
  if (s.slot >= 0) return;
  s.slot = take_slot();
  plan.inits.push_back(SlotInit{s.slot, s.tokens, int32_t(s.req->p.prompt.size())});
}

bool Scheduler::step() {
  end_cancelled_and_late();
  const bool submitted = build_and_submit();
  // Synchronous: the step just submitted lands now. Asynchronous: the one before it does, and
  // this one runs while the caller comes back to build the next.
  const int keep = pipeline_.async() && submitted ? 1 : 0;
  const bool landed = pipeline_.in_flight() > keep;
  while (pipeline_.in_flight() > keep) collect();
  std::erase_if(requests_, [](const auto& r) { return r->open == 0 && r->in_flight == 0; });
  return submitted || landed;
}

bool Scheduler::build_and_submit() {
  std::unique_ptr<Flight> owned;
  if (!spare_.empty()) {
    owned = std::move(spare_.back());
    spare_.pop_back();
  } else {
    owned = std::make_unique<Flight>();
  }
  Flight& f = *owned;
  f.plan.clear();
  f.batch.clear();
  f.drawn.clear();
  auto& batch = f.batch;
  int budget = cfg_.max_batched_tokens;
  const int64_t preemptions_before = stats_.preemptions;
  const auto room = [&] { return int(batch.size()) < cfg_.max_num_seqs && budget > 0; };
  const auto schedule = [&](Sequence* s, int chunk) {
    s->batch_mark = stats_.steps;
    batch.push_back({s, chunk, s->computed + chunk == s->length(), s->computed + chunk});
    budget -= chunk;
  };
  // A sequence whose draw in flight will end it (max_tokens, the context) is not given a row
  // it would only waste.
  const auto will_end = [&](const Sequence* s) {
    return s->pending > 0 && (s->generated + s->pending >= s->req->p.sampling.max_tokens ||
                              s->length() >= runner_.max_context());
  };

  // Decodes first: they are the latency users see.
  // A copy: preemption edits running_ as the loops go. Reused, like the plan, step after step.
  snapshot_.assign(running_.begin(), running_.end());
  const std::vector<Sequence*>& snapshot = snapshot_;
  for (Sequence* s : snapshot) {
    if (!room()) break;
    if (s->finished || !s->has_blocks || s->length() - s->computed != 1 || will_end(s)) continue;
    if (reserve_or_preempt(*s, 1, batch, f.plan.copies)) schedule(s, 1);
  }
  // Then prompts already being prefilled, in chunks.
  for (Sequence* s : snapshot) {
    if (!room()) break;
    if (s->finished || !s->has_blocks || s->batch_mark == stats_.steps || s->pending > 0)
      continue;
    const int chunk = std::min(int(s->tokens.size()) - s->computed, budget);
    if (chunk > 0 && reserve_or_preempt(*s, chunk, batch, f.plan.copies)) schedule(s, chunk);
  }
  // Then new (or preempted) sequences, oldest first, while the pool has room; not right after
  // a preemption, which would only hand the freed blocks to someone newer. A preempted
  // sequence with a draw still in flight waits for it (its tokens are not all known yet).
  const bool preempted_now = stats_.preemptions != preemptions_before;
  while (!preempted_now && !waiting_.empty() && room() &&
         int(running_.size()) < cfg_.max_num_seqs && waiting_.front()->pending == 0) {
    Sequence* s = waiting_.front();
    const int cached = kv_.admit(s->id, s->tokens);
    if (s->req->p.stream->cached_prompt_tokens.load() < 0)
      s->req->p.stream->cached_prompt_tokens = cached;
    s->computed = cached;
    const int chunk = std::min(int(s->tokens.size()) - cached, budget);
    if (!kv_.reserve(s->id, cached, cached + chunk, f.plan.copies)) {
      kv_.free(s->id);
      s->computed = 0;
      break;
    }
    waiting_.pop_front();
    s->has_blocks = true;
    running_.insert(std::upper_bound(running_.begin(), running_.end(), s, order_before), s);
    start_slot(*s, f.plan);
    schedule(s, chunk);
  }
  stats_.kv_blocks_peak = std::max(stats_.kv_blocks_peak, kv_.pool().num_in_use());
  if (batch.empty()) {
    spare_.push_back(std::move(owned));
    return false;
  }

  // The step's tensors, and a draw per sequence whose last token it computes.
  StepPlan& plan = f.plan;
  const size_t scheduled = batch.size();
  for (size_t i = 0; i < scheduled; ++i) {
    Sequence& s = *batch[i].seq;
    const int chunk = batch[i].chunk;
    const int known = std::min(chunk, int(s.tokens.size()) - s.computed);
    const int first_pending = plan.input.num_tokens() + known;
    // The chunk: known tokens, then (a decode behind a draw in flight) the pending one.
    plan.input.add_sequence(std::span<const int32_t>(s.tokens).subspan(size_t(s.computed), size_t(known)),
                            s.computed, kv_.table(s.id), kv_.block_size(), false, plan.spare_table());
    if (known < chunk) {
      const int pos = s.computed + known;
      const auto& table = kv_.table(s.id);
      plan.input.tokens.push_back(0);
      plan.input.positions.push_back(pos);
      plan.input.slot_mapping.push_back(table[size_t(pos / kv_.block_size())] * kv_.block_size() +
                                        pos % kv_.block_size());
      plan.input.seqs.back().q_len += 1;
      plan.input.seqs.back().ctx_len += 1;
      plan.pending.push_back(PendingToken{first_pending, s.slot});
    }
    if (batch[i].wants_logits) plan.input.logit_rows.push_back(plan.input.num_tokens() - 1);
    s.computed += chunk;
    stats_.prompt_tokens_computed += batch[i].wants_logits ? chunk - 1 : chunk;
    ++s.req->in_flight;
    if (!batch[i].wants_logits) continue;
    const int32_t row = int32_t(plan.input.logit_rows.size()) - 1;
    Request& r = *s.req;
    const auto draw = [&](Sequence& d) {
      plan.rows.push_back(RowSampling{row, d.slot, &r.p.sampling, r.p.seed, uint32_t(d.index),
                                      r.min_tokens_mask});
      f.drawn.push_back(&d);
      ++d.pending;
      ++r.in_flight;
    };
    if (!r.forked) {
      r.forked = true;
      if (r.p.sampling.n > 1) {
        // The prompt's one row is drawn n times, once per completion (the parent included).
        fork(s, f);
        for (auto& c : r.seqs) draw(*c);
        continue;
      }
    }
    draw(s);
  }
  ++stats_.steps;
  pipeline_.submit(&f.plan, &f.outcome);
  flights_.push_back(std::move(owned));
  return true;
}

void Scheduler::collect() {
  StepOutcome* out = pipeline_.collect();
  std::unique_ptr<Flight> owned = std::move(flights_.front());
  flights_.pop_front();
  Flight& f = *owned;
  if (out != &f.outcome) fail("scheduler: steps landed out of order");
  const bool ok = out->error.empty();
  if (ok) {
    const double dt = out->seconds;
    const auto& bounds = EngineStats::kStepTimeBounds;
    ++stats_.step_time_buckets[std::lower_bound(bounds.begin(), bounds.end(), dt) - bounds.begin()];
    stats_.step_time_sum_s += dt;
    step_ema_s_ = step_ema_s_ == 0 ? dt
                                    : cfg_.step_time_ema_alpha * dt +
                                          (1 - cfg_.step_time_ema_alpha) * step_ema_s_;
  }
  for (const auto& b : f.batch) {
    Sequence& s = *b.seq;
    --s.req->in_flight;
    if (!ok) {
      finish(s, FinishReason::Error, out->error);
      continue;
    }
    // Its KV is in the cache now (a sequence preempted or ended since holds no blocks).
    if (s.has_blocks && !s.finished)
      kv_.mark_computed(s.id, s.tokens, std::min(b.computed_after, int(s.tokens.size())));
  }
  for (size_t i = 0; i < f.drawn.size(); ++i) {
    Sequence& s = *f.drawn[i];
    --s.req->in_flight;
    --s.pending;
    if (s.finished) continue;  // ended while its row was in flight: the draw is dropped
    if (!ok) {
      finish(s, FinishReason::Error, out->error);
      continue;
    }
    const SampledRow& d = out->rows[i];
    if (d.id < 0)
      finish(s, FinishReason::Error, d.error);
    else
      append_token(s, d.id, d.logprobs ? &*d.logprobs : nullptr);
  }
  spare_.push_back(std::move(owned));
}

void Scheduler::fork(Sequence& parent, Flight& f) {
  // Called as the prompt's last chunk goes into the step: the children share its blocks (their
  // first writes copy the shared last block, in a later step) and its slot (a fork after the
  // parent's init in the same step).
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
    c->slot = take_slot();
    f.plan.forks.push_back(SlotFork{parent.slot, c->slot});
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
  // Steps in flight land (their draws are dropped: everyone has finished) before the requests
  // they point at go.
  while (pipeline_.in_flight() > 0) collect();
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
