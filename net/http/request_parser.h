#pragma once
// Incremental HTTP/1.1 request parsing on top of http-parser, with the server's size limits.
// Feed bytes as they arrive; the parser stops at the end of each message so that pipelined
// requests are handled one at a time.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "net/http/request.h"

namespace ember::net::http {

struct ParseLimits {
  size_t max_header_bytes = 16 * 1024;   // request line + headers
  size_t max_body_bytes = 1024 * 1024;
  size_t max_headers = 100;
};

class RequestParser {
 public:
  enum class State { kNeedMore, kComplete, kError };

  explicit RequestParser(ParseLimits limits = {});
  ~RequestParser();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Consumes a prefix of `data` (sets `consumed`) and reports where the current message stands.
  // After kComplete, take() the request, then reset() before feeding the rest. After kError the
  // connection must be answered with error_status() and closed.
  State feed(std::string_view data, size_t& consumed);

  // Any byte of the current message seen (a connection in the middle of a request).
  bool started() const;
  // Headers are complete and the client asked for "Expect: 100-continue".
  bool wants_continue() const;
  int error_status() const;          // 400, 413, 431, 501, 505
  const std::string& error_message() const;

  HttpRequest take();
  void reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ember::net::http
