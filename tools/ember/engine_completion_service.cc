#include "tools/ember/engine_completion_service.h"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "engine/core/error.h"

namespace ember::cli {

namespace {

using Clock = std::chrono::steady_clock;

net::FinishReason to_net(FinishReason r) {
  switch (r) {
    case FinishReason::Stop: return net::FinishReason::kStop;
    case FinishReason::Length: return net::FinishReason::kLength;
    case FinishReason::Deadline: return net::FinishReason::kDeadline;
    case FinishReason::Cancelled: return net::FinishReason::kCancelled;
    case FinishReason::Error: return net::FinishReason::kError;
  }
  return net::FinishReason::kError;
}

class EngineStream : public net::CompletionStream {
 public:
  EngineStream(RequestHandle h, EngineCompletionService& svc, bool with_logprobs)
      : h_(std::move(h)), svc_(svc), started_(Clock::now()), with_logprobs_(with_logprobs) {}

  bool next(net::CompletionPiece& out, Clock::time_point until) override {
    for (;;) {
      const auto now = Clock::now();
      // Waits in slices of at most a second, so a far-away `until` cannot overflow.
      const auto left = until <= now ? std::chrono::milliseconds(0)
                                     : std::min<std::chrono::milliseconds>(
                                           std::chrono::duration_cast<std::chrono::milliseconds>(until - now),
                                           std::chrono::milliseconds(1000));
      std::optional<StreamEvent> e = h_.next_for(left);
      if (!e) {
        if (h_.done()) {  // every event was read but none carried the finish: treat as cancelled
          out = piece("", net::FinishReason::kCancelled, "");
          return true;
        }
        if (Clock::now() >= until) return false;
        continue;
      }
      completion_tokens_ += static_cast<int64_t>(e->tokens.size());
      if (!first_seen_ && !e->tokens.empty()) {
        first_seen_ = true;
        svc_.record_ttft(std::chrono::duration<double>(e->time - started_).count());
      }
      if (e->finish) {
        out = piece(std::move(e->text), to_net(*e->finish), e->error);
        add_tokens(*e, out);
        return true;
      }
      // Validators count chunks as tokens: with logprobs every token is its own piece, even one
      // whose text is still mid-character or held back as a possible stop string.
      if (!with_logprobs_ && e->text.empty() && Clock::now() < until) continue;
      out = piece(std::move(e->text), net::FinishReason::kNone, "");
      add_tokens(*e, out);
      return true;
    }
  }

  void cancel() override { h_.cancel(); }

 private:
  net::CompletionPiece piece(std::string text, net::FinishReason finish, std::string error) {
    net::CompletionPiece p;
    p.text = std::move(text);
    p.done = finish != net::FinishReason::kNone;
    p.finish = finish;
    p.error = std::move(error);
    p.usage.prompt_tokens = h_.prompt_tokens();
    p.usage.completion_tokens = completion_tokens_;
    return p;
  }

  void add_tokens(const StreamEvent& e, net::CompletionPiece& out) {
    if (!with_logprobs_) return;
    for (size_t i = 0; i < e.tokens.size() && i < e.logprobs.size(); ++i) {
      net::GeneratedToken g;
      const int32_t id = e.tokens[i];
      g.chosen = {id, svc_.token_text(id), e.logprobs[i].logprob};
      g.top.reserve(e.logprobs[i].top.size());
      for (const auto& [tid, lp] : e.logprobs[i].top) g.top.push_back({tid, svc_.token_text(tid), lp});
      out.tokens.push_back(std::move(g));
    }
  }

