#include "net/http/request_parser.h"

#include <algorithm>
#include <cctype>
#include <climits>

#include <http_parser.h>

namespace ember::net::http {

struct RequestParser::Impl {
  ParseLimits limits;
  http_parser parser{};
  http_parser_settings settings{};
  HttpRequest req;
  std::string field;            // header name being read (may arrive in pieces)
  bool in_value = false;
  size_t header_bytes = 0;
  bool started = false;
  bool headers_done = false;
  bool complete = false;
  bool expect_continue = false;
  int error_status = 0;
  std::string error_message;

  explicit Impl(ParseLimits l) : limits(l) {
    http_parser_settings_init(&settings);
    settings.on_message_begin = [](http_parser* p) { return self(p)->started = true, 0; };
    settings.on_url = [](http_parser* p, const char* at, size_t n) {
      auto* s = self(p);
      if (!s->count_header(n)) return -1;
      s->req.target.append(at, n);
      return 0;
    };
    settings.on_header_field = [](http_parser* p, const char* at, size_t n) {
      auto* s = self(p);
      if (!s->count_header(n + 4)) return -1;
      if (s->in_value) {
        s->finish_header();
        s->in_value = false;
      }
      s->field.append(at, n);
      return 0;
    };
    settings.on_header_value = [](http_parser* p, const char* at, size_t n) {
      auto* s = self(p);
      if (!s->count_header(n)) return -1;
      if (!s->in_value) {
        if (s->req.headers.size() >= s->limits.max_headers) return s->fail(431, "too many headers");
        s->req.headers.emplace_back(lower(s->field), std::string());
        s->field.clear();
        s->in_value = true;
      }
      s->req.headers.back().second.append(at, n);
      return 0;
    };
    settings.on_headers_complete = [](http_parser* p) { return self(p)->on_headers_complete(); };
    settings.on_body = [](http_parser* p, const char* at, size_t n) {
      auto* s = self(p);
      if (s->req.body.size() + n > s->limits.max_body_bytes)
        return s->fail(413, "request body too large");
      s->req.body.append(at, n);
      return 0;
    };
    settings.on_message_complete = [](http_parser* p) {
      auto* s = self(p);
      s->complete = true;
      s->req.keep_alive = http_should_keep_alive(p) != 0;
      // Stop here: the next pipelined request is parsed only after this one is answered.
      http_parser_pause(p, 1);
      return 0;
    };
    init();
  }

  static Impl* self(http_parser* p) { return static_cast<Impl*>(p->data); }

  static std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  int fail(int status, std::string msg) {
    if (error_status == 0) {
      error_status = status;
      error_message = std::move(msg);
    }
    return -1;
  }

  bool count_header(size_t n) {
    header_bytes += n;
    if (header_bytes > limits.max_header_bytes) {
      fail(431, "request headers too large");
      return false;
    }
    return true;
  }

  void finish_header() {
    auto& v = req.headers.back().second;
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
  }

  int on_headers_complete() {
    if (in_value) finish_header();
    in_value = false;
    headers_done = true;
    req.method = http_method_str(static_cast<http_method>(parser.method));
    req.http_minor = parser.http_major == 1 ? parser.http_minor : 1;
    if (parser.http_major != 1) return fail(505, "only HTTP/1.x is supported");
    auto q = req.target.find('?');
    req.path = req.target.substr(0, q);
    if (q != std::string::npos) req.query = req.target.substr(q + 1);
    // Refuse a declared oversized body before reading any of it.
    if ((parser.flags & F_CONTENTLENGTH) && parser.content_length != ULLONG_MAX &&
        parser.content_length > limits.max_body_bytes)
      return fail(413, "request body too large");
    if (const std::string* e = req.header("expect")) {
      if (lower(*e) == "100-continue") expect_continue = true;
      else return fail(417, "unsupported Expect header");
    }
    return 0;
  }

  void init() {
    http_parser_init(&parser, HTTP_REQUEST);
    parser.data = this;
    req = HttpRequest{};
    field.clear();
    in_value = false;
    header_bytes = 0;
    started = headers_done = complete = expect_continue = false;
    error_status = 0;
    error_message.clear();
  }
};

RequestParser::RequestParser(ParseLimits limits) : impl_(std::make_unique<Impl>(limits)) {}
RequestParser::~RequestParser() = default;

RequestParser::State RequestParser::feed(std::string_view data, size_t& consumed) {
  Impl& s = *impl_;
  consumed = 0;
  if (s.error_status) return State::kError;
  if (s.complete) return State::kComplete;
  if (data.empty()) return State::kNeedMore;
  consumed = http_parser_execute(&s.parser, &s.settings, data.data(), data.size());
  auto err = HTTP_PARSER_ERRNO(&s.parser);
  if (s.complete) return State::kComplete;   // paused at the message end (HPE_PAUSED)
  if (s.error_status) return State::kError;
  if (err != HPE_OK) {
    if (err == HPE_HEADER_OVERFLOW) s.fail(431, "request headers too large");
    else if (err == HPE_INVALID_METHOD) s.fail(501, "unsupported method");
    else if (err == HPE_INVALID_VERSION) s.fail(505, "unsupported HTTP version");
    else s.fail(400, std::string("malformed request: ") + http_errno_description(err));
    return State::kError;
  }
  return State::kNeedMore;
}

bool RequestParser::started() const { return impl_->started; }
bool RequestParser::wants_continue() const { return impl_->headers_done && impl_->expect_continue; }
int RequestParser::error_status() const { return impl_->error_status; }
const std::string& RequestParser::error_message() const { return impl_->error_message; }

HttpRequest RequestParser::take() { return std::move(impl_->req); }
void RequestParser::reset() { impl_->init(); }

}  // namespace ember::net::http
