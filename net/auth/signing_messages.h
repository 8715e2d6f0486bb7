#pragma once
// The exact byte strings a dendrite and an axon sign (docs/axon-protocol.md §3, §4), and the
// helpers that produce the signature headers. Signatures are "0x" + 128 lowercase hex digits.
#include <cstdint>
#include <string>
#include <string_view>

#include "net/auth/header_map.h"
#include "net/crypto/sr25519.h"

namespace ember::net::auth {

// "{nonce}.{dendrite_hotkey}.{axon_hotkey}.{uuid}.{body_hash}"
std::string request_message(int64_t nonce, std::string_view dendrite_hotkey, std::string_view axon_hotkey,
                            std::string_view uuid, std::string_view body_hash);
// "{axon_nonce}.{dendrite_hotkey}.{axon_hotkey}.{axon_uuid}"
std::string response_message(int64_t axon_nonce, std::string_view dendrite_hotkey, std::string_view axon_hotkey,
                             std::string_view axon_uuid);

std::string sign_hex(const crypto::Keypair& kp, std::string_view message);

// What a dendrite puts in the headers for a request: name, timeout, computed_body_hash and the
// bt_header_dendrite_{nonce,uuid,hotkey,signature,version} and bt_header_axon_hotkey entries.
// Used by tests and by client tools; the server only verifies.
struct DendriteRequest {
  std::string synapse_name = "Prompting";
  double timeout_s = 12.0;
  int64_t nonce = 0;
  std::string uuid;
  int64_t version = 10002000;
  std::string axon_hotkey;
  std::string body_hash;
};
HeaderMap sign_request_headers(const crypto::Keypair& dendrite, const DendriteRequest& req);

// The axon's own fields for a response (status headers are the server's business):
// bt_header_axon_{nonce,uuid,hotkey,signature}.
HeaderMap sign_response_headers(const crypto::Keypair& axon, std::string_view dendrite_hotkey, int64_t axon_nonce,
                                std::string_view axon_uuid);

}  // namespace ember::net::auth
