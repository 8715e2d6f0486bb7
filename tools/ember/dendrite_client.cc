#include "tools/ember/dendrite_client.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>

#include <asio.hpp>
#include <fmt/format.h>
#include <simdjson.h>

#include "engine/core/error.h"
#include "net/auth/body_hash.h"
#include "net/auth/python_str.h"
#include "net/auth/signing_messages.h"
#include "net/crypto/ss58.h"
#include "net/http/json_text.h"

namespace ember::cli {
namespace {

using asio::ip::tcp;
namespace auth = net::auth;
using net::http::json_string;

int64_t time_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string json_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += json_string(items[i]);
  }
  return out + "]";
}

// Python's str() of a list of str, what the SDK hashes for `messages`.
std::string python_list_str(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += auth::python_repr(items[i]);
  }
  return out + "]";
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// A completion is a few KiB; anything near this is a broken or hostile server.
constexpr size_t kMaxBody = 64u << 20;

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
};

// Parses the status line and headers of `head` (without the final blank line).
HttpReply parse_head(std::string_view head) {
  HttpReply r;
  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  // "HTTP/1.1 200 OK"
  size_t sp = status_line.find(' ');
  if (sp == std::string_view::npos || status_line.substr(0, 5) != "HTTP/") fail("bad HTTP status line");
  r.status = std::atoi(std::string(status_line.substr(sp + 1, 3)).c_str());
  if (r.status < 100 || r.status > 599) fail("bad HTTP status line");
  while (eol != std::string_view::npos) {
    size_t start = eol + 2;
    eol = head.find("\r\n", start);
    std::string_view line = head.substr(start, eol == std::string_view::npos ? std::string_view::npos : eol - start);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view v = line.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    r.headers[lower(std::string(line.substr(0, colon)))] = std::string(v);
  }
  return r;
}

std::string header_or(const HttpReply& r, const std::string& name, std::string dflt = "") {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? dflt : it->second;
}

SynapseResult interpret(const HttpReply& r, bool streaming) {
  SynapseResult out;
  out.status = r.status;
  thread_local simdjson::dom::parser parser;
  if (r.status == 200) {
    out.message = header_or(r, "bt_header_axon_status_message", "Success");
    if (streaming) {
      out.completion = r.body;
      return out;
    }
    simdjson::dom::element root;
    std::string_view completion;
    if (parser.parse(r.body).get(root) != simdjson::SUCCESS || root["completion"].get(completion) != simdjson::SUCCESS) {
      out.status = 0;
      out.message = "200 answer without a JSON completion";
      return out;
    }
    out.completion = std::string(completion);
    return out;
  }
  // Errors: {"message": "..."}, else the axon's status header.
  simdjson::dom::element root;
  std::string_view msg;
  if (parser.parse(r.body).get(root) == simdjson::SUCCESS && root["message"].get(msg) == simdjson::SUCCESS)
    out.message = std::string(msg);
  else
    out.message = header_or(r, "bt_header_axon_status_message", r.body.substr(0, 200));
  return out;
}

struct Shared {
  const net::crypto::Keypair& key;
  const LoadOptions& opts;
  tcp::endpoint endpoint;
  int next = 0;
  LoadReport report;
};

// Reads one response off a kept-alive connection; `buf` keeps bytes read past it.
asio::awaitable<HttpReply> read_reply(tcp::socket& sock, std::string& buf, bool& must_close) {
  size_t head_end = co_await asio::async_read_until(sock, asio::dynamic_buffer(buf, kMaxBody), "\r\n\r\n", asio::use_awaitable);
  HttpReply r = parse_head(std::string_view(buf).substr(0, head_end - 4));
  buf.erase(0, head_end);
  must_close = lower(header_or(r, "connection")) == "close";
  const std::string te = lower(header_or(r, "transfer-encoding"));
  const std::string cl = header_or(r, "content-length");
  if (te.find("chunked") != std::string::npos) {
    for (;;) {
      size_t line_end = co_await asio::async_read_until(sock, asio::dynamic_buffer(buf, kMaxBody), "\r\n", asio::use_awaitable);
      const size_t size = std::stoul(buf.substr(0, line_end - 2), nullptr, 16);
      if (size > kMaxBody || r.body.size() + size > kMaxBody) fail("response body over {} bytes", kMaxBody);
      buf.erase(0, line_end);
      if (size == 0) {
        // Trailers (none expected) end with a blank line.
        for (;;) {
          size_t e = co_await asio::async_read_until(sock, asio::dynamic_buffer(buf, kMaxBody), "\r\n", asio::use_awaitable);
          const bool blank = e == 2;
          buf.erase(0, e);
          if (blank) break;
        }
        break;
      }
      if (buf.size() < size + 2)
        co_await asio::async_read(sock, asio::dynamic_buffer(buf, kMaxBody), asio::transfer_exactly(size + 2 - buf.size()),
                                  asio::use_awaitable);
      r.body.append(buf, 0, size);
      buf.erase(0, size + 2);
    }
  } else if (!cl.empty()) {
    const size_t n = std::stoul(cl);
    if (n > kMaxBody) fail("response body over {} bytes", kMaxBody);
    if (buf.size() < n)
      co_await asio::async_read(sock, asio::dynamic_buffer(buf, kMaxBody), asio::transfer_exactly(n - buf.size()),
                                asio::use_awaitable);
    r.body = buf.substr(0, n);
    buf.erase(0, n);
  } else {
    // No length: the body runs to the end of the connection.
    asio::error_code ec;
    co_await asio::async_read(sock, asio::dynamic_buffer(buf, kMaxBody), asio::redirect_error(asio::use_awaitable, ec));
    r.body = std::move(buf);
    buf.clear();
    must_close = true;
  }
  co_return r;
}

