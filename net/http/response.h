#pragma once
// An HTTP response and its wire encoding (head, whole body, chunks).
#include <string>
#include <string_view>

#include "net/http/request.h"

namespace ember::net::http {

struct HttpResponse {
  int status = 200;
  HeaderList headers;   // without Content-Length / Connection / Transfer-Encoding: added on write
  std::string body;

  HttpResponse& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

// "Not Found" for 404; "Unknown" for codes we never send.
std::string_view reason_phrase(int status);

// Status line and headers, ending with the blank line. `content_length` < 0 means chunked
// (HTTP/1.1) or close-delimited (HTTP/1.0) body.
std::string encode_head(int status, const HeaderList& headers, long long content_length,
                        bool keep_alive, int http_minor);

std::string encode_response(const HttpResponse& r, bool keep_alive, int http_minor);

// One chunk of a chunked body ("<hex>\r\n<data>\r\n"); empty data is NOT the terminator.
std::string encode_chunk(std::string_view data);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// A JSON error body {"message": "..."} with the given status.
HttpResponse json_error(int status, std::string_view message);

}  // namespace ember::net::http
