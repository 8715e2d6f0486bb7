#include "net/http/completion_pump.h"

#include "net/http/json_text.h"

namespace ember::net::http {

PumpResult pump_pieces(const std::shared_ptr<CompletionStream>& stream, ResponseWriter& w,
                       std::chrono::steady_clock::time_point hard_deadline, const PieceSink& sink) {
  using Clock = std::chrono::steady_clock;
  PumpResult r;
  std::weak_ptr<CompletionStream> weak = stream;
  w.on_cancel([weak] {
    if (auto s = weak.lock()) s->cancel();
  });
  std::string pending;  // an incomplete UTF-8 tail waiting for its next bytes
  bool stopped = false;
  auto emit = [&](const CompletionPiece& piece, bool final_flush) {
    size_t n = final_flush ? pending.size() : utf8_complete_prefix(pending);
    if (stopped || (n == 0 && piece.tokens.empty())) return;
    if (!sink(std::string_view(pending).substr(0, n), piece)) {
      stopped = true;
      stream->cancel();
    }
    r.bytes += n;
    pending.erase(0, n);
  };
  bool ended = false;
  for (;;) {
    CompletionPiece piece;
    if (!stream->next(piece, hard_deadline)) {
      if (Clock::now() >= hard_deadline) {
        stream->cancel();
        r.overran = true;
        r.finish = FinishReason::kDeadline;
        break;
      }
      continue;
    }
    pending += piece.text;
    r.usage = piece.usage;
    emit(piece, piece.done);
    if (piece.done) {
      r.finish = piece.finish;
      r.error = piece.error;
      ended = true;
      break;
    }
  }
  if (!ended) {
    CompletionPiece last;
    last.usage = r.usage;
    emit(last, true);
  }
  w.on_cancel(nullptr);
  r.client_gone = w.cancelled();
  return r;
}

PumpResult pump_completion(const std::shared_ptr<CompletionStream>& stream, ResponseWriter& w,
                           std::chrono::steady_clock::time_point hard_deadline,
                           const std::function<bool(std::string_view)>& sink) {
  return pump_pieces(stream, w, hard_deadline, [&](std::string_view text, const CompletionPiece&) {
    return text.empty() || sink(text);
  });
}

}  // namespace ember::net::http
