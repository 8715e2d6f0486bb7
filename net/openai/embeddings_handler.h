#pragma once
// OpenAI's POST /v1/embeddings over an EmbeddingService: `input` a string or a list of strings,
// `encoding_format` float (default) or base64 (little-endian float32 bytes), `dimensions` only
// when it equals the model's, usage in tokens. Texts longer than the encoder's limit are
// truncated (as sentence-transformers does) rather than refused. Access is the /v1 routes'.
#include <string>
#include <string_view>
#include <vector>

#include "net/embedding_service.h"
#include "net/http/router.h"
#include "net/metrics/server_metrics.h"
#include "net/openai/openai_handler.h"

namespace ember::net::openai {

struct EmbeddingsRequest {
  std::vector<std::string> input;
  std::string model;
  bool base64 = false;
  int dimensions = 0;  // 0: not given
};

// Throws RequestError naming the field at fault. At most kMaxEmbeddingInputs inputs.
inline constexpr size_t kMaxEmbeddingInputs = 2048;
EmbeddingsRequest decode_embeddings_request(std::string_view body);
std::string embeddings_body(const EmbeddingResult& r, const std::string& model, bool base64);

class EmbeddingsHandler {
 public:
  // `opts` supplies the access rule (authorize / api_key) and accept_any_model.
  EmbeddingsHandler(OpenAIOptions opts, EmbeddingService& service,
                    metrics::ServerMetrics* metrics);
  void register_routes(http::Router& router);
  void embeddings(http::HttpRequest& req, http::ResponseWriter& w);

 private:
  bool authorized(const http::HttpRequest& req, http::ResponseWriter& w);
  OpenAIOptions opts_;
  EmbeddingService& service_;
  metrics::ServerMetrics* metrics_;
};

}  // namespace ember::net::openai