std::string serialize(const Shared& sh, const SignedRequest& req) {
  std::string out = fmt::format("POST /{} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\n"
                                "Accept: */*\r\nContent-Length: {}\r\n",
                                sh.opts.call.synapse, sh.opts.target.host, sh.opts.target.port, req.body.size());
  for (const auto& [k, v] : req.headers) out += fmt::format("{}: {}\r\n", k, v);
  out += "\r\n";
  out += req.body;
  return out;
}

void record(Shared& sh, const SynapseResult& res) {
  LoadReport& rep = sh.report;
  if (rep.completed == 0) rep.first = res;
  ++rep.completed;
  ++rep.status_counts[res.status];
  if (res.status == 200) {
    rep.latencies_s.push_back(res.seconds);
  } else {
    ++rep.errors;
    ++rep.error_samples[fmt::format("{} {}", res.status, res.message.substr(0, 160))];
  }
  if (sh.opts.on_result) sh.opts.on_result(rep.completed, res);
}

// One connection slot: requests one after another on a kept-alive socket, reconnecting when the
// server closes it. Its own uuid keeps nonces strictly increasing per axon endpoint key.
asio::awaitable<void> slot(Shared& sh) {
  auto ex = co_await asio::this_coro::executor;
  // Shared with the timer's handler, which may run after this frame is gone.
  struct State {
    explicit State(asio::any_io_executor e) : sock(e) {}
    tcp::socket sock;
    bool timed_out = false;
    uint64_t generation = 0;  // a handler that fires late must not close the next request
  };
  auto st = std::make_shared<State>(ex);
  tcp::socket& sock = st->sock;
  asio::steady_timer timer(ex);
  const std::string uuid = random_uuid4();
  const bool streaming = sh.opts.call.synapse == "StreamPromptingSynapse";
  int64_t last_nonce = 0;
  std::string buf;
  while (sh.next < sh.opts.requests) {
    ++sh.next;
    const auto t0 = std::chrono::steady_clock::now();
    SynapseResult res;
    st->timed_out = false;
    const uint64_t gen = ++st->generation;
    // The dendrite's own deadline, as aiohttp's ClientTimeout: connect, send and read all count.
    timer.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(sh.opts.call.timeout_s)));
    timer.async_wait([st, gen](const asio::error_code& ec) {
      if (ec || gen != st->generation) return;
      st->timed_out = true;
      asio::error_code ignore;
      st->sock.close(ignore);
    });
    try {
      if (!sock.is_open()) {
        buf.clear();
        co_await sock.async_connect(sh.endpoint, asio::use_awaitable);
        sock.set_option(tcp::no_delay(true));
        ++sh.report.connections_opened;
      }
      const int64_t nonce = std::max(time_ns(), last_nonce + 1);
      last_nonce = nonce;
      const std::string ip = sock.local_endpoint().address().to_string();
      const SignedRequest req = build_synapse_request(sh.key, sh.opts.target, sh.opts.call, nonce, uuid, ip);
      co_await asio::async_write(sock, asio::buffer(serialize(sh, req)), asio::use_awaitable);
      bool must_close = false;
      HttpReply reply = co_await read_reply(sock, buf, must_close);
      res = interpret(reply, streaming);
      if (must_close) sock.close();
    } catch (const std::exception& e) {
      asio::error_code ignore;
      sock.close(ignore);
      res.status = st->timed_out ? 408 : 0;
      res.message = st->timed_out ? fmt::format("Timedout after {} seconds", sh.opts.call.timeout_s) : e.what();
    }
    ++st->generation;
    timer.cancel();
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    record(sh, res);
  }
  asio::error_code ignore;
  sock.close(ignore);
}

}  // namespace

