#pragma once
// Pulls a CompletionStream to its end for a handler: text goes to a sink in whole UTF-8
// characters, the stream is cancelled when the client goes away, and waiting stops at a hard
// deadline even if the service overruns its own.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "net/completion_service.h"
#include "net/http/server.h"

namespace ember::net::http {

struct PumpResult {
  FinishReason finish = FinishReason::kNone;
  CompletionUsage usage;
  std::string error;         // when finish == kError
  bool overran = false;      // the hard deadline passed before the stream ended (cancelled)
  bool client_gone = false;
  size_t bytes = 0;          // text bytes passed to the sink
};

// `sink` returns false to stop early (the stream is then cancelled).
PumpResult pump_completion(const std::shared_ptr<CompletionStream>& stream, ResponseWriter& w,
                           std::chrono::steady_clock::time_point hard_deadline,
                           const std::function<bool(std::string_view)>& sink);

// The same, piece by piece: `sink` gets each piece's text cut to whole UTF-8 characters (an
// incomplete tail waits for the next piece) with the piece itself (its tokens and usage). It is
// called for every piece that carries text or tokens, so with logprobs every generated token
// gets its own call even when its text is empty on its own; the last call may carry the
// finishing piece.
using PieceSink = std::function<bool(std::string_view text, const CompletionPiece& piece)>;
PumpResult pump_pieces(const std::shared_ptr<CompletionStream>& stream, ResponseWriter& w,
                       std::chrono::steady_clock::time_point hard_deadline, const PieceSink& sink);

}  // namespace ember::net::http
