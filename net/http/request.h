#pragma once
// One parsed HTTP/1.1 request, as the handlers see it.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ember::net::http {

// Header names are lowercased on parse (HTTP names are case-insensitive); values are as sent,
// without surrounding whitespace. Order and repeats are kept.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;   // "GET", "POST", ...
  std::string target;   // as sent: "/v1/models?x=1"
  std::string path;     // target up to '?'
  std::string query;    // after '?', undecoded
  HeaderList headers;
  std::string body;
  int http_minor = 1;   // HTTP/1.<minor>
  bool keep_alive = true;
  std::string peer_ip;
  uint16_t peer_port = 0;
  // Set by the router for metrics: the matched route ("/Prompting"), or "" when none matched.
  std::string route;

  // The first value of a header (name in lowercase), or nullptr.
  const std::string* header(std::string_view lower_name) const {
    for (const auto& [k, v] : headers)
      if (k == lower_name) return &v;
    return nullptr;
  }
};

}  // namespace ember::net::http
