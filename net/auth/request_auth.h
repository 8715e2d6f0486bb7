#pragma once
// The axon's request checks, in the reference axon's order and with its status codes and
// messages (docs/axon-protocol.md §3): header parse (400), access policy (403), nonce and
// sr25519 signature (401), body hash (400). HTTP parsing stays outside: this sees a header map
// and the body bytes.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/auth/access_policy.h"
#include "net/auth/body_hash.h"
#include "net/auth/header_map.h"
#include "net/auth/nonce_store.h"

namespace ember::net::auth {

struct AuthResult {
  bool ok = false;
  int http_status = 200;
  std::string message;  // the JSON "message" for errors, "Success" on ok
  // Filled once the headers parsed, also on failure (for logs and error responses).
  std::string dendrite_hotkey;
  std::string dendrite_uuid;
  int64_t nonce = 0;
  double timeout_s = 12.0;
  double priority = 0;  // the caller's stake when a metagraph is loaded
};

struct AuthOptions {
  const AccessPolicy* policy = nullptr;  // none: everyone passes the blacklist step
  std::vector<std::string> hash_fields = kPromptingHashFields;
  bool check_body_hash = true;
};

// `my_hotkey` is the miner's own SS58 address: the signed message uses it, never the header's
// claim. `now_ns` is nanoseconds since the Unix epoch. On success the nonce is stored.
AuthResult verify_request(const HeaderMap& headers, std::string_view body, std::string_view my_hotkey,
                          NonceStore& nonces, int64_t now_ns, const AuthOptions& options = {});

int64_t unix_time_ns();

}  // namespace ember::net::auth
