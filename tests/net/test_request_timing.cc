// Inter-token and end-to-end latency as the handlers observe them (vLLM's histograms).
#include <gtest/gtest.h>

#include "net/metrics/request_timing.h"

namespace ember::net {
namespace {

CompletionPiece piece_with(int64_t completion_tokens) {
  CompletionPiece p;
  p.usage.completion_tokens = completion_tokens;
  return p;
}

TEST(RequestTiming, TokensAfterTheFirstAreGapsAndEachRequestIsOneEndToEndSample) {
  metrics::ServerMetrics m;
  metrics::RequestTiming t(&m, "axon", std::chrono::steady_clock::now());
  t.on_piece(piece_with(1));  // the first token: TTFT, not a gap
  t.on_piece(piece_with(1));  // no new token: nothing
  t.on_piece(piece_with(3));  // two tokens at once share one gap
  t.on_piece(piece_with(4));
  t.finish();
  const std::string out = m.render();
  EXPECT_NE(out.find("ember_inter_token_latency_seconds_count{api=\"axon\"} 3"), std::string::npos) << out;
  EXPECT_EQ(m.e2e_count("axon"), 1u);
  EXPECT_EQ(m.e2e_count("openai"), 0u);

  metrics::RequestTiming none(nullptr, "axon", std::chrono::steady_clock::now());
  none.on_piece(piece_with(2));  // no metrics: no crash, nothing recorded
  none.finish();
  EXPECT_EQ(m.e2e_count("axon"), 1u);
}

}  // namespace
}  // namespace ember::net
