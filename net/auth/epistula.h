#pragma once
// Epistula (version 2): the request signing today's validators put on their OpenAI-style calls
// (docs: ../shared/docs/validators-today.md §2). verify_epistula runs the reference miner's
// checks in its order, with its statuses and messages, and ember's stricter ones beside them:
//
//   headers present and well formed ......... 400 naming the header        (ember)
//   Epistula-Signed-For is this miner ........ 400 "Bad Request, message is not intended for self"
//   signer admitted by the access policy ..... 401 "Signer not in metagraph" / "Stake below
//                                              minimum: ..." / "Signer has no validator permit";
//                                              403 for a blocked signer      (ember)
//   timestamp at most max_age_ms old ......... 400 "Request is too stale"
//   timestamp at most max_future_ms ahead .... 400 "Request is from the future: ..." (ember)
//   sr25519 signature over the message ....... 400 "Signature Mismatch"
//   uuid and signature not seen before ....... 409 "Request replayed: ..."       (ember)
//                                              503 when the replay table is full (ember)
//
// "In the metagraph" means what the shared AccessPolicy admits: with a metagraph snapshot, a
// registered hotkey (or one on the allow list); without one, anyone the allow/block lists let
// through (everyone when there are none). HTTP parsing stays outside: this sees a header map,
// the exact body bytes and the clock.
#include <cstdint>
#include <string>
#include <string_view>

#include "net/auth/access_policy.h"
#include "net/auth/header_map.h"
#include "net/auth/replay_guard.h"
#include "net/crypto/sr25519.h"

namespace ember::net::auth {

struct EpistulaOptions {
  int64_t max_age_ms = 8000;     // the reference's ALLOWED_DELTA_MS
  // The reference accepts any future timestamp, so a request signed ahead of time stays usable
  // for as long as its signer chose. Two seconds covers NTP-synced clocks with room to spare.
  int64_t max_future_ms = 2000;
};

// What refused a request, as the metrics label it.
enum class EpistulaCheck {
  Ok, MissingHeader, BadHeader, NotForSelf, NotInMetagraph, NoPermit, LowStake, Blocked,
  Stale, Future, BadSignature, Replayed, ReplayGuardFull,
};
std::string_view label(EpistulaCheck c);  // "stale", "bad_signature", ...

struct EpistulaResult {
  bool ok = false;
  int http_status = 200;
  std::string message;  // the reference's `detail` on refusal; "Success" on ok
  EpistulaCheck check = EpistulaCheck::Ok;
  std::string signer;   // Epistula-Signed-By as sent (also on refusal, for logs)
  double priority = 0;  // the signer's stake when a metagraph is loaded
};

// True when the request carries any Epistula-* header (it then means to be verified as one).
bool has_epistula_headers(const HeaderMap& headers);

// `my_ss58` is this miner's own hotkey; `policy` may be null (everyone is admitted); `replay`
// may be null only in tests of the other checks. `now_ms` is milliseconds since the Unix
// epoch. The request's keys are recorded in `replay` only after its signature verified, so a
// forger cannot burn a validator's uuids.
EpistulaResult verify_epistula(const HeaderMap& headers, std::string_view body, std::string_view my_ss58,
                               const AccessPolicy* policy, ReplayGuard* replay, int64_t now_ms,
                               const EpistulaOptions& options = {});

// "{sha256_hex(body)}.{uuid}.{timestamp}.{signed_for}", the text the signature covers.
std::string epistula_message(std::string_view body, std::string_view uuid, int64_t timestamp_ms,
                             std::string_view signed_for);

// The headers a validator sends (Epistula-Version .. Epistula-Request-Signature), for tests and
// client tools; the secret signatures the reference never checks are left out.
HeaderMap sign_epistula_headers(const crypto::Keypair& signer, std::string_view body, std::string_view signed_for,
                                int64_t timestamp_ms, std::string_view uuid);

int64_t unix_time_ms();

}  // namespace ember::net::auth
