#include "engine/serve/request.h"

#include "engine/core/error.h"
#include "engine/serve/request_stream.h"

namespace ember {

std::string_view finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Deadline: return "deadline";
    case FinishReason::Cancelled: return "cancelled";
    case FinishReason::Error: return "error";
  }
  return "error";
}

uint64_t RequestHandle::id() const { return s_ ? s_->id() : 0; }

void RequestHandle::accumulate(const StreamEvent& e) {
  if (size_t(e.index) >= partial_.completions.size())
    partial_.completions.resize(size_t(e.index) + 1);
  Completion& c = partial_.completions[size_t(e.index)];
  c.tokens.insert(c.tokens.end(), e.tokens.begin(), e.tokens.end());
  c.logprobs.insert(c.logprobs.end(), e.logprobs.begin(), e.logprobs.end());
  c.text += e.text;
  if (e.finish) {
    c.reason = *e.finish;
    c.error = e.error;
  }
}

std::optional<StreamEvent> RequestHandle::next() {
  if (!s_) return std::nullopt;
  auto e = s_->pop(std::nullopt);
  if (e) accumulate(*e);
  return e;
}

std::optional<StreamEvent> RequestHandle::next_for(std::chrono::milliseconds timeout) {
  if (!s_) return std::nullopt;
  auto e = s_->pop(timeout);
  if (e) accumulate(*e);
  return e;
}

bool RequestHandle::done() const { return !s_ || s_->drained(); }

RequestResult RequestHandle::wait() {
  while (next()) {
  }
  RequestResult r = partial_;
  if (s_) {
    r.prompt_tokens = s_->prompt_tokens.load();
    r.cached_prompt_tokens = std::max(0, s_->cached_prompt_tokens.load());
  }
  return r;
}

void RequestHandle::cancel() {
  if (s_) s_->request_cancel();
}

int RequestHandle::prompt_tokens() const { return s_ ? s_->prompt_tokens.load() : 0; }

}  // namespace ember
