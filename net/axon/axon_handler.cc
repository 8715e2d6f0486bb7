#include "net/axon/axon_handler.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <stdexcept>

#include <fmt/format.h>

#include "net/http/completion_pump.h"
#include "net/http/json_text.h"
#include "net/metrics/request_timing.h"

namespace ember::net::axon {
namespace {

using Clock = std::chrono::steady_clock;

std::string random_uuid4() {
  std::random_device rd;
  std::mt19937_64 g((static_cast<uint64_t>(rd()) << 32) ^ rd());
  uint64_t a = g(), b = g();
  a = (a & ~0xF000ULL) | 0x4000ULL;                        // version 4
  b = (b & ~(0xC0ULL << 56)) | (0x80ULL << 56);            // variant 10
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xFFFF,
                     a & 0xFFFF, b >> 48, b & 0xFFFFFFFFFFFFULL);
}

std::string time_ns_now() {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  return std::to_string(ns);
}

std::string next_request_id() {
  static std::atomic<uint64_t> n{0};
  return fmt::format("axon-{}", n.fetch_add(1) + 1);
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

AxonHandler::AxonHandler(AxonOptions opts, CompletionService& service,
                         metrics::ServerMetrics* metrics)
    : opts_(std::move(opts)), service_(service), metrics_(metrics) {
  if (opts_.uuid.empty()) opts_.uuid = random_uuid4();
}

void AxonHandler::register_routes(http::Router& router) {
  for (const auto& name : opts_.synapses)
    router.add("POST", "/" + name,
               [this, name](http::HttpRequest& req, http::ResponseWriter& w) { handle(name, req, w); });
  router.set_fallback([this](http::HttpRequest& req, http::ResponseWriter& w) { not_found(req, w); });
}

bool AxonHandler::is_streaming(std::string_view name) const {
  for (const auto& s : opts_.streaming_synapses)
    if (s == name) return true;
  return false;
}

std::string AxonHandler::available_synapses() const {
  // Python's repr of a list of str, as the reference prints it.
  std::string out = "[";
  for (size_t i = 0; i < opts_.synapses.size(); ++i) {
    if (i) out += ", ";
    out += "'" + opts_.synapses[i] + "'";
  }
  return out + "]";
}

AxonSelf AxonHandler::make_self(const SynapseHeaders& h) {
  AxonSelf self;
  self.hotkey = opts_.hotkey;
  self.uuid = opts_.uuid;
  self.version = opts_.version;
  self.nonce = time_ns_now();
  if (opts_.sign) {
    try {
      self.signature = opts_.sign(axon_signing_message(h, self));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ember: axon: signing the response failed: %s\n", e.what());
    }
  }
  return self;
}

void AxonHandler::reply_error(http::ResponseWriter& w, const SynapseHeaders& h,
                              std::string_view name, const http::HttpRequest& req,
                              const AxonSelf& self, int status, std::string_view message,
                              double seconds) {
  http::HttpResponse r = http::json_error(status, message);
  for (auto& kv : response_headers(h, name, req.peer_ip, req.peer_port, self, status, message,
                                   seconds))
    r.headers.push_back(std::move(kv));
  w.send(r);
}

void AxonHandler::not_found(http::HttpRequest& req, http::ResponseWriter& w) {
  // The reference names the first path segment.
  std::string_view path = req.path;
  if (!path.empty() && path[0] == '/') path.remove_prefix(1);
  std::string name(path.substr(0, path.find('/')));
  SynapseHeaders h;
  try {
    h = parse_synapse_headers(req.headers);
  } catch (const std::exception&) {
  }
  AxonSelf self = make_self(h);
  reply_error(w, h, name, req, self, 404,
              fmt::format("Synapse name '{}' not found. Available synapses {}", name,
                          available_synapses()),
              0.0);
}

void AxonHandler::handle(const std::string& name, http::HttpRequest& req,
                         http::ResponseWriter& w) {
  const auto start = Clock::now();

  // 1. Headers into a synapse.
  SynapseHeaders h;
  try {
    h = parse_synapse_headers(req.headers);
  } catch (const std::exception& e) {
    SynapseHeaders empty;
    reply_error(w, empty, name, req, make_self(empty), 400,
                fmt::format("Improperly formatted request. Could not parse headers into synapse "
                            "of type {}: {}.",
                            name, e.what()),
                seconds_since(start));
    return;
  }
  AxonSelf self = make_self(h);
  auto error = [&](int status, std::string_view message) {
    reply_error(w, h, name, req, self, status, message, seconds_since(start));
  };

  // 2-3. Blacklist and verification, before the body is looked at.
  double priority = 0;
  if (opts_.authenticate) {
    AuthResult a;
    try {
      a = opts_.authenticate(AuthContext{name, h, req});
    } catch (const std::exception& e) {
      a = {false, 401, std::string("Not Verified with error: ") + e.what()};
    }
    if (!a.ok) {
      error(a.http_status ? a.http_status : 401, a.message);
      return;
    }
    priority = a.priority;
  }

  // Body: a synapse JSON, then its integrity against the signed hash.
  Synapse syn;
  try {
    syn = decode_synapse(req.body);
  } catch (const SynapseError& e) {
    error(400, e.what());
    return;
  }
  if (opts_.verify_body) {
    AuthResult a = opts_.verify_body(h, syn);
    if (!a.ok) {
      error(a.http_status ? a.http_status : 400, a.message);
      return;
    }
  }

  // The caller's timeout: the header is what the dendrite waits for; the body is a fallback.
  double timeout = h.timeout_seconds().value_or(syn.timeout);
  if (!(timeout > 0) || timeout > 3600) timeout = opts_.default_timeout_s;
  auto to_dur = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  const auto caller_gives_up = start + to_dur(timeout);
  const double margin = std::min(opts_.deadline_margin_s, timeout * 0.25);

  CompletionRequest creq;
  creq.messages = synapse_messages(syn);
  creq.max_tokens = opts_.default_max_tokens;
  creq.deadline = caller_gives_up - to_dur(margin);
  creq.stream = is_streaming(name);
  creq.request_id = next_request_id();
  creq.priority = priority;

  // 4. Admission (the reference's priority step).
  std::shared_ptr<CompletionStream> stream;
  try {
    stream = service_.start(creq);
  } catch (const ServiceBusy& b) {
    error(503, b.message.empty() ? std::string("Service unavailable: queue is full") : b.message);
    return;
  } catch (const std::invalid_argument& e) {
    error(400, e.what());
    return;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ember: axon: %s: %s\n", creq.request_id.c_str(), e.what());
    error(500, fmt::format("Internal Server Error #{}", creq.request_id));
    return;
  }
  if (!stream) {
    error(500, fmt::format("Internal Server Error #{}", creq.request_id));
    return;
  }
  // Past the engine's deadline, wait only until the caller gives up.
  const auto hard = caller_gives_up - to_dur(margin * 0.5);

  if (creq.stream) {
    // 5. Streaming: headers now, then the text as raw UTF-8 chunks.
    http::HeaderList hdrs =
        response_headers(h, name, req.peer_ip, req.peer_port, self, 200, "Success",
                         seconds_since(start));
    hdrs.emplace_back("Content-Type", "text/plain; charset=utf-8");
    if (!w.begin_stream(200, hdrs)) {
      stream->cancel();
      return;
    }
    metrics::RequestTiming timing(metrics_, "axon", start);
    auto res = http::pump_pieces(stream, w, hard, [&](std::string_view t, const CompletionPiece& p) {
      timing.on_piece(p);
      return t.empty() || w.write_chunk(t);
    });
    timing.finish();
    w.end_stream();
    if (res.finish == FinishReason::kError)
      std::fprintf(stderr, "ember: axon: %s: %s\n", creq.request_id.c_str(), res.error.c_str());
    if (metrics_)
      metrics_->observe_completion("axon", res.usage.completion_tokens,
                                   finish_reason_name(res.finish));
    return;
  }

  std::string text;
  metrics::RequestTiming timing(metrics_, "axon", start);
  auto res = http::pump_pieces(stream, w, hard, [&](std::string_view t, const CompletionPiece& p) {
    timing.on_piece(p);
    text.append(t);
    return true;
  });
  timing.finish();
  if (metrics_)
    metrics_->observe_completion("axon", res.usage.completion_tokens,
                                 finish_reason_name(res.finish));
  if (res.client_gone) return;
  if (res.finish == FinishReason::kError) {
    std::fprintf(stderr, "ember: axon: %s: %s\n", creq.request_id.c_str(), res.error.c_str());
    error(500, fmt::format("Internal Server Error #{}", creq.request_id));
    return;
  }
  if (res.overran && text.empty()) {
    error(408, "Request timeout");
    return;
  }
  // 6. The synapse back with its completion: a cut-short answer still scores, a late one not.
  http::HttpResponse r;
  r.status = 200;
  r.headers = response_headers(h, name, req.peer_ip, req.peer_port, self, 200, "Success",
                               seconds_since(start));
  r.header("Content-Type", "application/json");
  r.body = encode_synapse(syn, text);
  w.send(r);
}

}  // namespace ember::net::axon
