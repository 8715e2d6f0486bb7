#pragma once
// The synapse as its HTTP headers carry it (bt_header_dendrite_*, bt_header_axon_*, name,
// timeout, sizes, computed_body_hash), and the headers the axon answers with (docs: axon
// protocol §2 and §4).
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "net/http/request.h"

namespace ember::net::axon {

// TerminalInfo fields by name ("ip", "port", "version", "nonce", "uuid", "hotkey", "signature",
// "status_code", "status_message", "process_time"); only those present.
using Terminal = std::map<std::string, std::string, std::less<>>;

struct SynapseHeaders {
  std::string name;
  std::optional<std::string> timeout;       // as sent ("12.0")
  std::optional<std::string> header_size, total_size, computed_body_hash;
  Terminal dendrite, axon;
  http::HeaderList input_obj;               // bt_header_input_obj_* as sent (names lowercased)

  std::optional<double> timeout_seconds() const;
  const std::string* dendrite_field(std::string_view k) const {
    auto it = dendrite.find(k);
    return it == dendrite.end() ? nullptr : &it->second;
  }
};

// Reads the headers of a request; throws std::invalid_argument when a typed field does not parse
// (timeout not a number, nonce/version/port not integers), as the reference's from_headers does.
SynapseHeaders parse_synapse_headers(const http::HeaderList& headers);

// What the axon adds about itself in every answer.
struct AxonSelf {
  std::string hotkey;        // the miner's SS58 address
  std::string uuid;          // this server's uuid
  std::string version;       // the protocol version it claims (an integer as text)
  std::string nonce;         // time_ns when the request was taken
  std::string signature;     // "0x..." over "{nonce}.{dendrite.hotkey}.{hotkey}.{uuid}", or ""
};

// The response headers: the request's synapse headers again, the caller's ip/port as the
// dendrite's, and the axon's status and identity.
http::HeaderList response_headers(const SynapseHeaders& req, std::string_view synapse_name,
                                  const std::string& peer_ip, uint16_t peer_port,
                                  const AxonSelf& self, int status_code,
                                  std::string_view status_message, double process_time);

// The message the axon signs: "{axon.nonce}.{dendrite.hotkey}.{axon.hotkey}.{axon.uuid}".
std::string axon_signing_message(const SynapseHeaders& req, const AxonSelf& self);

}  // namespace ember::net::axon