  RequestHandle h_;
  EngineCompletionService& svc_;
  Clock::time_point started_;
  bool with_logprobs_;
  bool first_seen_ = false;
  int64_t completion_tokens_ = 0;
};

const std::vector<double> kTtftBounds = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

}  // namespace

EngineCompletionService::EngineCompletionService(Engine& engine, CompletionServiceOptions opts)
    : engine_(engine), opts_(std::move(opts)) {
  ttft_.upper_bounds = kTtftBounds;
  ttft_.bucket_counts.assign(kTtftBounds.size() + 1, 0);
}

SamplingParams EngineCompletionService::sampling_for(const net::CompletionRequest& req) const {
  SamplingParams sp = opts_.defaults;
  sp.max_tokens = req.max_tokens > 0 ? req.max_tokens : opts_.default_max_tokens;
  if (req.temperature) sp.temperature = *req.temperature;
  if (req.top_p) sp.top_p = *req.top_p;
  if (req.top_k) sp.top_k = *req.top_k < 0 ? 0 : *req.top_k;  // vLLM's -1 is off
  if (opts_.top_k_cap > 0 && (sp.top_k == 0 || sp.top_k > opts_.top_k_cap)) sp.top_k = opts_.top_k_cap;
  if (req.min_p) sp.min_p = *req.min_p;
  if (req.repetition_penalty) sp.repetition_penalty = *req.repetition_penalty;
  if (req.presence_penalty) sp.presence_penalty = *req.presence_penalty;
  if (req.frequency_penalty) sp.frequency_penalty = *req.frequency_penalty;
  for (const auto& [id, b] : req.logit_bias) sp.logit_bias[id] = b;
  if (req.seed) sp.seed = req.seed;
  if (!req.stop.empty()) sp.stop = req.stop;
  sp.include_stop_str_in_output = req.include_stop_str_in_output;
  sp.stop_token_ids.insert(sp.stop_token_ids.end(), req.stop_token_ids.begin(), req.stop_token_ids.end());
  sp.min_tokens = req.min_tokens;
  sp.ignore_eos = sp.ignore_eos || req.ignore_eos;
  sp.skip_special_tokens = req.skip_special_tokens;
  if (req.logprobs > opts_.max_logprobs)
    throw std::invalid_argument(fmt::format("logprobs: {} alternatives asked, the maximum is {} (--max-logprobs)",
                                            req.logprobs, opts_.max_logprobs));
  sp.logprobs = req.logprobs < 0 ? -1 : req.logprobs;
  sp.logprobs_mode = opts_.logprobs_mode;
  return sp;
}

std::unique_ptr<net::CompletionStream> EngineCompletionService::start(const net::CompletionRequest& req) {
  ChatRequest cr;
  cr.sampling = sampling_for(req);
  SamplingParams& sp = cr.sampling;
  if (!req.prompt_ids.empty()) {
    cr.prompt_ids = req.prompt_ids;
  } else if (req.prompt_text) {
    if (req.prompt_text->empty()) throw std::invalid_argument("prompt: the prompt is empty");
    cr.prompt_ids = tokenize(*req.prompt_text, true);
  } else if (!engine_.text()) {
    throw std::invalid_argument("messages: this model has no tokenizer/chat template");
  } else {
    // Chat prompts are tokenized here rather than in Engine::submit, so that the length limit
    // is a 400 before the request queues.
    cr.prompt_ids = tokenize_chat(req.messages);
  }
  // As vLLM: a prompt that leaves no room is refused; an explicit max_tokens that overflows the
  // limit is refused; the server's default shrinks to fit.
  const int limit = max_model_len();
  const int64_t prompt = int64_t(cr.prompt_ids.size());
  if (limit > 0 && (prompt >= limit || (req.max_tokens > 0 && prompt + sp.max_tokens > limit)))
    throw std::invalid_argument(fmt::format(
        "This model's maximum context length is {} tokens. However, you requested {} tokens ({} in the "
        "prompt, {} for the completion). Please reduce the prompt or max_tokens.",
        limit, prompt + sp.max_tokens, prompt, sp.max_tokens));
  if (limit > 0 && prompt + sp.max_tokens > limit) sp.max_tokens = int(limit - prompt);
  if (req.deadline != Clock::time_point::max()) cr.deadline = req.deadline;
  cr.priority = req.priority;
  try {
    validate(sp, engine_.runner().vocab_size());
  } catch (const Error& e) {
    throw std::invalid_argument(e.what());
  }
  return std::make_unique<EngineStream>(engine_.submit(std::move(cr)), *this, sp.logprobs >= 0);
}

TextCodec& EngineCompletionService::codec() const {
  TextCodec* t = engine_.text();
  if (!t) throw std::logic_error("this model has no tokenizer");
  return *t;
}

std::vector<int32_t> EngineCompletionService::tokenize(const std::string& text, bool add_special) const {
  try {
    return codec().encode_text(text, add_special);
  } catch (const Error& e) {
    throw std::invalid_argument(e.what());
  }
}

std::vector<int32_t> EngineCompletionService::tokenize_chat(const std::vector<net::ChatMessage>& messages) const {
  std::vector<ChatMessage> m;
  m.reserve(messages.size());
  for (const auto& x : messages) m.push_back({x.role, x.content});
  try {
    return codec().encode_chat(m);
  } catch (const Error& e) {
    throw std::invalid_argument(e.what());
  }
}

std::string EngineCompletionService::detokenize(const std::vector<int32_t>& ids) const {
  const int vocab = engine_.runner().vocab_size();
  for (int32_t id : ids)
    if (id < 0 || id >= vocab)
      throw std::invalid_argument(fmt::format("tokens: token id {} is out of range [0, {})", id, vocab));
  try {
    return codec().decode_with_special(ids);
  } catch (const Error& e) {
    throw std::invalid_argument(e.what());
  }
}

int EngineCompletionService::max_model_len() const {
  const int ctx = engine_.runner().max_context();
  return opts_.max_model_len > 0 ? std::min(opts_.max_model_len, ctx) : ctx;
}

std::string EngineCompletionService::token_text(int32_t id) {
  {
    std::lock_guard lk(token_mu_);
    if (auto it = token_text_.find(id); it != token_text_.end()) return it->second;
  }
  std::string t = codec().token_text(id);
  std::lock_guard lk(token_mu_);
  return token_text_.emplace(id, std::move(t)).first->second;
}

void EngineCompletionService::record_ttft(double seconds) {
  std::lock_guard lk(mu_);
  const size_t i = static_cast<size_t>(
      std::lower_bound(ttft_.upper_bounds.begin(), ttft_.upper_bounds.end(), seconds) - ttft_.upper_bounds.begin());
  ++ttft_.bucket_counts[i];
  ttft_.sum += seconds;
  ++ttft_.count;
}

net::EngineStats EngineCompletionService::stats() const {
  const EngineStats s = engine_.stats();
  net::EngineStats o;
  o.queue_depth = s.waiting;
  o.running = s.running;
  o.kv_blocks_used = s.kv_blocks_in_use;
  o.kv_blocks_total = s.kv_blocks_total;
  o.prompt_tokens_total = static_cast<uint64_t>(s.prompt_tokens_computed);
  o.generated_tokens_total = static_cast<uint64_t>(s.generated_tokens);
  o.preemptions_total = static_cast<uint64_t>(s.preemptions);
  o.step_seconds.upper_bounds.assign(s.kStepTimeBounds.begin(), s.kStepTimeBounds.end());
  o.step_seconds.bucket_counts.assign(s.step_time_buckets.begin(), s.step_time_buckets.end());
  o.step_seconds.sum = s.step_time_sum_s;
  for (int64_t c : s.step_time_buckets) o.step_seconds.count += uint64_t(c);
  std::lock_guard lk(mu_);
  o.time_to_first_token_seconds = ttft_;
  return o;
}

}  // namespace ember::cli
