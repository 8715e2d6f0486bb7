#pragma once
// The seam between the OpenAI-compatible routes and whoever decides who may call them
// (net/openai/v1_access.h): a verdict per request, before its body is decoded.
#include <functional>
#include <string>

#include "net/http/request.h"

namespace ember::net::openai {

struct AccessVerdict {
  bool ok = true;
  int status = 200;       // on refusal: the HTTP status to answer with
  std::string message;    // on refusal: the error message the client sees
  std::string protocol;   // on refusal: metrics label, "epistula" or "api_key"
  std::string reason;     // on refusal: metrics label, e.g. "stale"
};

using Authorizer = std::function<AccessVerdict(const http::HttpRequest&)>;

}  // namespace ember::net::openai
