#include "net/http/response.h"

#include <fmt/format.h>

#include "net/http/json_text.h"

namespace ember::net::http {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

std::string encode_head(int status, const HeaderList& headers, long long content_length,
                        bool keep_alive, int http_minor) {
  std::string out;
  out.reserve(256 + headers.size() * 48);
  fmt::format_to(std::back_inserter(out), "HTTP/1.1 {} {}\r\n", status, reason_phrase(status));
  for (const auto& [k, v] : headers) {
    // A header value must not break the framing, whatever a handler put in it.
    out += k;
    out += ": ";
    for (char c : v) out += (c == '\r' || c == '\n') ? ' ' : c;
    out += "\r\n";
  }
  if (content_length >= 0) {
    fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n", content_length);
  } else if (http_minor >= 1) {
    out += "Transfer-Encoding: chunked\r\n";
  }
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  out += "Server: ember\r\n\r\n";
  return out;
}

std::string encode_response(const HttpResponse& r, bool keep_alive, int http_minor) {
  std::string out = encode_head(r.status, r.headers, static_cast<long long>(r.body.size()),
                                keep_alive, http_minor);
  out += r.body;
  return out;
}

std::string encode_chunk(std::string_view data) {
  std::string out = fmt::format("{:x}\r\n", data.size());
  out.append(data);
  out += "\r\n";
  return out;
}

HttpResponse json_error(int status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.header("Content-Type", "application/json");
  r.body = "{\"message\":";
  append_json_string(r.body, message);
  r.body += "}";
  return r;
}

}  // namespace ember::net::http
