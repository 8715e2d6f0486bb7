#pragma once
// Replay protection for axon requests: the last accepted nonce per "{hotkey}:{uuid}" endpoint
// key, with the reference axon's freshness rules (docs/axon-protocol.md §3.3). Thread-safe.
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace ember::net::auth {

struct NonceStoreOptions {
  // Requests signed for a timeout longer than this are treated as if they asked for this much
  // when computing the freshness window: the timeout header is not signed, so an unbounded one
  // would let a replay widen its own window past an expired table entry.
  double max_timeout_s = 300.0;
  // Reject nonces further than this in the future (0 = no limit, as the reference axon).
  double max_future_skew_s = 0.0;
  // The reference applies only the strictly-increasing rule to dendrites older than 7.2.0,
  // whose nonces were not wall-clock times. Off by default: every request must be fresh.
  bool legacy_nonces = false;
  size_t max_entries = 1 << 20;
};

enum class NonceVerdict { Fresh, TooOld, NotNewer, FromFuture };

struct NonceCheck {
  NonceVerdict verdict = NonceVerdict::Fresh;
  double allowed_delta_s = 0;  // for TooOld/FromFuture messages
  double age_s = 0;            // now - nonce, in seconds (negative when in the future)
};

class NonceStore {
 public:
  explicit NonceStore(NonceStoreOptions opts = {}) : opts_(opts) {}

  // The reference rules without storing anything. `version` < 0 means the header was absent.
  NonceCheck check(const std::string& endpoint_key, int64_t nonce, int64_t version, double timeout_s,
                   int64_t now_ns) const;
  // Stores the nonce after the signature verified. Returns false if a concurrent request
  // stored an equal or newer nonce meanwhile (the request is then a replay).
  bool commit(const std::string& endpoint_key, int64_t nonce, int64_t now_ns);

  size_t size() const;
  const NonceStoreOptions& options() const { return opts_; }

  static constexpr int64_t kAllowedDeltaNs = 4'000'000'000;  // the reference ALLOWED_DELTA
  static constexpr int64_t kVersion720 = 7002000;

 private:
  void expire_locked(int64_t now_ns);

  NonceStoreOptions opts_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, int64_t> last_;
  int64_t last_sweep_ns_ = 0;
};

}  // namespace ember::net::auth
