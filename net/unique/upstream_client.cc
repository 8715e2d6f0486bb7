#include "net/unique/upstream_client.h"

#include <algorithm>
#include <charconv>
#include <memory>

#include <asio.hpp>
#include <fmt/format.h>
#include <http_parser.h>
#include <simdjson.h>

#include "engine/core/error.h"
#include "net/http/json_text.h"

namespace ember::net::unique {
namespace {

using Clock = std::chrono::steady_clock;
using asio::ip::tcp;

constexpr size_t kMaxResponse = 8 << 20;

// http_parser in response mode: status, body (chunked or not), and when the message ended.
struct ResponseParser {
  http_parser parser{};
  http_parser_settings settings{};
  std::string body;
  bool complete = false;

  ResponseParser() {
    http_parser_init(&parser, HTTP_RESPONSE);
    parser.data = this;
    http_parser_settings_init(&settings);
    settings.on_body = [](http_parser* p, const char* at, size_t n) {
      auto* self = static_cast<ResponseParser*>(p->data);
      if (self->body.size() + n > kMaxResponse) return 1;
      self->body.append(at, n);
      return 0;
    };
    settings.on_message_complete = [](http_parser* p) {
      static_cast<ResponseParser*>(p->data)->complete = true;
      return 0;
    };
  }
  // Returns false on a malformed response.
  bool feed(const char* data, size_t n) {
    const size_t used = http_parser_execute(&parser, &settings, data, n);
    return used == n && HTTP_PARSER_ERRNO(&parser) == HPE_OK;
  }
};

struct Outcome {
  bool done = false;
  int status = 0;
  std::string body;
  std::string error;
};

asio::awaitable<void> exchange(tcp::socket& sock, std::string host, std::string port, std::string request,
                               Outcome& out) {
  try {
    auto ex = co_await asio::this_coro::executor;
    tcp::resolver resolver(ex);
    auto endpoints = co_await resolver.async_resolve(host, port, asio::use_awaitable);
    co_await asio::async_connect(sock, endpoints, asio::use_awaitable);
    co_await asio::async_write(sock, asio::buffer(request), asio::use_awaitable);
    ResponseParser rp;
    char buf[16384];
    for (;;) {
      asio::error_code ec;
      const size_t n = co_await sock.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      if (n > 0 && !rp.feed(buf, n)) {
        out.error = "malformed HTTP response";
        break;
      }
      if (rp.complete) {
        out.status = int(rp.parser.status_code);
        out.body = std::move(rp.body);
        break;
      }
      if (ec == asio::error::eof) {
        rp.feed(nullptr, 0);  // a body delimited by the connection's end
        if (rp.complete) {
          out.status = int(rp.parser.status_code);
          out.body = std::move(rp.body);
        } else {
          out.error = "connection closed before the response ended";
        }
        break;
      }
      if (ec) {
        out.error = ec.message();
        break;
      }
    }
  } catch (const std::system_error& e) {
    out.error = e.code().message();
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  out.done = true;
}

}  // namespace

UpstreamClient::UpstreamClient(UpstreamConfig config) : config_(std::move(config)) {
  std::string_view u = config_.url;
  if (u.rfind("http://", 0) != 0)
    fail("--upstream {}: expected http://HOST[:PORT][/PATH] (https is not supported; use a local proxy)", config_.url);
  u.remove_prefix(7);
  const size_t slash = u.find('/');
  std::string_view hostport = u.substr(0, slash);
  std::string base = slash == std::string_view::npos ? "" : std::string(u.substr(slash));
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (hostport.empty()) fail("--upstream {}: no host", config_.url);
  const size_t colon = hostport.rfind(':');
  if (colon != std::string_view::npos && hostport.find(']') == std::string_view::npos) {
    host_ = std::string(hostport.substr(0, colon));
    const std::string_view p = hostport.substr(colon + 1);
    unsigned v = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc() || ptr != p.data() + p.size() || v == 0 || v > 65535)
      fail("--upstream {}: bad port '{}'", config_.url, p);
    port_ = uint16_t(v);
  } else {
    host_ = std::string(hostport);
  }
  if (host_.empty()) fail("--upstream {}: no host", config_.url);
  path_ = base + "/chat/completions";
}

std::string upstream_request_body(const UpstreamConfig& config, const UpstreamCall& call) {
  std::string b = "{";
  if (!config.model.empty()) b += "\"model\":" + http::json_string(config.model) + ",";
  b += "\"messages\":[";
  for (size_t i = 0; i < call.messages.size(); ++i) {
    if (i) b += ",";
    b += "{\"role\":" + http::json_string(call.messages[i].role) +
         ",\"content\":" + http::json_string(call.messages[i].content) + "}";
  }
  b += "]";
  if (call.max_tokens > 0) b += fmt::format(",\"max_tokens\":{}", call.max_tokens);
  if (call.temperature) b += ",\"temperature\":" + http::json_number(*call.temperature);
  if (call.top_p) b += ",\"top_p\":" + http::json_number(*call.top_p);
  // Within JSON's exact integers: some servers read numbers as doubles.
  if (call.seed) b += fmt::format(",\"seed\":{}", *call.seed & ((uint64_t(1) << 53) - 1));
  b += ",\"stream\":false}";
  return b;
}

UpstreamReply parse_upstream_reply(int http_status, std::string_view body) {
  UpstreamReply r;
  r.http_status = http_status;
  auto snippet = [&] { return std::string(body.substr(0, 200)); };
  if (http_status != 200) {
    r.error = fmt::format("HTTP {}: {}", http_status, snippet());
    return r;
  }
  simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  simdjson::dom::element root;
  if (parser.parse(padded).get(root)) {
    r.error = "not JSON: " + snippet();
    return r;
  }
  simdjson::dom::element choice;
  if (root["choices"].at(0).get(choice)) {
    r.error = "no choices[0] in: " + snippet();
    return r;
  }
  std::string_view content;
  if (choice["message"]["content"].get_string().get(content)) {
    r.error = "no choices[0].message.content in: " + snippet();
    return r;
  }
  r.text = std::string(content);
  std::string_view reason;
  r.finish = FinishReason::kStop;
  if (!choice["finish_reason"].get_string().get(reason) && reason != "stop") r.finish = FinishReason::kLength;
  int64_t tokens = 0;
  if (!root["usage"]["completion_tokens"].get_int64().get(tokens)) r.completion_tokens = tokens;
  r.ok = true;
  return r;
}

UpstreamReply UpstreamClient::complete(const UpstreamCall& call) const {
  const auto now = Clock::now();
  const auto until = std::min(call.deadline, now + config_.timeout);
  if (until <= now) return {false, 0, "", FinishReason::kNone, 0, "no time left before the deadline"};
  const std::string body = upstream_request_body(config_, call);
  std::string req = fmt::format(
      "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nAccept: application/json\r\n"
      "Content-Length: {}\r\nConnection: close\r\n",
      path_, host_, port_, body.size());
  if (!config_.api_key.empty()) req += "Authorization: Bearer " + config_.api_key + "\r\n";
  req += "\r\n" + body;

  Outcome out;  // outlives the io_context, whose destructor may destroy an unfinished coroutine
  asio::io_context io;
  tcp::socket sock(io);
  asio::co_spawn(io, exchange(sock, host_, std::to_string(port_), std::move(req), out), asio::detached);
  io.run_until(until);
  if (!out.done) {
    // Out of time: close the socket so the coroutine ends, then let it unwind.
    asio::error_code ignore;
    sock.close(ignore);
    io.restart();
    io.run_for(std::chrono::milliseconds(100));
    return {false, 0, "", FinishReason::kNone, 0,
            fmt::format("timed out after {} ms", std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count())};
  }
  if (!out.error.empty()) return {false, out.status, "", FinishReason::kNone, 0, out.error};
  return parse_upstream_reply(out.status, out.body);
}

}  // namespace ember::net::unique