std::string random_uuid4() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t hi = rng(), lo = rng();
  hi = (hi & ~0xF000ull) | 0x4000ull;                        // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;  // RFC 4122 variant
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xFFFF, hi & 0xFFFF, lo >> 48,
                     lo & 0xFFFFFFFFFFFFull);
}

SignedRequest build_synapse_request(const net::crypto::Keypair& dendrite, const AxonTarget& axon,
                                    const SynapseCall& call, int64_t nonce, const std::string& uuid,
                                    const std::string& dendrite_ip) {
  const std::string body_hash = auth::body_hash_of_strs(std::vector<std::string>{python_list_str(call.messages)});
  auth::DendriteRequest dr;
  dr.synapse_name = call.synapse;
  dr.timeout_s = call.timeout_s;
  dr.nonce = nonce;
  dr.uuid = uuid;
  dr.axon_hotkey = axon.hotkey;
  dr.body_hash = body_hash;
  auth::HeaderMap signed_headers = auth::sign_request_headers(dendrite, dr);
  const std::string hotkey = net::crypto::ss58_encode(dendrite.public_key);
  const std::string timeout = auth::python_float_repr(call.timeout_s);

  SignedRequest out;
  // The SDK's model_dump() order; sizes are informational and the SDK's own values vary.
  out.body = fmt::format(
      "{{\"name\": {}, \"timeout\": {}, \"total_size\": 0, \"header_size\": 0, "
      "\"dendrite\": {{\"status_code\": null, \"status_message\": null, \"process_time\": null, \"ip\": {}, "
      "\"port\": null, \"version\": {}, \"nonce\": {}, \"uuid\": {}, \"hotkey\": {}, \"signature\": {}}}, "
      "\"axon\": {{\"status_code\": null, \"status_message\": null, \"process_time\": null, \"ip\": {}, "
      "\"port\": {}, \"version\": null, \"nonce\": null, \"uuid\": null, \"hotkey\": {}, \"signature\": null}}, "
      "\"computed_body_hash\": \"\", \"required_hash_fields\": [\"messages\"], "
      "\"roles\": {}, \"messages\": {}, \"completion\": \"\"}}",
      json_string(call.synapse), timeout, json_string(dendrite_ip), dr.version, nonce, json_string(uuid),
      json_string(hotkey), json_string(signed_headers["bt_header_dendrite_signature"]), json_string(axon.host),
      axon.port, json_string(axon.hotkey), json_list(call.roles), json_list(call.messages));

  auto& h = out.headers;
  h.emplace_back("name", call.synapse);
  h.emplace_back("timeout", timeout);
  h.emplace_back("total_size", "0");
  h.emplace_back("header_size", "0");
  h.emplace_back("bt_header_axon_ip", axon.host);
  h.emplace_back("bt_header_axon_port", std::to_string(axon.port));
  h.emplace_back("bt_header_axon_hotkey", axon.hotkey);
  h.emplace_back("bt_header_dendrite_ip", dendrite_ip);
  for (const char* k : {"bt_header_dendrite_version", "bt_header_dendrite_nonce", "bt_header_dendrite_uuid",
                        "bt_header_dendrite_hotkey", "bt_header_dendrite_signature"})
    h.emplace_back(k, signed_headers[k]);
  // base64 of "[]": the SDK's parser hint for required list fields.
  h.emplace_back("bt_header_input_obj_roles", "W10=");
  h.emplace_back("bt_header_input_obj_messages", "W10=");
  h.emplace_back("computed_body_hash", body_hash);
  return out;
}

LoadReport run_dendrite(const net::crypto::Keypair& dendrite, const LoadOptions& opts) {
  if (opts.concurrency < 1) fail("--concurrency must be at least 1, got {}", opts.concurrency);
  if (opts.requests < 1) fail("--requests must be at least 1, got {}", opts.requests);
  if (opts.call.messages.empty()) fail("the synapse needs at least one message");
  asio::io_context io;
  tcp::resolver resolver(io);
  asio::error_code ec;
  auto results = resolver.resolve(opts.target.host, std::to_string(opts.target.port), ec);
  if (ec || results.empty()) fail("--axon {}:{}: cannot resolve: {}", opts.target.host, opts.target.port, ec.message());
  Shared sh{dendrite, opts, results.begin()->endpoint(), 0, {}};
  const int slots = std::min(opts.concurrency, opts.requests);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < slots; ++i)
    asio::co_spawn(io, slot(sh), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  io.run();
  sh.report.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return std::move(sh.report);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t idx = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())));
  return v[idx];
}

}  // namespace ember::cli
