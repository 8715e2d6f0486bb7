#pragma once
// The Bittensor axon: POST /<SynapseName> for the text-prompting synapses, with the reference
// axon's checks, status codes and response headers (docs: axon protocol). Authentication is
// injected (net/auth implements it), so this file knows the protocol, not the cryptography.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "net/axon/synapse.h"
#include "net/axon/synapse_headers.h"
#include "net/completion_service.h"
#include "net/http/router.h"
#include "net/metrics/server_metrics.h"

namespace ember::net::axon {

struct AuthResult {
  bool ok = true;
  int http_status = 200;     // 401, 403, 400 when !ok
  std::string message;       // the client-facing message
  double priority = 0;       // the caller's stake when a metagraph is loaded (admission order)
};

struct AuthContext {
  std::string_view synapse_name;
  const SynapseHeaders& headers;
  const http::HttpRequest& http;
};

// Blacklist (403) then signature/nonce verification (401), from the headers alone; runs before
// any byte of the body is parsed.
using Authenticator = std::function<AuthResult(const AuthContext&)>;
// Body integrity (400): the body's hash against the computed_body_hash header.
using BodyVerifier = std::function<AuthResult(const SynapseHeaders&, const Synapse&)>;
// Signs the axon's message with the miner's hotkey: "0x" + 128 hex chars.
using Signer = std::function<std::string(std::string_view message)>;

struct AxonOptions {
  std::vector<std::string> synapses = {"Prompting", "StreamPromptingSynapse"};
  std::vector<std::string> streaming_synapses = {"StreamPromptingSynapse"};
  std::string hotkey;                 // the miner's SS58 address
  std::string uuid;                   // "" -> a random uuid4 at construction
  std::string version = "10002000";   // the protocol version the axon reports
  Signer sign;                        // empty: no bt_header_axon_signature
  Authenticator authenticate;         // empty: every caller is accepted (tests, local use)
  BodyVerifier verify_body;           // empty: body hash not checked
  int default_max_tokens = 512;
  double default_timeout_s = 12.0;    // when neither header nor body gives one
  // Finish this long before the caller's timeout: a late answer scores nothing.
  double deadline_margin_s = 0.5;
};

class AxonHandler {
 public:
  AxonHandler(AxonOptions opts, CompletionService& service, metrics::ServerMetrics* metrics);

  // POST /<name> for each synapse; unknown paths get the reference's 404.
  void register_routes(http::Router& router);

  void handle(const std::string& name, http::HttpRequest& req, http::ResponseWriter& w);
  void not_found(http::HttpRequest& req, http::ResponseWriter& w);

  const AxonOptions& options() const { return opts_; }

 private:
  bool is_streaming(std::string_view name) const;
  void reply_error(http::ResponseWriter& w, const SynapseHeaders& h, std::string_view name,
                   const http::HttpRequest& req, const AxonSelf& self, int status,
                   std::string_view message, double seconds);
  AxonSelf make_self(const SynapseHeaders& h);
  std::string available_synapses() const;

  AxonOptions opts_;
  CompletionService& service_;
  metrics::ServerMetrics* metrics_;
};

}  // namespace ember::net::axon
