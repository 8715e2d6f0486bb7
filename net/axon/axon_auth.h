#pragma once
// Wires net/auth (access policy, nonces, sr25519, body hash) into the axon's hooks: an
// Authenticator that runs auth::verify_request on the raw headers and body, and a Signer that
// signs the axon's response message with the miner's hotkey.
#include <memory>
#include <string>

#include "net/auth/request_auth.h"
#include "net/axon/axon_handler.h"
#include "net/crypto/sr25519.h"

namespace ember::net::axon {

// Owns the nonce table the verification shares across requests. `policy` (may be null) must
// outlive the authenticator.
class AxonAuth {
 public:
  AxonAuth(std::string my_hotkey, const auth::AccessPolicy* policy, bool check_body_hash = true);
  // The hook for AxonOptions::authenticate. Body integrity is checked here too, so
  // AxonOptions::verify_body stays empty.
  Authenticator authenticator();
  size_t nonces_stored() const { return nonces_->size(); }

 private:
  std::string my_hotkey_;
  auth::AuthOptions opts_;
  std::shared_ptr<auth::NonceStore> nonces_;
};

// The hook for AxonOptions::sign.
Signer make_signer(const crypto::Keypair& hotkey);

}  // namespace ember::net::axon
