#pragma once
// The mining guide's hosted-model option: a candidate reply from a remote OpenAI-compatible
// endpoint (POST {base}/chat/completions, not streamed). One call per candidate, bounded by the
// request's deadline; it reports failure instead of throwing, because an upstream that is down,
// slow or erroring must never fail a request a local candidate can answer.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "net/completion_service.h"

namespace ember::net::unique {

struct UpstreamConfig {
  std::string url;      // base URL, e.g. http://127.0.0.1:8000/v1 (plain HTTP)
  std::string model;    // the request's `model`; "" leaves it out
  std::string api_key;  // sent as Authorization: Bearer KEY when not empty
  std::chrono::milliseconds timeout{10000};  // per call, also bounded by the deadline
};

struct UpstreamReply {
  bool ok = false;
  int http_status = 0;   // 0: no HTTP answer (connection refused, timeout)
  std::string text;
  FinishReason finish = FinishReason::kNone;
  int64_t completion_tokens = 0;
  std::string error;     // why, when !ok
};

struct UpstreamCall {
  std::vector<ChatMessage> messages;
  int max_tokens = 0;
  std::optional<float> temperature, top_p;
  std::optional<uint64_t> seed;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

class UpstreamClient {
 public:
  // Throws ember::Error for a URL that is not http://HOST[:PORT][/PATH].
  explicit UpstreamClient(UpstreamConfig config);

  // Blocks until the reply, an error, or min(deadline, now + timeout). Never throws.
  UpstreamReply complete(const UpstreamCall& call) const;

  const UpstreamConfig& config() const { return config_; }
  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }
  const std::string& path() const { return path_; }  // "/v1/chat/completions"

 private:
  UpstreamConfig config_;
  std::string host_;
  uint16_t port_ = 80;
  std::string path_;
};

// The body of one chat completion request (exposed for tests).
std::string upstream_request_body(const UpstreamConfig& config, const UpstreamCall& call);

// An OpenAI chat.completion response body into a reply (ok=false with the reason when it is not one).
UpstreamReply parse_upstream_reply(int http_status, std::string_view body);

}  // namespace ember::net::unique
