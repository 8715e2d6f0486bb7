#pragma once
// Remembers the Epistula requests already served, so that a captured request cannot be played
// again while its timestamp is still fresh. A request is keyed twice: by its signature bytes
// (a verbatim copy) and by (signer, uuid) (a re-signed copy: the same uuid with a new body or
// timestamp); either one seen again before it expires is a replay.
//
// Memory is bounded: at most `max_entries` keys (two per request) are held, each a 16-byte
// keyed BLAKE2b digest. Entries leave once their request could no longer pass the staleness
// check, so the table only holds the last few seconds of traffic. When it is full of live
// entries a new request is refused (ServiceFull) rather than an old entry forgotten: forgetting
// would reopen that request to replay.
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/crypto/bytes.h"

namespace ember::net::auth {

struct ReplayGuardOptions {
  // 2 keys per request: the default holds 64k requests, 8 s of 8k requests/s (about 6 MiB).
  size_t max_entries = size_t{1} << 17;
};

enum class ReplayVerdict { Fresh, UuidReplayed, SignatureReplayed, Full };

class ReplayGuard {
 public:
  explicit ReplayGuard(ReplayGuardOptions opts = {});

  // Records the request's keys until `expires_ms` (inclusive) when neither was seen before,
  // atomically: two racing copies of one request cannot both be Fresh. O(1) amortized.
  ReplayVerdict admit(std::string_view signer, std::string_view uuid, crypto::ByteView signature,
                      int64_t expires_ms, int64_t now_ms);

  size_t size() const;
  const ReplayGuardOptions& options() const { return opts_; }

 private:
  using Key = std::array<uint8_t, 16>;
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  Key digest(uint8_t domain, std::string_view a, std::string_view b) const;
  void sweep_locked(int64_t now_ms);

  ReplayGuardOptions opts_;
  // Keyed so that nobody can choose keys that collide in the hash table's buckets.
  std::array<uint8_t, 32> hash_key_{};
  mutable std::mutex mu_;
  std::unordered_map<Key, int64_t, KeyHash> expiry_;  // key -> expires_ms
  // Keys by the second in which they expire: the sweep drops whole seconds at a time.
  std::map<int64_t, std::vector<Key>> by_second_;
};

}  // namespace ember::net::auth
