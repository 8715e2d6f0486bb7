#pragma once
// A native dendrite: the validator's side of the axon protocol (docs/axon-protocol.md §2), built
// as the bittensor SDK builds it, sent over keep-alive HTTP/1.1 connections. `ember query` uses
// it for one-off questions and as the load generator for `ember serve`.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "net/crypto/sr25519.h"

namespace ember::cli {

struct SynapseCall {
  std::string synapse = "Prompting";  // or "StreamPromptingSynapse"
  std::vector<std::string> roles;
  std::vector<std::string> messages;
  double timeout_s = 12.0;
};

// Where the request goes and what the dendrite believes about it.
struct AxonTarget {
  std::string host;
  uint16_t port = 0;
  std::string hotkey;  // the miner's SS58 address (signed into every request)
};

struct SignedRequest {
  std::string body;  // the synapse as JSON (pydantic model_dump order)
  std::vector<std::pair<std::string, std::string>> headers;
};

// The body and headers of one request: name, timeout, sizes, computed_body_hash,
// bt_header_dendrite_*, bt_header_axon_*, bt_header_input_obj_*.
SignedRequest build_synapse_request(const net::crypto::Keypair& dendrite, const AxonTarget& axon,
                                    const SynapseCall& call, int64_t nonce, const std::string& uuid,
                                    const std::string& dendrite_ip);

std::string random_uuid4();

// What came back, as the SDK would put it into the synapse.
struct SynapseResult {
  int status = 0;             // HTTP status; 0 when no answer (connection error, timeout)
  std::string message;        // the axon's status message or our error
  std::string completion;
  double seconds = 0;
};

struct LoadOptions {
  AxonTarget target;
  SynapseCall call;
  int concurrency = 1;  // connections, one request in flight on each
  int requests = 1;
  // Called on the client thread after every completed request (count so far, its result).
  std::function<void(int, const SynapseResult&)> on_result;
};

struct LoadReport {
  int completed = 0;
  int errors = 0;
  std::map<int, int> status_counts;          // HTTP status (0: no answer) -> count
  std::map<std::string, int> error_samples;  // "STATUS message" -> count
  std::vector<double> latencies_s;           // successful requests
  double wall_s = 0;
  int connections_opened = 0;
  SynapseResult first;                       // the first request's result
};

// Runs `requests` signed calls over `concurrency` keep-alive connections (each with its own
// dendrite uuid, so the axon's per-endpoint nonce order holds). Never throws for server errors;
// they are counted in the report.
LoadReport run_dendrite(const net::crypto::Keypair& dendrite, const LoadOptions& opts);

double percentile(std::vector<double> sorted_values, double p);

}  // namespace ember::cli
