#include "net/auth/epistula.h"

#include <charconv>
#include <chrono>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "net/auth/body_hash.h"
#include "net/auth/signing_messages.h"
#include "net/crypto/ss58.h"

namespace ember::net::auth {
namespace {

constexpr std::string_view kVersion = "Epistula-Version";
constexpr std::string_view kTimestamp = "Epistula-Timestamp";
constexpr std::string_view kUuid = "Epistula-Uuid";
constexpr std::string_view kSignedBy = "Epistula-Signed-By";
constexpr std::string_view kSignedFor = "Epistula-Signed-For";
constexpr std::string_view kSignature = "Epistula-Request-Signature";
// A UUID4 is 36 characters; the bound keeps the replay key and the logs small.
constexpr size_t kMaxUuidBytes = 128;

const std::string* find(const HeaderMap& h, std::string_view name) {
  auto it = h.find(name);
  return it == h.end() ? nullptr : &it->second;
}

EpistulaResult refuse(EpistulaResult r, int status, EpistulaCheck check, std::string message) {
  r.ok = false;
  r.http_status = status;
  r.check = check;
  r.message = std::move(message);
  return r;
}

// Decimal digits only: the reference's int() would also take "+5", " 5" or "1_000", but the
// signed text holds the number as the validator printed it, which is plain digits.
bool parse_timestamp(std::string_view s, int64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

bool visible_ascii(std::string_view s) {
  for (char c : s)
    if (c <= ' ' || c > '~') return false;
  return true;
}

}  // namespace

std::string_view label(EpistulaCheck c) {
  switch (c) {
    case EpistulaCheck::Ok: return "ok";
    case EpistulaCheck::MissingHeader: return "missing_header";
    case EpistulaCheck::BadHeader: return "bad_header";
    case EpistulaCheck::NotForSelf: return "not_for_self";
    case EpistulaCheck::NotInMetagraph: return "not_in_metagraph";
    case EpistulaCheck::NoPermit: return "no_permit";
    case EpistulaCheck::LowStake: return "low_stake";
    case EpistulaCheck::Blocked: return "blocked";
    case EpistulaCheck::Stale: return "stale";
    case EpistulaCheck::Future: return "future";
    case EpistulaCheck::BadSignature: return "bad_signature";
    case EpistulaCheck::Replayed: return "replayed";
    case EpistulaCheck::ReplayGuardFull: return "replay_guard_full";
  }
  return "unknown";
}

bool has_epistula_headers(const HeaderMap& headers) {
  // In the case-insensitive order the first name not below the prefix starts with it whenever
  // any name does.
  constexpr std::string_view prefix = "epistula-";
  auto it = headers.lower_bound(prefix);
  if (it == headers.end() || it->first.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (CaseInsensitiveLess::lower(it->first[i]) != prefix[i]) return false;
  return true;
}

int64_t unix_time_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string epistula_message(std::string_view body, std::string_view uuid, int64_t timestamp_ms,
                             std::string_view signed_for) {
  return fmt::format("{}.{}.{}.{}", sha256_hex(body), uuid, timestamp_ms, signed_for);
}

HeaderMap sign_epistula_headers(const crypto::Keypair& signer, std::string_view body, std::string_view signed_for,
                                int64_t timestamp_ms, std::string_view uuid) {
  HeaderMap h;
  h.emplace(kVersion, "2");
  h.emplace(kTimestamp, std::to_string(timestamp_ms));
  h.emplace(kUuid, uuid);
  h.emplace(kSignedBy, crypto::ss58_encode(signer.public_key));
  h.emplace(kSignedFor, signed_for);
  h.emplace(kSignature, sign_hex(signer, epistula_message(body, uuid, timestamp_ms, signed_for)));
  return h;
}

EpistulaResult verify_epistula(const HeaderMap& headers, std::string_view body, std::string_view my_ss58,
                               const AccessPolicy* policy, ReplayGuard* replay, int64_t now_ms,
                               const EpistulaOptions& options) {
  EpistulaResult r;
  const std::string* signed_by = find(headers, kSignedBy);
  const std::string* signed_for = find(headers, kSignedFor);
  if (signed_by) r.signer = *signed_by;

  // 1. Addressed to this miner (the reference's first check; a missing header fails it too).
  if (!signed_for || *signed_for != my_ss58)
    return refuse(r, 400, EpistulaCheck::NotForSelf, "Bad Request, message is not intended for self");

  // 2-3. The signer, as the shared access policy sees it.
  if (!signed_by || signed_by->empty())
    return refuse(r, 400, EpistulaCheck::MissingHeader, fmt::format("Missing {} header", kSignedBy));
  crypto::PublicKey signer;
  try {
    signer = crypto::ss58_decode_any(*signed_by).public_key;
  } catch (const Error& e) {
    return refuse(r, 400, EpistulaCheck::BadHeader, fmt::format("Invalid {} header: {}", kSignedBy, e.what()));
  }
  if (policy) {
    const AccessDecision d = policy->check(signer);
    r.priority = d.priority;
    switch (d.refusal) {
      case Refusal::None: break;
      case Refusal::Unregistered:
        return refuse(r, 401, EpistulaCheck::NotInMetagraph, "Signer not in metagraph");
      case Refusal::LowStake:
        return refuse(r, 401, EpistulaCheck::LowStake,
                      fmt::format("Stake below minimum: {} < {}", d.priority, policy->min_stake()));
      case Refusal::NoPermit:
        return refuse(r, 401, EpistulaCheck::NoPermit, "Signer has no validator permit");
      case Refusal::Blocked:
        return refuse(r, 403, EpistulaCheck::Blocked, "Forbidden, signer is blocked");
    }
    if (!d.allowed) return refuse(r, 401, EpistulaCheck::NotInMetagraph, "Signer not in metagraph");
  }

  // The remaining headers, each checked for presence and form before any cryptography.
  for (std::string_view name : {kTimestamp, kUuid, kSignature}) {
    const std::string* v = find(headers, name);
    if (!v || v->empty())
      return refuse(r, 400, EpistulaCheck::MissingHeader, fmt::format("Missing {} header", name));
  }
  if (const std::string* v = find(headers, kVersion); v && *v != "2")
    return refuse(r, 400, EpistulaCheck::BadHeader,
                  fmt::format("Unsupported {} \"{}\": this miner speaks version 2", kVersion, *v));
  int64_t timestamp = 0;
  if (!parse_timestamp(*find(headers, kTimestamp), timestamp))
    return refuse(r, 400, EpistulaCheck::BadHeader,
                  fmt::format("Invalid {} header: expected milliseconds since the Unix epoch", kTimestamp));
  const std::string& uuid = *find(headers, kUuid);
  if (uuid.size() > kMaxUuidBytes || !visible_ascii(uuid))
    return refuse(r, 400, EpistulaCheck::BadHeader,
                  fmt::format("Invalid {} header: expected at most {} visible ASCII characters", kUuid,
                              kMaxUuidBytes));
  crypto::Signature sig;
  const std::string& sig_hex = *find(headers, kSignature);
  try {
    if (sig_hex.size() < 2 || sig_hex[0] != '0' || (sig_hex[1] != 'x' && sig_hex[1] != 'X'))
      fail("expected 0x and 128 hex digits");
    sig = crypto::from_hex_fixed<64>(sig_hex, kSignature);
  } catch (const Error& e) {
    return refuse(r, 400, EpistulaCheck::BadHeader, fmt::format("Invalid {} header: {}", kSignature, e.what()));
  }

  // 4. Freshness: the reference's staleness bound, then ember's bound on the future.
  if (timestamp + options.max_age_ms < now_ms) return refuse(r, 400, EpistulaCheck::Stale, "Request is too stale");
  if (timestamp - now_ms > options.max_future_ms)
    return refuse(r, 400, EpistulaCheck::Future,
                  fmt::format("Request is from the future: its timestamp is {} ms ahead of this miner's clock "
                              "(allowed skew {} ms)",
                              timestamp - now_ms, options.max_future_ms));

  // 5. The signature over the exact body's digest (bittensor's Keypair.verify rules).
  const std::string message = epistula_message(body, uuid, timestamp, *signed_for);
  if (crypto::verify_substrate(signer, crypto::as_bytes(message), sig) != crypto::VerifyStatus::Ok)
    return refuse(r, 400, EpistulaCheck::BadSignature, "Signature Mismatch");

  // 6. Not seen before while it could still pass step 4.
  if (replay) {
    switch (replay->admit(*signed_by, uuid, sig, timestamp + options.max_age_ms, now_ms)) {
      case ReplayVerdict::Fresh: break;
      case ReplayVerdict::SignatureReplayed:
        return refuse(r, 409, EpistulaCheck::Replayed, "Request replayed: this signature was already used");
      case ReplayVerdict::UuidReplayed:
        return refuse(r, 409, EpistulaCheck::Replayed, "Request replayed: this Epistula-Uuid was already used");
      case ReplayVerdict::Full:
        return refuse(r, 503, EpistulaCheck::ReplayGuardFull,
                      "Too many recent requests to guard against replay; retry in a few seconds");
    }
  }
  r.ok = true;
  r.http_status = 200;
  r.check = EpistulaCheck::Ok;
  r.message = "Success";
  return r;
}

}  // namespace ember::net::auth
