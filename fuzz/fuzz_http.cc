// libFuzzer target: the HTTP request parser as the server drives it (bytes split at arbitrary
// points, pipelined messages, reset between requests), plus the response encoders on what it
// parsed. Any crash, hang or sanitizer report is a bug: nothing a client sends may take the
// server down.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "net/http/json_text.h"
#include "net/http/request_parser.h"
#include "net/http/response.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ember::net::http;
  if (size < 1) return 0;
  // The first byte picks the read size, as a socket would deliver the stream in pieces.
  size_t step = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  ParseLimits limits;
  limits.max_header_bytes = 2048;
  limits.max_body_bytes = 4096;
  limits.max_headers = 32;
  RequestParser parser(limits);
  std::string pending;
  size_t off = 0;
  int requests = 0;
  while (off < input.size() || !pending.empty()) {
    if (off < input.size()) {
      size_t n = std::min(step, input.size() - off);
      pending.append(input.substr(off, n));
      off += n;
    }
    size_t consumed = 0;
    auto st = parser.feed(pending, consumed);
    if (consumed > pending.size()) __builtin_trap();
    pending.erase(0, consumed);
    if (st == RequestParser::State::kError) {
      int s = parser.error_status();
      if (s < 400 || s > 599) __builtin_trap();
      (void)encode_response(json_error(s, parser.error_message()), false, 1);
      break;
    }
    if (st == RequestParser::State::kComplete) {
      HttpRequest req = parser.take();
      parser.reset();
      if (req.body.size() > limits.max_body_bytes) __builtin_trap();
      HttpResponse r;
      for (const auto& [k, v] : req.headers) r.header(k, v);
      r.body = json_string(req.body);
      (void)encode_response(r, req.keep_alive, req.http_minor);
      (void)encode_chunk(req.path);
      (void)utf8_complete_prefix(req.body);
      if (++requests > 1000) break;
      continue;
    }
    if (off >= input.size()) break;  // need more, and there is none
  }
  return 0;
}
